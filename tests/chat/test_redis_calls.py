"""Calls to one Redis server for presence and the socket cap (mychannels/runtime/
rediscalls.py), on both of its paths: a RedisLine for a plain redis:// server, redis-py's
pool for a socket file. The same replies (decoded when asked), errors in place, scripts a
server forgot sent again by their source, calls issued together sent in one write."""

import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from mychannels.runtime.rediscalls import LuaScript, RedisCalls, raise_first
from tests.services import RedisServer, ensure_redis

pytestmark = pytest.mark.redis

COUNTER = LuaScript("return {redis.call('INCRBY', KEYS[1], ARGV[1]), ARGV[2]}")


@pytest.fixture(params=["line", "redis-py"])
def url(request) -> str:
    if request.param == "line":
        return ensure_redis()
    server: RedisServer = request.getfixturevalue("socket_file_redis")
    return server.unix_url


@pytest.fixture
async def calls(url) -> AsyncIterator[RedisCalls]:
    server = RedisCalls(url, decode_responses=True)
    yield server
    await server.aclose()


def key() -> str:
    return f"test:calls:{uuid.uuid4().hex}"


def test_the_url_picks_the_path():
    assert RedisCalls("redis://127.0.0.1:6379/0")._line is not None
    assert RedisCalls("unix:///run/redis.sock")._redis is not None
    assert RedisCalls("rediss://cache.example:6380/0")._redis is not None


async def test_replies_in_order_decoded_with_errors_in_place(calls):
    name, text = key(), key()
    await calls.call(("SET", text, "é|1|alice"))
    replies = await calls.send(("INCR", name), ("INCR", text), ("GET", text), ("INCR", name))
    assert replies[0] == 1 and replies[3] == 2
    assert isinstance(replies[1], redis.ResponseError)  # the others are still answered
    assert replies[2] == "é|1|alice"
    with pytest.raises(redis.ResponseError):
        raise_first(replies)
    assert raise_first([1, "a"]) == [1, "a"]
    await calls.call(("DEL", name, text))


async def test_bytes_unless_decoding_is_asked_for(url):
    raw = RedisCalls(url)
    name = key()
    try:
        await raw.call(("SET", name, "é"))
        assert await raw.send(("GET", name), ("STRLEN", name)) == ["é".encode(), 2]
        await raw.call(("DEL", name))
    finally:
        await raw.aclose()


async def test_a_script_the_server_forgot_is_sent_again_by_its_source(calls):
    name = key()
    await calls.call(("SCRIPT", "FLUSH"))  # what a restarted Redis knows
    first, other = await calls.send(COUNTER.call([name], [2, "x"]), ("EXISTS", name))
    assert first == [2, "x"] and other == 0  # the EXISTS went out before the EVAL
    assert await calls.call(("SCRIPT", "EXISTS", COUNTER.sha)) == [1]
    await calls.call(("SCRIPT", "FLUSH"))
    assert await calls.call(COUNTER.call([name], [3, "y"])) == [5, "y"]
    assert await calls.call(COUNTER.call([name], [1, "z"])) == [6, "z"]  # by SHA now
    await calls.call(("DEL", name))


async def test_calls_sent_together_go_out_in_one_write():
    calls = RedisCalls(ensure_redis())
    try:
        await calls.call(("PING",))  # the connection is open
        transport = calls._line._protocol.transport
        writes = []
        write = transport.write
        transport.write = lambda data: (writes.append(data), write(data))[1]
        name = key()
        replies = await calls.send(COUNTER.call([name], [1, "a"]), ("SADD", key(), 1))
        assert replies == [[1, b"a"], 1] and len(writes) == 1
    finally:
        await calls.aclose()


async def test_a_restarted_server_is_used_again_on_both_paths(own_redis, socket_file_redis):
    for server in (own_redis, socket_file_redis):
        url = server.url if server is own_redis else server.unix_url
        calls = RedisCalls(url, decode_responses=True)
        try:
            assert await calls.call(COUNTER.call(["n"], [1, "a"])) == [1, "a"]
            server.stop()
            with pytest.raises(redis.ConnectionError):
                raise_first(await calls.send(("PING",), ("PING",)))
            server.start()  # empty, and knows no script
            again = await calls.send(COUNTER.call(["n"], [1, "b"]), ("INCR", "m"))
            assert again == [[1, "b"], 1]
        finally:
            await calls.aclose()
