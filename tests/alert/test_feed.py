"""The Atom feed at a secret, revocable URL: valid Atom (RFC 4287's required elements in
well-formed XML), the latest 50, readable without a session, and nothing of other rooms."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from alert.feeds import feed_key_get_or_create, feed_key_rotate, feed_path
from alert.models import Alert
from tests.alert.conftest import logged_in
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ATOM = "{http://www.w3.org/2005/Atom}"


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def validate_atom(body: bytes) -> ET.Element:
    """The checks a feed validator makes that matter here; returns the parsed <feed>."""
    feed = ET.fromstring(body)  # raises on anything that is not well-formed XML
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, f"feed needs exactly one <{name}>"
    rfc3339(feed.findtext(f"{ATOM}updated"))
    assert feed.find(f"{ATOM}link[@rel='alternate']") is not None
    entries = feed.findall(f"{ATOM}entry")
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(set(ids)) == len(ids), "entry ids must be unique"
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, f"entry needs one <{name}>"
        rfc3339(entry.findtext(f"{ATOM}updated"))
        has_author = entry.find(f"{ATOM}author/{ATOM}name") is not None
        assert has_author or feed.find(f"{ATOM}author/{ATOM}name") is not None
        assert entry.find(f"{ATOM}link") is not None or entry.find(f"{ATOM}content") is not None
    return feed


async def feed_url_of(user) -> str:
    return feed_path(await sync_to_async(feed_key_get_or_create)(user=user))


async def test_feed_is_valid_atom_with_the_latest_50_newest_first_without_a_session():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    levels = ["info", "warning", "critical"]
    await Alert.objects.abulk_create(
        [Alert(room=room, user=alice, content=f"a{i}", level=levels[i % 3]) for i in range(60)]
    )
    response = await AsyncClient().get(await feed_url_of(alice))  # no session at all
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = validate_atom(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 50
    assert [e.findtext(f"{ATOM}summary") for e in entries] == [f"a{i}" for i in range(59, 9, -1)]
    first = entries[0]
    assert first.findtext(f"{ATOM}title") == "[critical] ops: a59"  # 59 % 3 == 2
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "alice"
    assert first.find(f"{ATOM}category").get("term") == "critical"
    newest = await Alert.objects.alatest("id")
    link = first.find(f"{ATOM}link").get("href")
    assert link == f"http://testserver/alerts/?before={newest.pk + 1}#alert-{newest.pk}"


async def test_an_empty_feed_is_still_valid_atom():
    alice = await make_user("alice")
    response = await AsyncClient().get(await feed_url_of(alice))
    assert validate_atom(response.content).findall(f"{ATOM}entry") == []


async def test_feed_leaks_nothing_of_rooms_the_user_is_not_in():
    alice, bob = await make_user("alice"), await make_user("bob")
    shared = await make_room("shared", [alice, bob])
    secret = await make_room("bobs-hideout", [bob])
    left = await make_room("alice-left-this", [alice, bob])
    await Alert.objects.acreate(room=shared, user=bob, content="visible to alice")
    await Alert.objects.acreate(room=secret, user=bob, content="SECRET-PAYLOAD")
    await Alert.objects.acreate(room=left, user=bob, content="OLD-ROOM-PAYLOAD")
    await sync_to_async(left.users.remove)(alice)
    body = (await AsyncClient().get(await feed_url_of(alice))).content
    feed = validate_atom(body)
    assert [e.findtext(f"{ATOM}summary") for e in feed.findall(f"{ATOM}entry")] == [
        "visible to alice"
    ]
    for leak in (b"SECRET-PAYLOAD", b"bobs-hideout", b"OLD-ROOM-PAYLOAD", b"alice-left-this"):
        assert leak not in body
    assert f"#alert-{(await Alert.objects.aget(room=secret)).pk}".encode() not in body


async def test_hostile_content_is_escaped_and_the_feed_stays_well_formed():
    alice = await make_user("alice")
    room = await make_room("<b>ops</b>", [alice])
    hostile = "</summary><script>x()</script>&amp; ]]> \u202e"
    await Alert.objects.acreate(room=room, user=alice, content=hostile, level="critical")
    body = (await AsyncClient().get(await feed_url_of(alice))).content
    entry = validate_atom(body).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}summary") == hostile
    assert b"<script>" not in body


async def test_rotating_revokes_the_old_url_at_once():
    alice = await make_user("alice")
    old_url = await feed_url_of(alice)
    await sync_to_async(feed_key_rotate)(user=alice)
    new_url = await feed_url_of(alice)
    client = AsyncClient()
    assert new_url != old_url
    assert (await client.get(old_url)).status_code == 404
    assert (await client.get(new_url)).status_code == 200


async def test_forged_and_malformed_feed_urls_get_404():
    alice, bob = await make_user("alice"), await make_user("bob")
    alice_url, bob_url = await feed_url_of(alice), await feed_url_of(bob)
    alice_token = alice_url.rstrip("/").rsplit("/", 1)[1]
    bob_signature = bob_url.rstrip("/").rsplit("-", 1)[1]
    client = AsyncClient()
    for token in (
        f"{alice.pk}-{bob_signature}",  # someone else's signature
        f"{alice.pk}-{'0' * 64}",
        f"{alice.pk}-{alice_token.split('-')[1][:-1]}",
        alice_token.split("-")[1],
        "99999999-" + "a" * 64,
        "-1-" + "a" * 64,
        "1" * 40 + "-" + "a" * 64,
        "x" * 5000,
        "%00",
    ):
        assert (await client.get(f"/alerts/feed/{token}/")).status_code == 404, token


async def test_an_inactive_users_feed_is_gone():
    alice = await make_user("alice")
    url = await feed_url_of(alice)
    alice.is_active = False
    await alice.asave()
    assert (await AsyncClient().get(url)).status_code == 404


async def test_the_alerts_page_advertises_the_feed_in_its_head():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    await Alert.objects.acreate(room=room, user=alice, content="advertised")
    page = (await (await logged_in(alice)).get("/alerts/")).content.decode()
    head = page.split("</head>")[0]
    link = re.search(
        r'<link rel="alternate" type="application/atom\+xml"[^>]* href="([^"]+)"', head
    )
    assert link, head
    url = link.group(1)
    assert url.startswith("http://testserver/alerts/feed/")
    feed = validate_atom((await AsyncClient().get(url.removeprefix("http://testserver"))).content)
    assert feed.find(f"{ATOM}entry/{ATOM}summary").text == "advertised"
