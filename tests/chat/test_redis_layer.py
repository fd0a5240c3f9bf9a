"""The room socket on the real Redis channel layer (DESIGN.md, trap 1).

Each test gets the layer exactly as settings builds it for production
(`redis_channel_layer(url, prefix)`) under a prefix of its own on the shared Redis, and
channels' cache of layer backends is emptied before and after, so no test sees another's layer.
"""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.test import override_settings
from redis import asyncio as aioredis

from chat.models import Message
from chat.serializers import message_to_dict
from mychannels.settings import redis_channel_layer
from tests.conftest import Socket, communicator, make_room, make_user, session_cookie
from tests.services import ensure_redis

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# Longer than redis-py 8's default 5 s reply timeout and the layer's 5 s blocking pop, four
# times over, and than the 15 s reply timeout the layer is given (DESIGN.md trap 1): an idle
# socket on an unpatched pool is dead long before this.
IDLE_SECONDS = 20
STORM_SOCKETS = 300


@pytest.fixture
async def redis_layer() -> AsyncIterator[str]:
    """The real Redis channel layer (and Redis presence and rate limits) under a unique
    prefix; its keys and connection pools are removed afterwards."""
    url = ensure_redis()
    prefix = f"{settings.CHANNEL_LAYER_PREFIX}r{uuid.uuid4().hex[:8]}"
    layers = {"default": redis_channel_layer(url, prefix)}
    channel_layers.backends = {}
    with override_settings(CHANNEL_LAYERS=layers, REDIS_URL=url, CHANNEL_LAYER_PREFIX=prefix):
        layer = get_channel_layer()
        assert type(layer).__name__ == "RedisChannelLayer"
        try:
            yield prefix
        finally:
            with contextlib.suppress(Exception):
                await layer.close_pools()
            channel_layers.backends = {}
            await delete_keys(url, prefix)


async def delete_keys(url: str, prefix: str) -> None:
    """Only this test's keys: the server is shared, so never a FLUSHDB."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


@sync_to_async
def make_users(count: int) -> list:
    """Many users at once (hashing one password, not `count` of them)."""
    password = make_password("pw-for-tests-1")
    tag = uuid.uuid4().hex[:6]
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=f"storm{tag}-{i:03d}", password=password) for i in range(count)]
    )
    return list(user_model.objects.filter(username__startswith=f"storm{tag}-").order_by("pk"))


async def connect_and_open(path: str, cookie: str) -> Socket | str:
    """A socket that got in (history, then presence), or why it did not: the close code, or
    the error that crashed its consumer (Daphne would close such a socket with 1011)."""
    comm = communicator(path, cookie)
    try:
        connected, code = await comm.connect(timeout=120)
        if not connected:
            return f"refused {code}"
        output = await comm.receive_output(timeout=120)
        if output["type"] == "websocket.close":
            return f"closed {output['code']}"
        first = json.loads(output["text"])
        assert first["type"] == "history", first
        socket = Socket(comm)
        await socket.recv_type("presence", timeout=120)
    except Exception as error:  # the consumer crashed: its exception surfaces here
        return f"crashed: {type(error).__name__}: {error}"
    return socket


async def test_broadcast_reaches_three_members_through_redis(redis_layer, open_room_socket):
    users = [await make_user(name) for name in ("alice", "bob", "carol")]
    room = await make_room("general", users)
    sockets = [(await open_room_socket(user, room))[0] for user in users]
    await sockets[1].send({"type": "message", "body": "over redis", "client_id": "r-1"})
    first = await sockets[0].recv_type("message", timeout=10)
    # Stored before it was broadcast: the row is readable the moment a member hears of it.
    assert await Message.objects.filter(pk=first["id"], body="over redis").aexists()
    frames = [first] + [await socket.recv_type("message", timeout=10) for socket in sockets[1:]]
    stored = await Message.objects.select_related("author").aget(room=room)
    assert stored.author.username == "bob"
    for frame in frames:
        assert frame == {"type": "message", **message_to_dict(stored)}
        assert (frame["username"], frame["body"], frame["client_id"]) == (
            "bob",
            "over redis",
            "r-1",
        )


async def test_300_users_connecting_at_once_all_get_in_and_all_hear_a_message(redis_layer):
    users = await make_users(STORM_SOCKETS)
    room = await make_room("storm", users)
    cookies = [await session_cookie(user) for user in users]
    path = f"/ws/chat/room/{room.pk}/"
    outcomes = await asyncio.gather(*(connect_and_open(path, cookie) for cookie in cookies))
    sockets = [outcome for outcome in outcomes if isinstance(outcome, Socket)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, Socket)]
    try:
        assert not refused, (
            f"{len(refused)} of {STORM_SOCKETS} did not get in: {sorted(set(refused))}"
        )
        await sockets[0].send({"type": "message", "body": "hello, everyone"})
        frames = await asyncio.gather(
            *(socket.recv_type("message", timeout=120) for socket in sockets)
        )
        stored = await Message.objects.aget(room=room)
        assert {(frame["id"], frame["body"]) for frame in frames} == {
            (stored.id, "hello, everyone")
        }
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def test_a_socket_idle_past_every_redis_timeout_still_receives_the_next_message(
    redis_layer, open_room_socket
):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    idle, _, _ = await open_room_socket(alice, room)
    await asyncio.sleep(IDLE_SECONDS)
    # The idle socket's consumer is still running: its wait on Redis did not blow up.
    assert not idle.comm.future.done(), idle.comm.future
    sender, _, _ = await open_room_socket(bob, room)
    await sender.send({"type": "message", "body": "still there?"})
    assert (await idle.recv_type("message", timeout=10))["body"] == "still there?"
    # And it can still talk: its own message goes out through the layer too.
    await idle.send({"type": "message", "body": "yes"})
    heard = [(await sender.recv_type("message", timeout=10))["body"] for _ in range(2)]
    assert heard == ["still there?", "yes"]
