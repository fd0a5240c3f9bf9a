"""The alert JSON API: authentication (session + CSRF, bearer tokens), membership, validation,
paging, and hostile input. Every refusal stores nothing."""

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, override_settings

from alert.models import Alert
from chat.models import ApiToken
from chat.tokens import token_create, token_revoke
from tests.alert.conftest import bearer, csrf_token, logged_in
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def post_alert(room_id: int, data, headers: dict) -> tuple[int, dict]:
    response = await AsyncClient().post(
        f"/api/rooms/{room_id}/alerts/", data, content_type="application/json", headers=headers
    )
    return response.status_code, response.json()


@pytest.fixture
async def alice_in_ops():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    return alice, room, await bearer(alice)


async def test_created_alert_has_the_contract_shape_and_defaults_to_info(alice_in_ops):
    _, room, auth = alice_in_ops
    status, body = await post_alert(room.pk, {"content": "  padded  "}, auth)
    assert status == 201
    stored = await Alert.objects.aget()
    assert body == {
        "id": stored.pk,
        "room_id": room.pk,
        "username": "alice",
        "content": "padded",
        "level": "info",
        "created": body["created"],
    }
    assert body["created"].endswith("Z") and stored.content == "padded"


@pytest.mark.parametrize(
    ("data", "code", "detail_mentions"),
    [
        ({"content": "x", "level": "fatal"}, "invalid", "level"),
        ({"content": "x", "level": "INFO"}, "invalid", "level"),
        ({"content": "x", "level": ""}, "invalid", "level"),
        ({"content": "x", "level": ["info"]}, "invalid", "level"),
        ({"content": ""}, "invalid", "empty"),
        ({"content": "   \n\t "}, "invalid", "empty"),
        ({}, "invalid", "content"),
        ({"content": None}, "invalid", "content"),
        ({"content": 42}, "invalid", "content"),
        ({"content": {"$ne": ""}}, "invalid", "content"),
        ({"content": "y" * 201}, "too_long", "200"),
        ({"content": "bell\x07"}, "invalid", "control"),
        ({"content": "nul\x00byte"}, "invalid", "control"),
    ],
)
async def test_bad_input_gets_400_with_a_clear_error_and_stores_nothing(
    alice_in_ops, data, code, detail_mentions
):
    _, room, auth = alice_in_ops
    status, body = await post_alert(room.pk, data, auth)
    assert status == 400
    assert body["error"] == code and detail_mentions in body["detail"], body
    assert not await Alert.objects.aexists()


async def test_lone_surrogate_is_refused_not_a_server_error(alice_in_ops):
    _, room, auth = alice_in_ops
    response = await AsyncClient().post(
        f"/api/rooms/{room.pk}/alerts/",
        b'{"content": "half \\ud800 a pair"}',
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert not await Alert.objects.aexists()


async def test_200_characters_is_taken_and_markup_is_stored_verbatim(alice_in_ops):
    _, room, auth = alice_in_ops
    assert (await post_alert(room.pk, {"content": "z" * 200}, auth))[0] == 201
    hostile = "<script>alert(1)</script>"
    status, body = await post_alert(room.pk, {"content": hostile, "level": "critical"}, auth)
    assert status == 201 and body["content"] == hostile


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1,2]", b'"text"', b"", b"\xff\xfe", b"null", b"1e999999"]
)
async def test_malformed_bodies_get_400(alice_in_ops, raw):
    _, room, auth = alice_in_ops
    response = await AsyncClient().post(
        f"/api/rooms/{room.pk}/alerts/", raw, content_type="application/json", headers=auth
    )
    assert response.status_code == 400
    assert response.json()["error"] in {"bad_json", "invalid"}
    assert not await Alert.objects.aexists()


async def test_non_member_gets_403_and_unknown_room_404(alice_in_ops):
    _, room, _ = alice_in_ops
    mallory = await make_user("mallory")
    auth = await bearer(mallory)
    assert await post_alert(room.pk, {"content": "let me in"}, auth) == (
        403,
        {"error": "forbidden", "detail": "you are not a member of this room"},
    )
    status, body = await post_alert(999999, {"content": "x"}, auth)
    assert (status, body["error"]) == (404, "not_found")
    assert not await Alert.objects.aexists()


