"""The Redis pub/sub channel layer decodes each published event once per process
(mychannels/runtime/layers.py): every member channel of a group gets the very same event dict, so a
broadcast's text is one string object that mychannels/runtime/wsprotocol.py frames once. Different
publishes, and equal bytes that are different objects, are still decoded each on their own.

Each test gets a PubSubChannelLayer built from settings' own config, under a prefix of its
own on the real Redis."""

import asyncio

import pytest
from redis import asyncio as aioredis

from mychannels.runtime.layers import PubSubChannelLayer
from tests.services import ensure_redis

pytestmark = pytest.mark.redis

GROUP = "room.1"
EVENT = {
    "type": "chat.message",
    "text": '{"type":"message","body":"héllo wörld 😀 "}' + "€" * 3000,
    "id": 42,
}


async def wait_subscribed(layer: PubSubChannelLayer, group: str) -> None:
    """Until Redis has the group's subscription: a publish before it would be lost."""
    channel = f"{layer.test_prefix}__group__{group}"  # channels-redis's name for the group
    client = aioredis.Redis.from_url(ensure_redis())
    try:
        async with asyncio.timeout(5):
            while dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def members(layer: PubSubChannelLayer, count: int, group: str = GROUP) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    await wait_subscribed(layer, group)
    return channels


async def receive(layer: PubSubChannelLayer, channel: str) -> dict:
    return await asyncio.wait_for(layer.receive(channel), 5)


async def test_every_member_gets_the_very_same_decoded_event(pubsub_layer):
    channels = await members(pubsub_layer, 3)
    await pubsub_layer.group_send(GROUP, EVENT)
    received = [await receive(pubsub_layer, channel) for channel in channels]
    assert received[0] == EVENT
    assert all(event is received[0] for event in received)
    assert all(event["text"] is received[0]["text"] for event in received)


async def test_two_sends_are_two_events_even_when_equal(pubsub_layer):
    channels = await members(pubsub_layer, 2)
    second = {**EVENT, "id": 43}
    for event in (EVENT, EVENT, second):
        await pubsub_layer.group_send(GROUP, event)
    per_channel = [[await receive(pubsub_layer, ch) for _ in range(3)] for ch in channels]
    for events in per_channel:
        assert events == [EVENT, EVENT, second]
        assert len({id(event) for event in events}) == 3, "two publishes shared one dict"
    for position in range(3):  # ...while both members share each publish's dict
        assert per_channel[0][position] is per_channel[1][position]


async def test_a_message_to_one_channel_still_arrives_decoded(pubsub_layer):
    channel = await pubsub_layer.new_channel()
    other = await pubsub_layer.new_channel()
    await pubsub_layer.send(channel, {"type": "user.logout"})
    await pubsub_layer.send(other, {"type": "user.removed", "room_id": 3})
    assert await receive(pubsub_layer, channel) == {"type": "user.logout"}
    assert await receive(pubsub_layer, other) == {"type": "user.removed", "room_id": 3}


async def test_equal_but_different_bytes_are_each_decoded_correctly(pubsub_layer):
    data = pubsub_layer.serialize(EVENT)
    copy = bytes(bytearray(data))
    assert copy == data and copy is not data
    first = pubsub_layer.deserialize(data)
    second = pubsub_layer.deserialize(copy)
    assert first == second == EVENT
    assert second is not first
    assert pubsub_layer.deserialize(data) is first  # the same object: decoded once
    other = pubsub_layer.serialize({"type": "chat.typing", "user_id": 1, "text": "t"})
    assert pubsub_layer.deserialize(other) == {"type": "chat.typing", "user_id": 1, "text": "t"}


async def test_short_lived_bytes_never_get_a_stale_event(pubsub_layer):
    """CPython reuses a freed object's id at once; the cache keeps its bytes alive, so no
    id can point at another message's event. It also stays bounded."""
    for number in range(2000):
        data = pubsub_layer.serialize({"type": "chat.message", "id": number, "text": "x"})
        assert pubsub_layer.deserialize(data)["id"] == number
        del data
        assert len(pubsub_layer._decoded) <= PubSubChannelLayer._DECODED_CACHE_SIZE
