"""Hostile text in every user-supplied field renders as text: the room list, the room page
(server-rendered parts; tests/e2e/test_hostile_browser.py covers what the script renders) and
the admin. The fields are written straight to the database, past every validator, because
that is what a future bug or an import would do; the pages must hold regardless."""

import json
from xml.etree import ElementTree

import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from alert.feeds import feed_key_get_or_create, feed_path
from alert.models import Alert
from chat.models import Message
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ROOM_NAME = '<img src=x onerror="window.xss=1">'
USERNAME = "</script><script>window.xss=1</script>"
BODY = '<script>window.xss=1</script><b onmouseover="window.xss=1">hi</b>'
ALERT = '<img src=x onerror="window.xss=2"><a href="javascript:window.xss=2">x</a>'
LEVEL = '"><b>x'  # in a class attribute; 8 characters fit the column
PAYLOADS = (ROOM_NAME, USERNAME, BODY, ALERT, LEVEL)


def assert_only_escaped(html: str, *payloads: str) -> None:
    for payload in payloads:
        assert payload not in html, f"raw {payload!r} in the page"
    assert "<script>window.xss" not in html


@pytest.fixture
async def hostile_world():
    mallory = await make_user(USERNAME)
    alice = await make_user("alice")
    room = await make_room(ROOM_NAME, [mallory, alice], is_public=True)
    other = await make_room(ROOM_NAME + " 2", [], is_public=True)
    await Message.objects.acreate(room=room, author=mallory, body=BODY)
    await Alert.objects.acreate(room=room, user=mallory, content=ALERT, level=LEVEL)
    return mallory, alice, room, other


async def test_room_list_shows_hostile_room_names_and_username_as_text(hostile_world):
    mallory = hostile_world[0]
    client = AsyncClient()
    await client.aforce_login(mallory)
    page = (await client.get("/")).content.decode()
    assert_only_escaped(page, *PAYLOADS)
    assert "&lt;img src=x onerror=&quot;window.xss=1&quot;&gt;" in page  # mine and joinable
    assert page.count("&lt;img src=x onerror=") == 2
    assert "&lt;/script&gt;&lt;script&gt;window.xss=1&lt;/script&gt;" in page  # who am I


async def test_room_page_escapes_the_name_and_the_embedded_config(hostile_world):
    mallory, _, room, _ = hostile_world
    client = AsyncClient()
    await client.aforce_login(mallory)
    page = (await client.get(f"/chat/room/{room.pk}/")).content.decode()
    assert_only_escaped(page, *PAYLOADS)
    start = page.index('<script id="room-config" type="application/json">')
    end = page.index("</script>", start)
    config = json.loads(page[start:end].split(">", 1)[1])
    assert (config["roomId"], config["username"]) == (room.pk, USERNAME)  # intact, as data


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/room/",
        "/admin/chat/room/{room}/change/",
        "/admin/chat/message/",
        "/admin/chat/message/{message}/change/",
        "/admin/auth/user/",
        "/admin/auth/user/{mallory}/change/",
        "/admin/alert/alert/",
        "/admin/alert/alert/{alert}/change/",
    ],
)
def test_admin_pages_show_hostile_fields_as_text(hostile_world, path):
    mallory, _, room, _ = hostile_world
    message = Message.objects.get(room=room)
    admin = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    client = Client()
    client.force_login(admin)
    alert = Alert.objects.get(room=room)
    url = path.format(room=room.pk, message=message.pk, mallory=mallory.pk, alert=alert.pk)
    response = client.get(url)
    assert response.status_code == 200, url
    assert_only_escaped(response.content.decode(), *PAYLOADS)


@pytest.mark.parametrize("path", ["/alerts/", "/chat/room/{room}/"])
async def test_alert_feed_and_room_alert_panel_show_hostile_alerts_as_text(hostile_world, path):
    mallory, _, room, _ = hostile_world
    client = AsyncClient()
    await client.aforce_login(mallory)
    page = (await client.get(path.format(room=room.pk))).content.decode()
    assert_only_escaped(page, *PAYLOADS)
    assert "&lt;img src=x onerror=&quot;window.xss=2&quot;&gt;" in page
    assert 'class="alert-item level-&quot;&gt;&lt;b&gt;x"' in page


def test_atom_feed_carries_hostile_alerts_as_escaped_text(hostile_world):
    mallory, _, _, _ = hostile_world
    response = Client().get(feed_path(feed_key_get_or_create(user=mallory)))
    assert response.status_code == 200
    assert_only_escaped(response.content.decode(), ALERT, ROOM_NAME, USERNAME)
    feed = ElementTree.fromstring(response.content)  # well-formed XML
    texts = "".join(feed.itertext())
    assert ALERT in texts  # the exact text, once the XML is read


def test_signing_up_with_markup_in_the_username_is_refused():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "<b>x</b>",
            "password1": "a-long-pass-2026!",
            "password2": "a-long-pass-2026!",
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert not get_user_model().objects.filter(username__contains="<").exists()


@pytest.mark.parametrize("body", ["nul \x00 byte", "lone \ud800 surrogate"])
async def test_unstorable_text_is_invalid_over_the_api(body):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = AsyncClient()
    await client.aforce_login(alice)
    raw = json.dumps({"body": body})  # ASCII escapes: valid JSON, valid UTF-8
    response = await client.post(
        f"/api/rooms/{room.pk}/messages/", raw, content_type="application/json"
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid")
    assert not await Message.objects.aexists()


async def test_deeply_nested_json_is_bad_json_over_the_api():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.post(
        f"/api/rooms/{room.pk}/messages/",
        "[" * 100000 + "]" * 100000,
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]) == (400, "bad_json")
