"""The pipelined Redis connection of the message path (mychannels/runtime/redisline.py), on
real Redis servers: replies matched to callers in order, errors as redis-py's, a caller that
gives up, a server that stops answering, restarts, or forgets its scripts."""

import asyncio
import gc
import uuid

import pytest
import redis
from redis import asyncio as aioredis

from mychannels.runtime.redisline import RedisLine
from tests.services import ensure_redis

pytestmark = pytest.mark.redis


@pytest.fixture
async def line():
    connection = RedisLine(ensure_redis(), timeout=2.0)
    yield connection
    await connection.aclose()


def key() -> str:
    return f"test:line:{uuid.uuid4().hex}"


async def test_replies_come_back_to_their_own_callers(line):
    keys = [key() for _ in range(300)]
    # Issued together: they go out in a few writes and come back in order.
    firsts = await asyncio.gather(*(line.execute("INCRBY", k, i) for i, k in enumerate(keys)))
    assert firsts == list(range(300))
    assert await line.execute("SET", keys[0], "é") == b"OK"
    assert await line.execute("GET", keys[0]) == "é".encode()
    assert await line.execute("DEL", *keys) == 300


async def test_decoded_replies_are_str_as_from_redis_py_with_decode_responses():
    line = RedisLine(ensure_redis(), decode_responses=True)
    name = key()
    try:
        assert await line.execute("SET", name, "é|1|ünï") == "OK"
        assert await line.execute("GET", name) == "é|1|ünï"
        nested = await line.execute("EVAL", "return {KEYS[1], 7, {'a'}}", 1, name)
        assert nested == [name, 7, ["a"]]  # numbers stay ints, nested strings are str too
        assert await line.execute("GET", key()) is None
        with pytest.raises(redis.ResponseError, match="not an integer"):
            await line.execute("INCR", name)
    finally:
        await line.execute("DEL", name)
        await line.aclose()


async def test_an_error_reply_is_redis_pys_error_and_the_connection_stays(line):
    name = key()
    await line.execute("SET", name, "text")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        await line.execute("INCR", name)
    with pytest.raises(redis.ResponseError, match="unknown command"):
        await line.execute("NO-SUCH-COMMAND")
    assert await line.execute("GET", name) == b"text"
    await line.execute("DEL", name)


async def test_a_caller_that_gives_up_does_not_shift_the_replies(line):
    waiting_on = key()
    gave_up = asyncio.ensure_future(line.execute("BLPOP", waiting_on, 0.3))
    await asyncio.sleep(0.05)
    gave_up.cancel()
    later = key()
    # Redis answers BLPOP first (nil, after 0.3 s), then this: the nil is dropped.
    assert await line.execute("INCR", later) == 1
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert await line.execute("INCR", later) == 2
    await line.execute("DEL", later)


async def test_commands_sent_together_answer_in_order_each_error_in_its_place(line):
    name, text = key(), key()
    await line.execute("SET", text, "text")
    replies = await line.execute_many([("INCR", name), ("INCR", text), ("INCRBY", name, 5)])
    assert replies[0] == 1 and replies[2] == 6
    assert isinstance(replies[1], redis.ResponseError)  # returned, not raised
    assert await line.execute("DEL", name, text) == 2  # the connection stays in use


async def test_commands_sent_together_by_a_caller_that_gives_up_leave_no_stray_error(line):
    """The replies still owed to a cancelled caller are dropped, the next caller gets its own,
    and no failure is left unread (asyncio would log "exception was never retrieved")."""
    unread: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: unread.append(context))
    name = key()
    gave_up = asyncio.ensure_future(
        line.execute_many([("BLPOP", key(), 0.3), ("INCR", name), ("NO-SUCH-COMMAND",)])
    )
    await asyncio.sleep(0.05)
    gave_up.cancel()
    assert await line.execute("INCR", name) == 2  # after the cancelled caller's INCR
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    del gave_up
    gc.collect()
    assert unread == []
    await line.execute("DEL", name)


async def test_a_server_that_stops_answering_times_out_and_the_next_call_reconnects():
    line = RedisLine(ensure_redis(), timeout=0.3)
    try:
        with pytest.raises(redis.TimeoutError):
            await line.execute("BLPOP", key(), 0)  # blocks for ever
        name = key()
        assert await line.execute("INCR", name) == 1
        await line.execute("DEL", name)
    finally:
        await line.aclose()


async def test_the_url_chooses_the_database():
    base = ensure_redis().rsplit("/", 1)[0]
    line = RedisLine(f"{base}/5")
    reader = aioredis.Redis.from_url(f"{base}/5")
    name = key()
    try:
        await line.execute("SET", name, "in five")
        assert await reader.get(name) == b"in five"
        assert await line.execute("DEL", name) == 1
    finally:
        await line.aclose()
        await reader.aclose()


async def test_a_restarted_server_is_reached_again_and_a_down_one_fails_fast(own_redis):
    line = RedisLine(own_redis.url, timeout=2.0, connect_timeout=1.0)
    try:
        assert await line.execute("PING") == b"PONG"
        own_redis.stop()
        with pytest.raises(redis.ConnectionError):
            await line.execute("PING")
        own_redis.start()
        # The kept connection died with the server: the call goes out again on a new one.
        assert await line.execute("PING") == b"PONG"
        own_redis.stop()
        waiting = asyncio.ensure_future(line.execute("BLPOP", key(), 0))
        await asyncio.sleep(0)
        with pytest.raises(redis.ConnectionError):
            await waiting
    finally:
        await line.aclose()


async def test_commands_sent_together_on_a_connection_that_died_go_out_again(own_redis):
    line = RedisLine(own_redis.url, timeout=2.0, connect_timeout=1.0)
    try:
        assert await line.execute("PING") == b"PONG"
        own_redis.stop()
        own_redis.start()
        # The kept connection died with the server: both go out again on a new one.
        assert await line.execute_many([("PING",), ("ECHO", "again")]) == [b"PONG", b"again"]
        own_redis.stop()
        replies = await line.execute_many([("PING",), ("PING",)])
        assert all(isinstance(reply, redis.ConnectionError) for reply in replies)
    finally:
        await line.aclose()


async def test_a_password_in_the_url_is_sent(own_redis):
    port = own_redis.port
    admin = aioredis.Redis.from_url(own_redis.url)
    try:
        await admin.config_set("requirepass", "s3cret")
        without = RedisLine(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(redis.AuthenticationError):
            await without.execute("PING")
        await without.aclose()
        line = RedisLine(f"redis://:s3cret@127.0.0.1:{port}/0")
        assert await line.execute("PING") == b"PONG"
        await line.aclose()
    finally:
        await admin.aclose()


def test_only_plain_tcp_servers_are_taken():
    assert RedisLine.handles("redis://127.0.0.1:6379/0")
    assert not RedisLine.handles("rediss://cache.example:6380/0")
    assert not RedisLine.handles("unix:///run/redis.sock")
