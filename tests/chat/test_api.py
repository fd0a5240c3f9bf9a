"""The messages API: auth order (401, 404, 403), paging, idempotent posts, CSRF and bad input."""

import json

import pytest
from django.test import AsyncClient, override_settings

from chat.models import Message
from chat.tokens import token_create, token_revoke
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(user, enforce_csrf: bool = False) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=enforce_csrf)
    await client.aforce_login(user)
    return client


def url(room_id: int) -> str:
    return f"/api/rooms/{room_id}/messages/"


async def post(client: AsyncClient, room_id: int, data, **extra):
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return await client.post(url(room_id), body, content_type="application/json", **extra)


async def test_anonymous_gets_401_not_a_redirect():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    for response in (
        await AsyncClient().get(url(room.pk)),
        await post(AsyncClient(), room.pk, {"body": "x"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthenticated"


async def test_unknown_room_404_and_non_member_403():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("general", [alice])
    client = await logged_in(mallory)
    assert (await client.get(url(999999))).status_code == 404
    response = await client.get(url(room.pk))
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert (await post(client, room.pk, {"body": "sneaky"})).status_code == 403
    assert await Message.objects.acount() == 0


async def test_post_returns_201_and_repeated_client_id_200_with_the_first_row():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = await logged_in(alice)
    first = await post(client, room.pk, {"body": "hello", "client_id": "k-1"})
    assert first.status_code == 201
    again = await post(client, room.pk, {"body": "hello (resent)", "client_id": "k-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await Message.objects.acount() == 1
    assert first.json()["username"] == "alice" and first.json()["body"] == "hello"


async def test_posting_broadcasts_to_open_sockets(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    socket, _, _ = await open_room_socket(bob, room)
    response = await post(await logged_in(alice), room.pk, {"body": "from the API"})
    frame = await socket.recv_type("message")
    assert frame["id"] == response.json()["id"] and frame["body"] == "from the API"


async def test_paging_after_before_and_limit():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    rows = await Message.objects.abulk_create(
        [Message(room=room, author=alice, body=f"m{i}") for i in range(10)]
    )
    ids = [row.pk for row in rows]
    client = await logged_in(alice)
    latest = (await client.get(url(room.pk), {"limit": 3})).json()
    assert [m["id"] for m in latest["messages"]] == ids[-3:] and latest["has_more"] is True
    after = (await client.get(url(room.pk), {"after": ids[2], "limit": 4})).json()
    assert [m["id"] for m in after["messages"]] == ids[3:7] and after["has_more"] is True
    before = (await client.get(url(room.pk), {"before": ids[3]})).json()
    assert [m["id"] for m in before["messages"]] == ids[:3] and before["has_more"] is False
    window = (await client.get(url(room.pk), {"after": ids[0], "before": ids[4]})).json()
    assert [m["id"] for m in window["messages"]] == ids[1:4]
    everything = (await client.get(url(room.pk))).json()
    assert len(everything["messages"]) == 10 and everything["has_more"] is False


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"after": -1},
        {"after": "1e3"},
        {"before": 0},
        {"before": "x"},
        {"after": "9" * 40},
    ],
)
async def test_bad_paging_parameters_get_400(query):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    response = await (await logged_in(alice)).get(url(room.pk), query)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("{broken", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ("[]", "invalid"),
        ("null", "invalid"),
        ({}, "invalid"),
        ({"body": ""}, "invalid"),
        ({"body": "   \n "}, "invalid"),
        ({"body": ["list"]}, "invalid"),
        ({"body": "x" * 2001}, "too_long"),
        ({"body": "ok", "client_id": "c" * 65}, "invalid"),
        ({"body": "ok", "client_id": 7}, "invalid"),
    ],
)
async def test_bad_bodies_get_400_and_store_nothing(payload, code):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    response = await post(await logged_in(alice), room.pk, payload)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == code and response.json()["detail"]
    assert await Message.objects.acount() == 0


async def test_csrf_is_enforced_for_session_posts():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = await logged_in(alice, enforce_csrf=True)
    refused = await post(client, room.pk, {"body": "no token"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    page = await client.get(f"/chat/room/{room.pk}/")  # sets the CSRF cookie
    token = page.cookies["csrftoken"].value
    accepted = await post(client, room.pk, {"body": "with token"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    assert [m.body async for m in Message.objects.all()] == ["with token"]


async def test_bearer_token_works_without_csrf_and_revoked_token_is_401():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    row, token = await token_create(user=alice, name="bot")
    client = AsyncClient(enforce_csrf_checks=True)
    auth = {"Authorization": f"Bearer {token}"}
    created = await post(client, room.pk, {"body": "beep"}, headers=auth)
    assert created.status_code == 201
    await row.arefresh_from_db()
    assert row.last_used is not None and row.key_hash != token
    await token_revoke(user=alice, token_id=row.pk)
    assert (await client.get(url(room.pk), headers=auth)).status_code == 401
    bogus = await client.get(url(room.pk), headers={"Authorization": "Bearer mct_nope"})
    assert bogus.status_code == 401


@override_settings(CHAT_RATE_BURST=2, CHAT_RATE_PER_SECOND=0.01)
async def test_flooding_the_api_gets_429():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = await logged_in(alice)
    statuses = [(await post(client, room.pk, {"body": f"m{i}"})).status_code for i in range(3)]
    assert statuses == [201, 201, 429]
    assert await Message.objects.acount() == 2


async def test_other_methods_are_405():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    response = await (await logged_in(alice)).delete(url(room.pk))
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


async def test_a_post_while_the_channel_layer_is_down_is_stored_and_succeeds(caplog):
    """The database is the record: with Redis unreachable the writer still gets its 201 and the
    message is there for members catching up by id."""
    from channels.layers import channel_layers

    from mychannels.settings import redis_channel_layer

    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = await logged_in(alice)
    dead_redis = redis_channel_layer("redis://127.0.0.1:9/0", "dead")  # nothing listens on 9
    channel_layers.backends = {}
    try:
        with override_settings(CHANNEL_LAYERS={"default": dead_redis}):
            response = await post(client, room.pk, {"body": "kept", "client_id": "k"})
    finally:
        channel_layers.backends = {}
    assert response.status_code == 201
    assert [m.body async for m in Message.objects.all()] == ["kept"]
    assert "channel layer is unreachable" in caplog.text
