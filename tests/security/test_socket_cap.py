"""The cap on open sockets per user: the next socket is closed with 4409, other users are not
affected, a closed socket frees its place, and on Redis the count holds across processes
while a crashed process's sockets stop counting; on both client paths (RedisLine, redis-py),
after a server forgets its scripts or restarts, and with users on two servers."""

import asyncio
import json
import uuid

import pytest
import redis
from django.test import override_settings
from redis import asyncio as aioredis

from chat.socketcap import RedisSockets
from mychannels.runtime.redisshards import group_channel_name, shard_index
from tests.conftest import communicator, make_room, make_user, session_cookie
from tests.liveserver import free_port
from tests.services import RedisServer, ensure_redis

pytestmark = pytest.mark.django_db(transaction=True)


async def close_code_of_next_socket(user, room) -> int | None:
    """Open one more socket: its close code, or None when it got in (then it is closed)."""
    comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(user))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    output = await comm.receive_output(timeout=3)
    if output["type"] == "websocket.close":
        return output["code"]
    assert '"history"' in output["text"]
    await comm.disconnect()
    return None


@override_settings(CHAT_MAX_SOCKETS_PER_USER=3)
async def test_the_socket_past_the_cap_is_closed_4409_across_rooms(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    random = await make_room("random", [alice])
    tabs = [
        (await open_room_socket(alice, general))[0],
        (await open_room_socket(alice, random))[0],
        (await open_room_socket(alice, general))[0],
    ]
    assert await close_code_of_next_socket(alice, random) == 4409
    assert await close_code_of_next_socket(alice, general) == 4409
    # Another user has places of their own.
    assert await close_code_of_next_socket(bob, general) is None
    # The open tabs still work.
    await tabs[0].send({"type": "message", "body": "still here"})
    assert (await tabs[2].recv_type("message"))["body"] == "still here"
    # Closing a tab frees its place.
    await tabs[1].close()
    await asyncio.sleep(0.2)
    _, history, _ = await open_room_socket(alice, random)
    assert history["type"] == "history"
    assert await close_code_of_next_socket(alice, random) == 4409


@override_settings(CHAT_MAX_SOCKETS_PER_USER=2)
async def test_refused_sockets_do_not_use_up_places(open_room_socket):
    alice = await make_user("alice")
    general = await make_room("general", [alice])
    secret = await make_room("secret", [])
    for _ in range(5):  # refusals (not a member, no room) never count
        assert await close_code_of_next_socket(alice, secret) == 4403
    for _ in range(2):
        await open_room_socket(alice, general)
    assert await close_code_of_next_socket(alice, general) == 4409


async def test_redis_count_is_shared_by_processes_and_forgets_crashed_ones():
    url = ensure_redis()
    prefix = f"captest{uuid.uuid4().hex[:8]}"
    now = [1_000_000.0]  # one clock for both "processes", moved by hand

    def clock() -> float:
        return now[0]

    process_one = RedisSockets(url, prefix, ttl=40, clock=clock)
    process_two = RedisSockets(url, prefix, ttl=40, clock=clock)
    assert await process_one.admit(7, "a", cap=2)
    assert await process_two.admit(7, "b", cap=2)
    assert not await process_two.admit(7, "c", cap=2)
    assert await process_two.admit(8, "d", cap=2)  # per user
    # Heartbeats keep live sockets counted past the TTL...
    now[0] += 30
    await process_one.refresh()
    await process_two.refresh()
    now[0] += 30
    assert not await process_one.admit(7, "c", cap=2)
    # ...then process one "crashes" (no more heartbeats): its socket stops counting.
    await process_two.refresh()
    now[0] += 30
    assert await process_two.admit(7, "c", cap=2)
    assert not await process_two.admit(7, "e", cap=2)
    await process_two.release(7, "c")
    assert await process_two.admit(7, "e", cap=2)


@override_settings(CHAT_MAX_SOCKETS_PER_USER=2)
async def test_alert_sockets_count_against_the_same_cap(open_room_socket):
    alice = await make_user("alice")
    general = await make_room("general", [alice])
    cookie = await session_cookie(alice)
    feed = communicator("/ws/alerts/", cookie)
    assert (await feed.connect(timeout=5))[0]
    assert json.loads((await feed.receive_output(timeout=3))["text"])["type"] == "history"
    await open_room_socket(alice, general)
    assert await close_code_of_next_socket(alice, general) == 4409
    room_alerts = communicator(f"/ws/alert/room/{general.pk}/", cookie)
    assert (await room_alerts.connect(timeout=5))[0]
    assert (await room_alerts.receive_output(timeout=3)) == {
        "type": "websocket.close",
        "code": 4409,
    }
    await room_alerts.disconnect()
    await feed.disconnect()  # frees its place
    await asyncio.sleep(0.2)
    assert await close_code_of_next_socket(alice, general) is None


@pytest.fixture(params=["redis", "redis-py"])
def cap_url(request) -> str:
    """A plain redis:// server (RedisLine) or a socket file (redis-py's pool)."""
    if request.param == "redis":
        return ensure_redis()
    return request.getfixturevalue("socket_file_redis").unix_url


async def test_the_cap_holds_on_both_client_paths_and_after_a_script_flush(cap_url):
    prefix = f"captest{uuid.uuid4().hex[:8]}"
    sockets = RedisSockets(cap_url, prefix, ttl=40)
    flusher = aioredis.Redis.from_url(cap_url)
    try:
        await flusher.script_flush()  # what a restarted server knows: no script
        assert await sockets.admit(7, "a", cap=2)
        await flusher.script_flush()
        assert await sockets.admit(7, "b", cap=2)
        assert not await sockets.admit(7, "c", cap=2)
        assert await sockets.open_count() == 2  # the refused one was taken back
        await sockets.refresh()
        await sockets.release(7, "a")
        assert await sockets.open_count() == 1
        assert await sockets.admit(7, "c", cap=2)
    finally:
        keys = [key async for key in flusher.scan_iter(f"*{prefix}*")]
        if keys:
            await flusher.delete(*keys)
        await flusher.aclose()
        await sockets.aclose()


async def test_a_killed_and_restarted_redis_is_used_again(own_redis):
    sockets = RedisSockets(own_redis.url, f"captest{uuid.uuid4().hex[:8]}", ttl=40)
    try:
        assert await sockets.admit(7, "a", cap=2)
        own_redis.stop()
        # The errors the consumers see (RedisError), as redis-py's client raised them.
        with pytest.raises(redis.ConnectionError):
            await sockets.admit(7, "b", cap=2)
        with pytest.raises(redis.ConnectionError):
            await sockets.open_count()
        own_redis.start()  # empty, and it knows no script
        assert await sockets.admit(7, "b", cap=2)
        assert await sockets.open_count() == 1
        await sockets.refresh()  # the heartbeat puts back the sockets the restart lost
        assert await sockets.open_count() == 2
        assert not await sockets.admit(7, "c", cap=2)
    finally:
        await sockets.aclose()


async def test_users_live_on_the_server_of_their_group_and_the_count_sums_them(tmp_path):
    servers = [RedisServer(free_port(), tmp_path / f"redis-{i}.log") for i in range(2)]
    for server in servers:
        server.start()
    prefix = f"captest{uuid.uuid4().hex[:8]}"
    users: dict[int, int] = {}  # shard -> a user on it
    for user_id in range(1, 100):
        users.setdefault(shard_index(group_channel_name(prefix, f"user.{user_id}"), 2), user_id)
    sockets = RedisSockets(",".join(server.url for server in servers), prefix, ttl=40)
    readers = [redis.Redis.from_url(server.url, decode_responses=True) for server in servers]
    try:
        assert await sockets.admit(users[0], "a", cap=1)
        assert await sockets.admit(users[1], "b", cap=1)
        assert await sockets.admit(users[1], "c", cap=2)
        assert not await sockets.admit(users[0], "d", cap=1)
        for reader, user_id, conns in (
            (readers[0], users[0], ["a"]),
            (readers[1], users[1], ["b", "c"]),
        ):
            assert reader.zrange(f"{{{prefix}:user.{user_id}}}:sockets", 0, -1) == conns
            assert reader.zrange(f"{prefix}:sockets:all", 0, -1) == conns
        assert await sockets.open_count() == 3
        await sockets.release(users[1], "b")
        assert await sockets.open_count() == 2
    finally:
        await sockets.aclose()
        for reader in readers:
            reader.close()
        for server in servers:
            server.stop()
