"""The alert pages, the token settings page, the admin and the management commands: what a
person or an operator sees, and how each refuses bad or unauthorised input."""

import re
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.test import AsyncClient, override_settings

from alert.models import Alert, FeedKey
from chat.models import ApiToken
from chat.tokens import hash_token
from tests.alert.conftest import bearer, csrf_token, logged_in, make_staff
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def alert_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="alert-item level-\w+" id="alert-(\d+)"', html)]


async def test_alerts_page_needs_a_login():
    response = await AsyncClient().get("/alerts/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


async def test_alerts_page_is_newest_first_paginated_and_only_the_users_rooms():
    alice, bob = await make_user("alice"), await make_user("bob")
    ops, secret = await make_room("ops", [alice]), await make_room("secret", [bob])
    made = await Alert.objects.abulk_create(
        [Alert(room=ops, user=alice, content=f"a{i}", level="warning") for i in range(70)]
    )
    await Alert.objects.acreate(room=secret, user=bob, content="SECRET")
    client = await logged_in(alice)
    first = (await client.get("/alerts/")).content.decode()
    ids = [a.pk for a in made]
    assert alert_ids(first) == ids[::-1][:50]
    assert "SECRET" not in first and 'class="alert-item level-warning"' in first
    older = re.search(r'id="older-alerts" href="\?before=(\d+)"', first)
    assert older and int(older.group(1)) == ids[20]
    second = (await client.get(f"/alerts/?before={older.group(1)}")).content.decode()
    assert alert_ids(second) == ids[::-1][50:]
    assert 'id="older-alerts"' not in second
    assert "alert/feed.js" in first and "alert/feed.js" not in second  # only the top is live


@pytest.mark.parametrize("before", ["x", "-5", "0", "1.5", "9" * 30])
async def test_alerts_page_refuses_a_bad_cursor_with_400(before):
    alice = await make_user("alice")
    response = await (await logged_in(alice)).get(f"/alerts/?before={before}")
    assert response.status_code == 400


async def test_alert_content_is_escaped_on_the_pages():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    await Alert.objects.acreate(room=room, user=alice, content="<img src=x onerror=boom()>")
    client = await logged_in(alice)
    for path in ("/alerts/", f"/chat/room/{room.pk}/"):
        html = (await client.get(path)).content.decode()
        assert "<img src=x" not in html and "&lt;img src=x onerror=boom()&gt;" in html, path


async def test_room_page_shows_its_alerts_and_the_form():
    alice = await make_user("alice")
    ops, other = await make_room("ops", [alice]), await make_room("other", [alice])
    await Alert.objects.acreate(room=ops, user=alice, content="in ops", level="critical")
    await Alert.objects.acreate(room=other, user=alice, content="in other")
    html = (await (await logged_in(alice)).get(f"/chat/room/{ops.pk}/")).content.decode()
    assert "in ops" in html and "in other" not in html
    assert 'class="alert-item level-critical"' in html
    assert f'action="/alerts/room/{ops.pk}/post/"' in html and "alert/room_alerts.js" in html


async def test_room_form_refuses_non_members_unknown_rooms_and_bad_input():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("ops", [alice])
    intruder = await logged_in(mallory)
    token = await csrf_token(intruder)
    data = {"content": "x", "csrfmiddlewaretoken": token}
    assert (await intruder.post(f"/alerts/room/{room.pk}/post/", data)).status_code == 403
    assert (await intruder.post("/alerts/room/999999/post/", data)).status_code == 404
    member = await logged_in(alice)
    token = await csrf_token(member, f"/chat/room/{room.pk}/")
    for bad, error in (
        ({"content": "", "level": "info"}, "must not be empty"),
        ({"content": "x" * 201}, "longer than 200"),
        ({"content": "x", "level": "fatal"}, "level must be one of"),
    ):
        response = await member.post(
            f"/alerts/room/{room.pk}/post/", {**bad, "csrfmiddlewaretoken": token}, follow=True
        )
        assert response.status_code == 200 and error in response.content.decode(), bad
    no_csrf = await member.post(f"/alerts/room/{room.pk}/post/", {"content": "x"})
    assert no_csrf.status_code == 403
    assert (await member.get(f"/alerts/room/{room.pk}/post/")).status_code == 405
    assert not await Alert.objects.aexists()


async def test_settings_page_creates_a_token_shown_once_and_stored_hashed():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    client = await logged_in(alice)
    token = await csrf_token(client, "/settings/")
    response = await client.post(
        "/settings/tokens/", {"name": "deploy bot", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = re.search(r'<code id="new-token">([^<]+)</code>', response.content.decode()).group(1)
    row = await ApiToken.objects.aget(user=alice)
    assert row.key_hash == hash_token(secret) and secret not in row.key_hash
    assert row.name == "deploy bot" and secret.startswith(row.prefix)
    again = (await client.get("/settings/")).content.decode()
    assert secret not in again and row.prefix in again  # never shown again
    api = AsyncClient().post(
        f"/api/rooms/{room.pk}/alerts/",
        {"content": "from the new token"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert (await api).status_code == 201
    refreshed = (await client.get("/settings/")).content.decode()
    assert "never" not in refreshed.split(f'data-token-id="{row.pk}"')[1].split("</tr>")[0]


async def test_settings_page_revokes_only_the_users_own_tokens():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("ops", [alice, bob])
    alice_auth, bob_auth = await bearer(alice), await bearer(bob)
    bob_row = await ApiToken.objects.aget(user=bob)
    alice_row = await ApiToken.objects.aget(user=alice)
    client = await logged_in(alice)
    token = await csrf_token(client, "/settings/")
    form = {"csrfmiddlewaretoken": token}
    response = await client.post(f"/settings/tokens/{bob_row.pk}/revoke/", form, follow=True)
    assert "No such active token" in response.content.decode()
    await client.post(f"/settings/tokens/{alice_row.pk}/revoke/", form)
    post = AsyncClient().post
    url = f"/api/rooms/{room.pk}/alerts/"
    body = {"content": "x"}
    kind = "application/json"
    assert (await post(url, body, content_type=kind, headers=alice_auth)).status_code == 401
    assert (await post(url, body, content_type=kind, headers=bob_auth)).status_code == 201


async def test_settings_page_refuses_overlong_names_and_missing_csrf():
    alice = await make_user("alice")
    client = await logged_in(alice)
    assert (await client.post("/settings/tokens/", {"name": "x"})).status_code == 403
    token = await csrf_token(client, "/settings/")
    response = await client.post(
        "/settings/tokens/", {"name": "n" * 61, "csrfmiddlewaretoken": token}, follow=True
    )
    assert "at most 60 characters" in response.content.decode()
    assert not await ApiToken.objects.aexists()


@override_settings(CHAT_API_TOKENS_MAX=2)
async def test_active_tokens_are_capped_and_a_revoked_one_frees_its_place():
    alice = await make_user("alice")
    client = await logged_in(alice)
    form = {"name": "bot", "csrfmiddlewaretoken": await csrf_token(client, "/settings/")}
    for _ in range(2):
        assert (await client.post("/settings/tokens/", form)).status_code == 201
    refused = await client.post("/settings/tokens/", form, follow=True)
    assert refused.status_code == 200 and 'id="new-token"' not in refused.content.decode()
    assert "2 active tokens, the most allowed: revoke one first" in refused.content.decode()
    with pytest.raises(CommandError, match="at most 2 active tokens; revoke one first"):
        await run_command("create_api_token", "alice")
    assert await ApiToken.objects.filter(user=alice).acount() == 2
    first = await ApiToken.objects.filter(user=alice).order_by("pk").afirst()
    await client.post(f"/settings/tokens/{first.pk}/revoke/", form)
    assert (await client.post("/settings/tokens/", form)).status_code == 201
    other = await make_user("bob")  # the cap is per user
    _out, err = await run_command("create_api_token", other.username)
    assert "shown only once" in err


async def test_settings_page_rotates_the_feed_url():
    alice = await make_user("alice")
    client = await logged_in(alice)
    page = (await client.get("/settings/")).content.decode()
    old = re.search(r'<code id="feed-url">http://testserver([^<]+)</code>', page).group(1)
    token = client.cookies["csrftoken"].value
    await client.post("/settings/feed/rotate/", {"csrfmiddlewaretoken": token})
    page = (await client.get("/settings/")).content.decode()
    new = re.search(r'<code id="feed-url">http://testserver([^<]+)</code>', page).group(1)
    assert new != old
    assert (await AsyncClient().get(old)).status_code == 404
    assert (await AsyncClient().get(new)).status_code == 200


async def test_admin_lists_and_filters_alerts_by_room_and_level():
    alice = await make_user("alice")
    ops, lobby = await make_room("ops", [alice]), await make_room("lobby", [alice])
    await Alert.objects.acreate(room=ops, user=alice, content="ops-critical", level="critical")
    await Alert.objects.acreate(room=ops, user=alice, content="ops-info", level="info")
    await Alert.objects.acreate(room=lobby, user=alice, content="lobby-critical", level="critical")
    client = AsyncClient()
    await client.aforce_login(await make_staff())
    html = (await client.get(f"/admin/alert/alert/?room__id__exact={ops.pk}")).content.decode()
    assert "ops-critical" in html and "ops-info" in html and "lobby-critical" not in html
    html = (await client.get("/admin/alert/alert/?level__exact=critical")).content.decode()
    assert "ops-critical" in html and "lobby-critical" in html and "ops-info" not in html


async def test_admin_refuses_bad_alerts_and_non_member_authors():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("ops", [alice])
    client = AsyncClient()
    await client.aforce_login(await make_staff())
    for data, error in (
        ({"user": mallory.pk, "content": "x"}, "must be a member"),
        ({"user": alice.pk, "content": "x" * 201}, "at most 200 characters"),
        ({"user": alice.pk, "content": "   "}, "This field is required"),
        ({"user": alice.pk, "content": "x", "level": "fatal"}, "Select a valid choice"),
    ):
        response = await client.post(
            "/admin/alert/alert/add/", {"room": room.pk, "level": "info", **data}
        )
        assert response.status_code == 200 and error in response.content.decode(), data
    assert not await Alert.objects.aexists()


async def test_admin_creates_a_token_shown_once_and_revokes_it():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    client = AsyncClient()
    await client.aforce_login(await make_staff())
    response = await client.post("/admin/chat/apitoken/add/", {"user": alice.pk, "name": "ci"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    secret = re.search(r'<code id="new-api-token"[^>]*>([^<]+)</code>', html).group(1)
    row = await ApiToken.objects.aget()
    assert row.user_id == alice.pk and row.key_hash == hash_token(secret)
    change_page = (await client.get(f"/admin/chat/apitoken/{row.pk}/change/")).content.decode()
    assert secret not in change_page
    url, body, auth = f"/api/rooms/{room.pk}/alerts/", {"content": "ci"}, {}
    auth["Authorization"] = f"Bearer {secret}"
    post = AsyncClient().post
    assert (await post(url, body, content_type="application/json", headers=auth)).status_code == 201
    await client.post(
        "/admin/chat/apitoken/",
        {"action": "revoke", "_selected_action": [row.pk], "index": 0},
    )
    assert (await ApiToken.objects.aget()).revoked is not None
    assert (await post(url, body, content_type="application/json", headers=auth)).status_code == 401


async def test_admin_rotates_a_users_feed_url():
    alice = await make_user("alice")
    client = AsyncClient()
    await client.aforce_login(await make_staff())
    await (await logged_in(alice)).get("/alerts/")  # the key is made on first use
    key = await FeedKey.objects.aget(user=alice)
    await client.post(
        "/admin/alert/feedkey/", {"action": "rotate", "_selected_action": [key.pk], "index": 0}
    )
    assert (await FeedKey.objects.aget(user=alice)).nonce != key.nonce


@sync_to_async
def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


async def test_send_alert_refuses_unknown_rooms_users_non_members_and_bad_input():
    alice = await make_user("alice")
    await make_user("mallory")  # exists, but is not in the room
    room = await make_room("ops", [alice])
    for args, error in (
        (["--room", "999999", "--user", "alice", "x"], "No room with id 999999"),
        (["--room", str(room.pk), "--user", "nobody", "x"], "No user named 'nobody'"),
        (["--room", str(room.pk), "--user", "mallory", "x"], "not a member"),
        (["--room", str(room.pk), "--user", "alice", "--level", "fatal", "x"], "level must be"),
        (["--room", str(room.pk), "--user", "alice", " "], "must not be empty"),
        (["--room", str(room.pk), "--user", "alice", "x" * 201], "longer than 200"),
    ):
        with pytest.raises(CommandError, match=error):
            await run_command("send_alert", *args)
    assert not await Alert.objects.aexists()
    out, _ = await run_command("send_alert", "--room", str(room.pk), "--user", "alice", "ok")
    assert "sent to room 'ops'" in out


async def test_create_api_token_prints_the_token_alone_on_the_last_line():
    alice = await make_user("alice")
    out, err = await run_command("create_api_token", "alice", "--name", "cron")
    token = out.strip().splitlines()[-1]
    assert out.strip() == token and "shown only once" in err
    row = await ApiToken.objects.aget()
    assert row.key_hash == hash_token(token) and row.name == "cron" and row.user_id == alice.pk
    with pytest.raises(CommandError, match="No user named"):
        await run_command("create_api_token", "nobody")


async def test_ids_beyond_any_integer_column_are_404_not_server_errors():
    alice = await make_user("alice")
    huge = "9" * 30
    client = await logged_in(alice)
    token = await csrf_token(client, "/settings/")
    form = {"content": "x", "csrfmiddlewaretoken": token}
    assert (await client.post(f"/alerts/room/{huge}/post/", form)).status_code == 404
    response = await client.post(f"/settings/tokens/{huge}/revoke/", form, follow=True)
    assert "No such active token" in response.content.decode()
    api = await AsyncClient().post(
        f"/api/rooms/{huge}/alerts/",
        form,
        content_type="application/json",
        headers=await bearer(alice),
    )
    assert api.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/alerts/"),
        ("get", "/settings/"),
        ("post", "/settings/tokens/"),
        ("post", "/settings/tokens/1/revoke/"),
        ("post", "/settings/feed/rotate/"),
        ("post", "/alerts/room/1/post/"),
    ],
)
async def test_anonymous_visitors_are_sent_to_the_login_page(method, path):
    response = await getattr(AsyncClient(), method)(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not await ApiToken.objects.aexists() and not await FeedKey.objects.aexists()


@pytest.mark.parametrize(
    "path", ["/settings/tokens/", "/settings/tokens/1/revoke/", "/settings/feed/rotate/"]
)
async def test_settings_writes_are_post_only(path):
    alice = await make_user("alice")
    assert (await (await logged_in(alice)).get(path)).status_code == 405
