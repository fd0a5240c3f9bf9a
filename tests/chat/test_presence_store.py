"""The presence store on the real Redis server (the Lua scripts) and in memory: entries per
socket, a version that grows with every change and survives Redis losing its data, and the
sweep that drops a dead process's entries."""

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from chat.services.presence_store import MemoryStore, RedisStore
from tests.services import ensure_redis


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request) -> AsyncIterator[MemoryStore | RedisStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = ensure_redis()
    prefix = f"test-presence-{uuid.uuid4().hex[:10]}"
    yield RedisStore(url, prefix)
    cleanup = aioredis.Redis.from_url(url)
    keys = [key async for key in cleanup.scan_iter(f"*{prefix}:*")]
    if keys:
        await cleanup.delete(*keys)
    await cleanup.aclose()


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
