"""The presence store on the real Redis server (the Lua scripts) and in memory: entries per
socket, a version that grows with every change and survives Redis losing its data, and the
sweep that drops a dead process's entries. On Redis, both client paths (a RedisLine for
redis://, redis-py's pool for a socket file); replies read as str, a server that forgot its
scripts, a killed and restarted one, and rooms on two servers."""

import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
from redis import asyncio as aioredis

from chat.groups import room_group
from chat.services.presence_store import MemoryStore, RedisStore
from mychannels.runtime.redisshards import group_channel_name, shard_index
from tests.liveserver import free_port
from tests.services import RedisServer, ensure_redis

REDIS_PATHS = [
    pytest.param("redis", marks=pytest.mark.redis),  # a plain redis:// server: RedisLine
    pytest.param("redis-py", marks=pytest.mark.redis),  # a socket file: redis-py's pool
]


def redis_url_of(request) -> str:
    if request.param == "redis":
        return ensure_redis()
    return request.getfixturevalue("socket_file_redis").unix_url


async def delete_prefixed(url: str, prefix: str) -> None:
    cleanup = aioredis.Redis.from_url(url)
    keys = [key async for key in cleanup.scan_iter(f"*{prefix}:*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()


@contextlib.asynccontextmanager
async def redis_store_at(url: str) -> AsyncIterator[RedisStore]:
    """A store under a prefix of its own, its keys deleted after."""
    prefix = f"test-presence-{uuid.uuid4().hex[:10]}"
    store = RedisStore(url, prefix)
    try:
        yield store
    finally:
        await store.aclose()
        await delete_prefixed(url, prefix)


@pytest.fixture(params=["memory", *REDIS_PATHS])
async def store(request) -> AsyncIterator[MemoryStore | RedisStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    async with redis_store_at(redis_url_of(request)) as redis_store:
        yield redis_store


async def test_entries_versions_and_refreshes(store):
    room, later = 7, time.time() + 60
    version, entries = await store.snapshot(room)
    assert (version, entries) == (0, [])
    assert await store.add({room: ["a|1|alice", "b|1|alice"]}, later) == [room]
    first, entries = await store.snapshot(room)
    assert first > 0 and sorted(entries) == ["a|1|alice", "b|1|alice"]
    # A heartbeat re-adding the same entries is no change: same version, no room reported.
    assert await store.add({room: ["a|1|alice", "b|1|alice"]}, later + 10) == []
    assert (await store.snapshot(room))[0] == first
    assert await store.remove(room, "a|1|alice") is True
    assert await store.remove(room, "a|1|alice") is False
    second, entries = await store.snapshot(room)
    assert second > first and entries == ["b|1|alice"]


async def test_expired_entries_are_hidden_then_swept_with_a_new_version(store):
    room = 8
    await store.add({room: ["dead|2|bob"]}, time.time() + 0.2)
    await store.add({room: ["live|1|alice"]}, time.time() + 60)
    before, _ = await store.snapshot(room)
    time.sleep(0.3)
    # Past its expiry an entry no longer counts, even before any sweep.
    assert (await store.snapshot(room))[1] == ["live|1|alice"]
    assert await store.sweep() == [room]
    after, entries = await store.snapshot(room)
    assert after > before and entries == ["live|1|alice"]
    assert await store.sweep() == []


@pytest.mark.redis
async def test_version_keeps_growing_when_redis_loses_its_data():
    """A restarted Redis without persistence starts empty; sockets still remember the old
    version, so the new one must be larger or every later list would be ignored."""
    url = ensure_redis()
    prefix = f"test-presence-{uuid.uuid4().hex[:10]}"
    store = RedisStore(url, prefix)
    raw = aioredis.Redis.from_url(url)
    try:
        for i in range(50):
            await store.add({9: [f"c{i}|1|alice"]}, time.time() + 60)
        before, _ = await store.snapshot(9)
        keys = [key async for key in raw.scan_iter(f"*{prefix}:*")]
        await raw.delete(*keys)  # what a restart without persistence leaves
        await store.add({9: ["fresh|1|alice"]}, time.time() + 60)
        after, entries = await store.snapshot(9)
        assert after > before and entries == ["fresh|1|alice"]
    finally:
        await store.aclose()
        keys = [key async for key in raw.scan_iter(f"*{prefix}:*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()


async def test_entering_adds_and_reads_back_in_one_step(store):
    room, later = 11, time.time() + 60
    await store.add({room: ["old|2|bob"]}, later)
    await store.add({room: ["gone|3|carol"]}, time.time() - 1)  # expired: not read back
    before, _ = await store.snapshot(room)
    version, entries = await store.enter(room, "new|1|alice", later)
    assert version > before and sorted(entries) == ["new|1|alice", "old|2|bob"]
    assert (version, sorted(entries)) == (
        (await store.snapshot(room))[0],
        sorted((await store.snapshot(room))[1]),
    )
    # The same socket entering again (a refresh) changes nothing: same version.
    again, _ = await store.enter(room, "new|1|alice", later + 5)
    assert again == version


@pytest.fixture(params=REDIS_PATHS)
def redis_url(request) -> str:
    return redis_url_of(request)


@pytest.fixture
async def redis_store(redis_url) -> AsyncIterator[RedisStore]:
    async with redis_store_at(redis_url) as store:
        yield store


async def test_several_rooms_are_read_together_as_each_alone(store):
    now = time.time()
    await store.enter(1, "a|1|alice", now + 60)
    await store.enter(1, "b|2|bob", now + 60)
    await store.enter(2, "c|3|carol", now + 60)
    await store.add({2: ["gone|4|dave"]}, now + 0.2)
    time.sleep(0.3)  # dave's entry has expired, not yet swept
    together = await store.snapshots([1, 2, 3])
    assert together == {room: await store.snapshot(room) for room in (1, 2, 3)}
    assert sorted(together[1][1]) == ["a|1|alice", "b|2|bob"] and together[2][1] == ["c|3|carol"]
    assert together[3][1] == [] and await store.snapshots([]) == {}


async def test_what_redis_returns_is_read_as_str(redis_store):
    later = time.time() + 60
    version, entries = await redis_store.enter(12, "é1|1|zoë", later)
    assert isinstance(version, int) and entries == ["é1|1|zoë"]
    assert await redis_store.snapshot(12) == (version, ["é1|1|zoë"])
    assert await redis_store.present_user_ids() == {1}


async def test_every_step_works_after_redis_forgets_its_scripts(redis_store, redis_url):
    """SCRIPT FLUSH leaves what a restarted server knows: no script. Each is sent again."""
    store = redis_store
    flusher = aioredis.Redis.from_url(redis_url)
    later = time.time() + 60
    steps = [
        lambda: store.enter(13, "a|1|alice", later),
        lambda: store.add({13: ["b|2|bob"], 14: ["c|3|carol"]}, later),
        lambda: store.snapshot(13),
        lambda: store.remove(13, "b|2|bob"),
        store.sweep,
    ]
    try:
        for step in steps:
            await flusher.script_flush()
            await step()
    finally:
        await flusher.aclose()
    assert sorted((await store.snapshot(13))[1]) == ["a|1|alice"]
    assert (await store.snapshot(14))[1] == ["c|3|carol"]


@pytest.mark.redis
async def test_a_killed_and_restarted_redis_is_used_again(own_redis):
    store = RedisStore(own_redis.url, f"test-presence-{uuid.uuid4().hex[:10]}")
    later = time.time() + 60
    try:
        before, _ = await store.enter(5, "a|1|alice", later)
        own_redis.stop()
        # The errors callers catch (RedisError), as redis-py's client raised them.
        with pytest.raises(redis.ConnectionError):
            await store.enter(5, "b|2|bob", later)
        with pytest.raises(redis.ConnectionError):
            await store.snapshot(5)
        with pytest.raises(redis.ConnectionError):
            await store.sweep()
        own_redis.start()  # empty, and it knows no script
        after, entries = await store.enter(5, "b|2|bob", later)
        assert after > before and entries == ["b|2|bob"]
        # The heartbeat puts back what the restart lost, and the room hears of it.
        assert await store.add({5: ["a|1|alice", "b|2|bob"]}, later) == [5]
        assert sorted((await store.snapshot(5))[1]) == ["a|1|alice", "b|2|bob"]
        assert await store.sweep() == []
        assert await store.present_user_ids() == {1, 2}
    finally:
        await store.aclose()


@pytest.mark.redis
async def test_rooms_live_on_the_server_of_their_group(tmp_path):
    servers = [RedisServer(free_port(), tmp_path / f"redis-{i}.log") for i in range(2)]
    for server in servers:
        server.start()
    prefix = f"test-presence-{uuid.uuid4().hex[:10]}"
    store = RedisStore(",".join(server.url for server in servers), prefix)
    rooms: dict[int, int] = {}  # shard -> a room on it
    for room_id in range(1, 100):
        rooms.setdefault(shard_index(group_channel_name(prefix, room_group(room_id)), 2), room_id)
    first, second = rooms[0], rooms[1]
    readers = [aioredis.Redis.from_url(server.url, decode_responses=True) for server in servers]
    try:
        await store.enter(first, "a|1|alice", time.time() + 60)
        await store.enter(second, "b|2|bob", time.time() + 60)
        await store.add({first: ["c|3|carol"], second: ["d|4|dave"]}, time.time() + 60)
        await store.add({second: ["gone|5|eve"]}, time.time() + 0.2)
        for reader, room_id, other in ((readers[0], first, second), (readers[1], second, first)):
            keys = [key async for key in reader.scan_iter(f"*{prefix}*")]
            assert any(f"room.{room_id}}}" in key for key in keys)
            assert not any(f"room.{other}}}" in key for key in keys)
            assert await reader.smembers(f"{prefix}:presence:rooms") == {str(room_id)}
        assert await store.present_user_ids() == {1, 2, 3, 4, 5}
        time.sleep(0.3)
        assert await store.sweep() == [second]
        assert sorted((await store.snapshot(second))[1]) == ["b|2|bob", "d|4|dave"]
        together = await store.snapshots([first, second])  # one round trip to each server
        assert {room: sorted(entries) for room, (_, entries) in together.items()} == {
            first: ["a|1|alice", "c|3|carol"],
            second: ["b|2|bob", "d|4|dave"],
        }
        assert await store.present_user_ids() == {1, 2, 3, 4}
        servers[1].stop()
        # The room on the other server goes on.
        _, entries = await store.enter(first, "e|6|frank", time.time() + 60)
        assert sorted(entries) == ["a|1|alice", "c|3|carol", "e|6|frank"]
        with pytest.raises(redis.ConnectionError):
            await store.snapshot(second)
    finally:
        await store.aclose()
        for reader in readers:
            await reader.aclose()
        for server in servers:
            server.stop()
