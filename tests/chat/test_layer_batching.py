"""The pub/sub layer sends subscriptions in batches (mychannels/runtime/layers.py): requests made
while one batch is on its way go out together, in the order they were asked for, and each
caller returns once its command is written. On the real Redis."""

import asyncio

import pytest
from redis import asyncio as aioredis

from mychannels.runtime.layers import PubSubChannelLayer, _runs_of_a_kind
from tests.services import ensure_redis

pytestmark = pytest.mark.redis


async def subscribers(layer: PubSubChannelLayer, group: str) -> int:
    channel = f"{layer.test_prefix}__group__{group}"
    client = aioredis.Redis.from_url(ensure_redis())
    try:
        return dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        await client.aclose()


async def eventually_subscribers(layer: PubSubChannelLayer, group: str, expected: int) -> None:
    async with asyncio.timeout(5):
        while await subscribers(layer, group) != expected:
            await asyncio.sleep(0.02)


def test_requests_are_grouped_in_runs_of_a_kind_in_order():
    futures = [object() for _ in range(5)]
    requests = [
        ("subscribe", "a", futures[0]),
        ("subscribe", "b", futures[1]),
        ("unsubscribe", "a", futures[2]),
        ("subscribe", "a", futures[3]),
        ("subscribe", "c", futures[4]),
    ]
    assert _runs_of_a_kind(requests) == [
        ("subscribe", [("a", futures[0]), ("b", futures[1])]),
        ("unsubscribe", [("a", futures[2])]),
        ("subscribe", [("a", futures[3]), ("c", futures[4])]),
    ]


async def test_a_storm_of_joins_is_subscribed_and_every_member_hears_the_group(pubsub_layer):
    layer = pubsub_layer
    channels = await asyncio.gather(*[layer.new_channel() for _ in range(300)])
    groups = [f"room.{n % 30}" for n in range(300)]
    await asyncio.gather(*[layer.group_add(g, c) for g, c in zip(groups, channels, strict=True)])
    shard = layer._get_layer()._shards[0]
    assert shard._requests == [] and shard._sender is None  # nothing left waiting
    for n in range(30):
        await eventually_subscribers(layer, f"room.{n}", 1)
    await layer.group_send("room.7", {"type": "chat.message", "text": "to room 7"})
    heard = [c for c, g in zip(channels, groups, strict=True) if g == "room.7"]
    for channel in heard:
        event = await asyncio.wait_for(layer.receive(channel), 5)
        assert event["text"] == "to room 7"


async def test_a_leave_and_a_join_in_one_batch_keep_their_order(pubsub_layer):
    layer = pubsub_layer
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room.1", first)
    await eventually_subscribers(layer, "room.1", 1)
    # The last member leaves and another joins at once: the room must stay subscribed.
    await asyncio.gather(layer.group_discard("room.1", first), layer.group_add("room.1", second))
    await eventually_subscribers(layer, "room.1", 1)
    await layer.group_send("room.1", {"type": "chat.message", "text": "still here"})
    assert (await asyncio.wait_for(layer.receive(second), 5))["text"] == "still here"
    # And the other way round: a join then the only member's leave ends unsubscribed.
    await asyncio.gather(layer.group_add("room.2", first), layer.group_discard("room.2", first))
    await eventually_subscribers(layer, "room.2", 0)


async def test_a_failed_batch_fails_its_callers_and_the_next_one_still_goes(pubsub_layer):
    layer = pubsub_layer
    channel = await layer.new_channel()
    shard = layer._get_layer()._shards[0]
    real_pubsub = shard._pubsub

    class Broken:
        async def subscribe(self, *channels):
            raise ConnectionError("redis went away")

    shard._pubsub = Broken()
    with pytest.raises(ConnectionError):
        await layer.group_add("room.3", channel)
    shard._pubsub = real_pubsub
    await layer.group_add("room.4", channel)
    await eventually_subscribers(layer, "room.4", 1)


async def test_callers_are_not_left_waiting_when_the_sender_is_cancelled(pubsub_layer):
    layer = pubsub_layer
    channel = await layer.new_channel()
    shard = layer._get_layer()._shards[0]
    real_pubsub, started = shard._pubsub, asyncio.Event()

    class Stuck:
        async def subscribe(self, *channels):
            started.set()
            await asyncio.sleep(60)

    shard._pubsub = Stuck()
    first = asyncio.ensure_future(layer.group_add("room.5", channel))
    await started.wait()
    queued = asyncio.ensure_future(layer.group_add("room.6", channel))  # behind the stuck one
    await asyncio.sleep(0)
    shard._sender.cancel()  # as when the loop closes
    for caller in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 5)
    assert shard._sender is None
    shard._pubsub = real_pubsub
    await layer.group_add("room.7", channel)  # a new sender starts for the next request
    await eventually_subscribers(layer, "room.7", 1)
