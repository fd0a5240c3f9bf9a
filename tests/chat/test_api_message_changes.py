"""PATCH and DELETE on a message, PUT and DELETE on its reactions, and `?since=` paging."""

import json
from urllib.parse import quote

import pytest
from django.test import AsyncClient

from chat.models import Message, Room
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def client_for(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def msg_url(room_id: int, message_id: int) -> str:
    return f"/api/rooms/{room_id}/messages/{message_id}/"


async def patch(client, room_id, message_id, data):
    return await client.patch(
        msg_url(room_id, message_id), json.dumps(data), content_type="application/json"
    )


@pytest.fixture
async def setup():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    message = await Message.objects.acreate(room=room, author=alice, body="hello", version=1)
    await Room.objects.filter(pk=room.pk).aupdate(version=1)  # as if posted through the service
    return room, alice, bob, message


async def test_patch_edits_and_a_stale_version_is_409_with_the_newer_message(setup):
    room, alice, bob, message = setup
    client = await client_for(alice)
    response = await patch(client, room.pk, message.pk, {"body": "hi *all*", "version": 1})
    assert response.status_code == 200
    assert response.json()["html"] == "<p>hi <em>all</em></p>" and response.json()["edited"]
    stale = await patch(client, room.pk, message.pk, {"body": "again", "version": 1})
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    assert stale.json()["message"]["body"] == "hi *all*"
    assert (
        await patch(await client_for(bob), room.pk, message.pk, {"body": "x"})
    ).status_code == 403
    assert (await patch(client, room.pk, 999999, {"body": "x"})).status_code == 404
    assert (await patch(client, room.pk, message.pk, {"body": 7})).status_code == 400
    assert (await patch(client, room.pk, message.pk, {"body": "x" * 2001})).status_code == 400


async def test_delete_returns_the_tombstone_and_others_get_403(setup):
    room, alice, bob, message = setup
    assert (await (await client_for(bob)).delete(msg_url(room.pk, message.pk))).status_code == 403
    response = await (await client_for(alice)).delete(msg_url(room.pk, message.pk))
    assert response.status_code == 200
    assert response.json()["deleted"] is True and response.json()["body"] == ""
    again = await (await client_for(alice)).delete(msg_url(room.pk, message.pk))
    assert again.status_code == 404


async def test_reactions_put_and_delete_with_an_encoded_emoji(setup):
    room, alice, bob, message = setup
    url = f"{msg_url(room.pk, message.pk)}reactions/{quote('👍')}/"
    for user in (alice, bob, bob):
        response = await (await client_for(user)).put(url)
        assert response.status_code == 200, response.json()
    assert response.json()["reactions"] == [{"emoji": "👍", "count": 2, "users": ["alice", "bob"]}]
    assert set(response.json()) == {"id", "version", "reactions"}
    response = await (await client_for(bob)).delete(url)
    assert response.json()["reactions"][0]["users"] == ["alice"]
    bad = await (await client_for(bob)).put(
        f"{msg_url(room.pk, message.pk)}reactions/{quote('x')}/"
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"


async def test_since_pages_by_version(setup):
    room, alice, _, message = setup
    client = await client_for(alice)
    await patch(client, room.pk, message.pk, {"body": "edited"})
    response = await client.get(f"/api/rooms/{room.pk}/messages/?since=1&limit=1")
    page = response.json()
    assert [m["body"] for m in page["messages"]] == ["edited"] and page["has_more"] is False
    bad = await client.get(f"/api/rooms/{room.pk}/messages/?since=1&after=2")
    assert bad.status_code == 400