async def test_revoked_unknown_and_malformed_tokens_get_401(alice_in_ops):
    alice, room, _ = alice_in_ops
    row, token = await token_create(user=alice, name="soon revoked")
    assert await token_revoke(user=alice, token_id=row.pk)
    for header in (
        f"Bearer {token}",
        "Bearer mct_not-a-real-token",
        "Bearer " + "mct_" + "x" * 5000,
        "Bearer ",
        "Bearer \x00",
    ):
        status, body = await post_alert(room.pk, {"content": "x"}, {"Authorization": header})
        assert (status, body["error"]) == (401, "unauthenticated"), header
    anonymous = await AsyncClient().get("/api/alerts/")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    assert not await Alert.objects.aexists()


async def test_a_token_of_an_inactive_user_gets_401(alice_in_ops):
    alice, room, auth = alice_in_ops
    alice.is_active = False
    await alice.asave()
    assert (await post_alert(room.pk, {"content": "x"}, auth))[0] == 401


async def test_token_use_records_last_used(alice_in_ops):
    _, room, auth = alice_in_ops
    assert (await ApiToken.objects.aget()).last_used is None
    await post_alert(room.pk, {"content": "x"}, auth)
    assert (await ApiToken.objects.aget()).last_used is not None


async def test_session_post_without_csrf_token_is_refused(alice_in_ops):
    alice, room, _ = alice_in_ops
    client = await logged_in(alice)
    response = await client.post(
        f"/api/rooms/{room.pk}/alerts/", {"content": "forged"}, content_type="application/json"
    )
    assert response.status_code == 403 and response.json()["error"] == "csrf"
    await csrf_token(client)
    response = await client.post(
        f"/api/rooms/{room.pk}/alerts/",
        {"content": "forged"},
        content_type="application/json",
        headers={"X-CSRFToken": "wrong" * 8},
    )
    assert response.status_code == 403
    assert not await Alert.objects.aexists()


async def test_wrong_methods_get_405(alice_in_ops):
    _, room, auth = alice_in_ops
    client = AsyncClient()
    assert (await client.get(f"/api/rooms/{room.pk}/alerts/", headers=auth)).status_code == 405
    response = await client.post("/api/alerts/", {}, content_type="application/json", headers=auth)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


@override_settings(CHAT_RATE_BURST=3, CHAT_RATE_PER_SECOND=0.01)
async def test_flooding_gets_429(alice_in_ops):
    _, room, auth = alice_in_ops
    statuses = [(await post_alert(room.pk, {"content": f"n{i}"}, auth))[0] for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert await Alert.objects.acount() == 3


async def test_feed_paging_after_and_limit_in_ascending_ids(alice_in_ops):
    alice, room, auth = alice_in_ops
    await Alert.objects.abulk_create(
        [Alert(room=room, user=alice, content=f"a{i}") for i in range(120)]
    )
    client = AsyncClient()
    latest = (await client.get("/api/alerts/", headers=auth)).json()
    assert [a["content"] for a in latest["alerts"]] == [f"a{i}" for i in range(70, 120)]
    assert latest["has_more"] is True
    collected, after = [], 0
    while True:
        page = (await client.get(f"/api/alerts/?after={after}&limit=45", headers=auth)).json()
        collected += page["alerts"]
        if not page["has_more"]:
            break
        after = page["alerts"][-1]["id"]
    assert [a["content"] for a in collected] == [f"a{i}" for i in range(120)]
    oldest_shown = latest["alerts"][0]["id"]
    older = await client.get(f"/api/alerts/?before={oldest_shown}&limit=5", headers=auth)
    assert [a["content"] for a in older.json()["alerts"]] == [f"a{i}" for i in range(65, 70)]


@pytest.mark.parametrize(
    "query",
    ["after=-1", "after=x", "limit=0", "limit=101", "limit=1.5", "before=0", "after=" + "9" * 30],
)
async def test_bad_paging_parameters_get_400(alice_in_ops, query):
    _, _, auth = alice_in_ops
    response = await AsyncClient().get(f"/api/alerts/?{query}", headers=auth)
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert response.json()["detail"]


async def test_feed_holds_only_rooms_the_caller_belongs_to_now(alice_in_ops):
    alice, room, auth = alice_in_ops
    bob = await make_user("bob")
    secret = await make_room("secret", [bob])
    left = await make_room("left", [alice, bob])
    await Alert.objects.acreate(room=room, user=alice, content="mine")
    await Alert.objects.acreate(room=secret, user=bob, content="bob's secret")
    await Alert.objects.acreate(room=left, user=bob, content="from a room alice left")
    await sync_to_async(left.users.remove)(alice)
    page = (await AsyncClient().get("/api/alerts/", headers=auth)).json()
    assert [a["content"] for a in page["alerts"]] == ["mine"]
