"""Two Redis servers (REDIS_URL lists both) under two real server processes: the channel
layer and the service's own state shard over them (mychannels/runtime/redisshards.py).
Messages, presence and catch-up work across both processes and both servers; stopping one
server degrades only its share: a room whose group lives on the other server keeps working
(even a new socket opens into it), and the sockets of a room on the stopped server close
1012 once it is back and catch up everything stored meanwhile."""

import asyncio
import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
import websockets

from mychannels.runtime.redisshards import group_channel_name, shard_index
from tests.e2e.livechat import next_of, open_socket, post_message
from tests.e2e.test_multiprocess import DEMO_USERS, FAST_POSTING
from tests.liveserver import (
    ServiceConfig,
    free_port,
    fresh_postgres_database,
    login,
    manage,
    prepare_database,
    start_servers,
)
from tests.services import RedisServer, ensure_postgres

pytestmark = pytest.mark.e2e


def ids_of(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    with psycopg.connect(database_url) as db:
        users = dict(db.execute("SELECT username, id FROM auth_user").fetchall())
        rooms = dict(db.execute("SELECT name, id FROM chat_room").fetchall())
    return users, rooms


def shard(prefix: str, group: str) -> int:
    return shard_index(group_channel_name(prefix, group), 2)


def make_rooms(config: ServiceConfig, count: int) -> None:
    """Rooms with every demo user in them, as an operator makes them in the admin."""
    code = (
        "from django.contrib.auth import get_user_model;from chat.models import Room;"
        f"users=list(get_user_model().objects.filter(username__in={DEMO_USERS!r}));"
        f"[Room.objects.create(name=f'shard-{{n}}').users.add(*users) for n in range({count})]"
    )
    manage(config, "shell", "-c", code, check=True)


def layout(users: dict[str, int], rooms: dict[str, int]) -> tuple[str, list[str], str, str]:
    """A prefix, two users and two rooms such that the first room and both users' groups land
    on the first server and the second room on the second. (channels-redis hashes with
    CRC-32, which is linear: two names of equal length keep their relative placement under
    every prefix, so the test picks rooms and users, and the prefix only says which is which.)"""
    probe = "probe"
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for name in DEMO_USERS:
        by_shard[shard(probe, f"user.{users[name]}")].append(name)
    side = 0 if len(by_shard[0]) >= 2 else 1
    pair = by_shard[side][:2]
    assert len(pair) == 2
    made = [r for r in rooms if r.startswith("shard-")]
    same = [r for r in made if shard(probe, f"room.{rooms[r]}") == side]
    other = [r for r in made if shard(probe, f"room.{rooms[r]}") != side]
    for _ in range(1000):
        prefix = f"sh{uuid.uuid4().hex[:6]}"
        if shard(prefix, f"user.{users[pair[0]]}") == 0:
            break
    assert all(shard(prefix, f"user.{users[u]}") == 0 for u in pair)
    assert shard(prefix, f"room.{rooms[same[0]]}") == 0
    assert shard(prefix, f"room.{rooms[other[0]]}") == 1
    return prefix, pair, same[0], other[0]


@pytest.fixture
def two_redis(tmp_path) -> Iterator[tuple[RedisServer, RedisServer]]:
    servers = tuple(RedisServer(free_port(), tmp_path / f"redis-{i}.log") for i in range(2))
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


async def test_two_redis_servers_share_the_load_and_one_going_away_degrades_only_its_rooms(
    two_redis, tmp_path
):
    ensure_postgres()
    kept, stopped = two_redis  # the first also holds service-wide state: the cache, logins
    with fresh_postgres_database() as database_url:
        config = ServiceConfig(database_url=database_url, redis_url=f"{kept.url},{stopped.url}")
        config.extra_env.update(FAST_POSTING)
        prepare_database(config)
        make_rooms(config, 8)
        users, rooms = ids_of(database_url)
        prefix, pair, kept_room, stopped_room = layout(users, rooms)
        config.extra_env["CHANNEL_LAYER_PREFIX"] = prefix
        others = [name for name in DEMO_USERS if name not in pair]
        first, second = start_servers(config, tmp_path, 2)
        try:
            await _scenario(
                first, second, pair, others, rooms[kept_room], rooms[stopped_room], kept, stopped
            )
        finally:
            first.stop()
            second.stop()


async def _scenario(first, second, pair, others, random_room, general, kept, stopped) -> None:
    """`random_room` and the users of `pair` live on `kept`, `general` on `stopped`."""
    alice, bob = login(first, pair[0]), login(second, pair[1])
    carol, dave = login(first, others[0]), login(second, others[1])
    a = await open_socket(first, alice, random_room)
    b = await open_socket(second, bob, random_room)
    c = await open_socket(first, carol, general)
    d = await open_socket(second, dave, general)

    # Both rooms work across the two processes, and so does presence.
    await a.send(json.dumps({"type": "message", "body": "random 1"}))
    assert (await next_of(b, "message"))["body"] == "random 1"
    await c.send(json.dumps({"type": "message", "body": "general 1"}))
    last_general = await next_of(d, "message")
    assert last_general["body"] == "general 1"
    while (await next_of(a, "presence"))["users"] != sorted(pair):
        pass
    while (await next_of(c, "presence"))["users"] != sorted(others):
        pass
    # Each server holds its share of the keys.
    for server, tag in ((kept, f"room.{random_room}"), (stopped, f"room.{general}")):
        client = redis.Redis.from_url(server.url)
        assert any(tag in key.decode() for key in client.scan_iter("*presence*")), server.url

    stopped.stop()
    # The room on the kept server goes on as if nothing happened, sockets and all...
    for n in range(3):
        await a.send(json.dumps({"type": "message", "body": f"random during {n}"}))
        assert (await next_of(b, "message"))["body"] == f"random during {n}"
    # ...and a new socket opens into it while the other server is away.
    b2 = await open_socket(first, bob, random_room)
    opening = [json.loads(await asyncio.wait_for(b2.recv(), 10)) for _ in range(2)]
    assert [f["type"] for f in opening] == ["history", "presence"]
    assert opening[0]["messages"][-1]["body"] == "random during 2"
    await b2.close()

    # Messages posted to the other room meanwhile are stored (the database is the record)
    # though nobody hears them live.
    missed = [post_message(first, carol, general, f"general during {n}")["id"] for n in range(3)]

    stopped.start()
    # Once it is back, that room's sockets close 1012 (on both processes) ...
    for socket_ in (c, d):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(30):
                while True:
                    await socket_.recv()
        assert closed.value.rcvd.code == 1012
    # ... and catch up with ?after=: every message stored meanwhile, once.
    d = await open_socket(second, dave, general, f"?after={last_general['id']}")
    history = json.loads(await asyncio.wait_for(d.recv(), 10))
    assert [m["id"] for m in history["messages"]] == missed
    await d.send(json.dumps({"type": "message", "body": "general after"}))
    c = await open_socket(first, carol, general)
    # The kept room's sockets were never closed.
    await b.send(json.dumps({"type": "message", "body": "random after"}))
    bodies = [(await next_of(a, "message"))["body"] for _ in range(4)]  # its own echoes first
    assert bodies == [f"random during {n}" for n in range(3)] + ["random after"]
    for socket_ in (a, b, c, d):
        await socket_.close()
