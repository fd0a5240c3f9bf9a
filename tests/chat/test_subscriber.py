"""The pub/sub connection that hands each message to the layer as it is read
(mychannels/runtime/subscriber.py), on real Redis servers: subscribing, unsubscribing, a
server that goes away and comes back (subscribed again, then told), and one that is down."""

import asyncio
import uuid

import pytest
import redis
from redis import asyncio as aioredis

from mychannels.runtime.subscriber import SUBSCRIBE_BATCH, Subscriber
from tests.liveserver import free_port
from tests.services import ensure_redis

pytestmark = pytest.mark.redis


class Heard:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.reconnects = 0

    def message(self, channel: bytes, data: bytes) -> None:
        self.messages.append((channel, data))

    def reconnected(self) -> None:
        self.reconnects += 1

    async def until(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.messages) < count:
                await asyncio.sleep(0.01)


def channel() -> str:
    return f"test:sub:{uuid.uuid4().hex}"


async def subscribed(client: aioredis.Redis, name: str, expected: int) -> None:
    async with asyncio.timeout(5):
        while dict(await client.pubsub_numsub(name)).get(name.encode(), 0) != expected:
            await asyncio.sleep(0.01)


@pytest.fixture
async def publisher():
    client = aioredis.Redis.from_url(ensure_redis())
    yield client
    await client.aclose()


async def test_messages_reach_the_handler_in_order_until_unsubscribed(publisher):
    heard = Heard()
    subscriber = Subscriber(ensure_redis(), heard.message, heard.reconnected)
    first, second = channel(), channel()
    try:
        await subscriber.subscribe(first, second)
        await subscribed(publisher, second, 1)
        for number in range(50):
            await publisher.publish(first if number % 2 else second, f"m{number}")
        await heard.until(50)
        assert [data for _, data in heard.messages] == [f"m{n}".encode() for n in range(50)]
        assert {name for name, _ in heard.messages} == {first.encode(), second.encode()}
        await subscriber.unsubscribe(first)
        await subscribed(publisher, first, 0)
        await publisher.publish(first, "not heard")
        await publisher.publish(second, "heard")
        await heard.until(51)
        assert heard.messages[-1] == (second.encode(), b"heard")
        assert subscriber.channels == {second}
        assert heard.reconnects == 0
    finally:
        await subscriber.aclose()


async def test_a_server_that_comes_back_is_subscribed_again_and_then_it_is_told(own_redis):
    heard = Heard()
    subscriber = Subscriber(own_redis.url, heard.message, heard.reconnected, longest_pause=0.2)
    # More channels than one SUBSCRIBE carries when they are subscribed again.
    names = [channel() for _ in range(SUBSCRIBE_BATCH + 5)]
    try:
        await subscriber.subscribe(*names)
        own_redis.stop()
        await asyncio.sleep(0.3)  # a few attempts fail meanwhile
        own_redis.start()
        client = aioredis.Redis.from_url(own_redis.url)
        try:
            await subscribed(client, names[-1], 1)
            async with asyncio.timeout(5):
                while heard.reconnects != 1:
                    await asyncio.sleep(0.01)
            await client.publish(names[0], "after")
            await heard.until(1)
            assert heard.messages == [(names[0].encode(), b"after")]
        finally:
            await client.aclose()
    finally:
        await subscriber.aclose()


async def test_subscribing_on_a_server_that_is_down_fails_and_keeps_nothing():
    heard = Heard()
    subscriber = Subscriber(f"redis://127.0.0.1:{free_port()}/0", heard.message, heard.reconnected)
    with pytest.raises(redis.ConnectionError):
        await subscriber.subscribe(channel())
    assert subscriber.channels == set()
    await subscriber.unsubscribe("never-subscribed")  # nothing to do, no error
    await subscriber.aclose()
