"""The dashboard's counts on the real Redis server: activity counters written by several
"processes" (separate writers on one prefix), the service-wide socket count and the users
present, each forgetting what expires."""

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from chat.services.presence_store import MemoryStore, RedisStore
from chat.socketcap import RedisSockets
from mychannels.dashboard.counters import (
    ALERT_KEY_TTL_SECONDS,
    MESSAGE_KEY_TTL_SECONDS,
    MemoryActivity,
    RedisActivity,
)
from tests.services import ensure_redis

pytestmark = pytest.mark.redis

NOW = 1_800_000_030.0  # 30 s into a minute


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    url = ensure_redis()
    name = f"test-dash-{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def record(writer, room_id: int, minutes_ago: int, count: int = 1) -> None:
    for _ in range(count):
        writer.message_counted(room_id, NOW - 60 * minutes_ago)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_counts_from_two_processes_add_up_per_minute_and_per_room(kind, prefix):
    url = ensure_redis()
    if kind == "redis":
        process_one, process_two = RedisActivity(url, prefix), RedisActivity(url, prefix)
        reader = process_one
    else:  # one process: both "writers" are the same store
        process_one = process_two = reader = MemoryActivity()
    record(process_one, 1, 0, 3)
    record(process_two, 1, 0, 2)
    record(process_two, 2, 1, 4)
    record(process_one, 3, 59, 1)  # the oldest minute shown
    record(process_one, 4, 60, 9)  # just outside the hour
    for room_id in (10, 11, 12, 13):  # ties with room 3 (1 message): lower ids first
        record(process_two, room_id, 5)
    for level, minutes_ago in (("critical", 0), ("critical", 60 * 23), ("info", 60 * 25)):
        process_one.alert_counted(level, NOW - 60 * minutes_ago)
    process_two.alert_counted("warning", NOW)
    if kind == "redis":
        process_one.flush()
        process_two.flush()
    snapshot = await reader.snapshot(NOW)
    assert len(snapshot.minutes) == 60 and snapshot.minutes[-1] == int(NOW // 60)
    per_minute = snapshot.messages_per_minute
    assert (per_minute[-1], per_minute[-2], per_minute[0]) == (5, 4, 1)
    assert sum(per_minute) == 5 + 4 + 1 + 4
    assert [(r.room_id, r.messages_last_hour) for r in snapshot.busiest_rooms[:5]] == [
        (1, 5),
        (2, 4),
        (3, 1),
        (10, 1),
        (11, 1),
    ]
    busiest = snapshot.busiest_rooms[0]
    assert busiest.per_minute == [0] * 59 + [5]
    assert snapshot.busiest_rooms[1].per_minute[-2] == 4
    assert snapshot.alerts_by_level == {"info": 0, "warning": 1, "critical": 2}


async def test_keys_expire_by_themselves(prefix):
    url = ensure_redis()
    writer = RedisActivity(url, prefix)
    writer.message_counted(1, time.time())
    writer.alert_counted("info", time.time())
    writer.flush()
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        keys = sorted([key async for key in client.scan_iter(f"*{prefix}:*")])
        assert [key.split(":")[-2] for key in keys] == ["alerts", "messages", "rooms"]
        ttls = {key.split(":")[-2]: await client.ttl(key) for key in keys}
    finally:
        await client.aclose()
    assert 0 < ttls["messages"] <= MESSAGE_KEY_TTL_SECONDS
    assert 0 < ttls["rooms"] <= MESSAGE_KEY_TTL_SECONDS
    assert 0 < ttls["alerts"] <= ALERT_KEY_TTL_SECONDS


async def test_the_flusher_thread_writes_without_being_asked(prefix):
    url = ensure_redis()
    writer, reader = RedisActivity(url, prefix), RedisActivity(url, prefix)
    for _ in range(500):
        writer.message_counted(7, time.time())
    deadline = time.monotonic() + 5
    while sum((await reader.snapshot(time.time())).messages_per_minute) < 500:
        assert time.monotonic() < deadline, "the counts never reached Redis"
        time.sleep(0.05)
    assert sum((await reader.snapshot(time.time())).messages_per_minute) == 500


async def test_open_sockets_are_counted_across_processes_and_crashed_ones_drop_out(prefix):
    url = ensure_redis()
    now = [1_000_000.0]

    def clock() -> float:
        return now[0]

    process_one = RedisSockets(url, prefix, ttl=40, clock=clock)
    process_two = RedisSockets(url, prefix, ttl=40, clock=clock)
    assert await process_one.admit(7, "a", cap=5)
    assert await process_two.admit(7, "b", cap=5)
    assert await process_two.admit(8, "c", cap=5)
    assert not await process_two.admit(8, "refused", cap=1)  # refused: never counted
    assert await process_one.open_count() == 3
    await process_two.release(8, "c")
    assert await process_two.open_count() == 2
    now[0] += 30
    await process_two.refresh()  # process one has "crashed": no heartbeat
    now[0] += 30
    assert await process_one.open_count() == 1


@pytest.fixture(params=["memory", "redis"])
def presence_stores(request, prefix):
    if request.param == "memory":
        store = MemoryStore()
        return store, store
    url = ensure_redis()
    return RedisStore(url, prefix), RedisStore(url, prefix)


async def test_users_present_count_each_user_once_across_rooms_and_processes(presence_stores):
    process_one, process_two = presence_stores
    later = time.time() + 60
    await process_one.add({1: ["t1|10|alice", "t2|10|alice"], 2: ["t3|11|bob"]}, later)
    await process_two.add({2: ["t4|10|alice"], 3: ["t5|12|carol"]}, later)
    await process_two.add({3: ["t6|13|dave"]}, time.time() + 0.2)
    assert await process_one.present_user_ids() == {10, 11, 12, 13}
    time.sleep(0.3)  # dave's only socket expired: he is no longer present
    assert await process_two.present_user_ids() == {10, 11, 12}
    await process_one.remove(2, "t3|11|bob")
    assert await process_one.present_user_ids() == {10, 12}
