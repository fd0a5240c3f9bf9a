"""A broadcast goes straight to the members that can take it now (mychannels/runtime/fanout.py,
mychannels/runtime/layers.py), on the real Redis pub/sub layer: a member whose reader is parked
on an empty inbox gets it from its handler, in the layer's one pass over the group; any other
member, or a handler that declines or fails, gets it through its inbox, after what was
already queued. So no event is lost, doubled or reordered for anyone."""

import asyncio
import functools

import pytest
from daphne.server import Server

from mychannels.runtime.fanout import text_writer
from tests.chat.test_layer_decode_once import GROUP, members

pytestmark = pytest.mark.redis


def message(n: int) -> dict:
    return {"type": "chat.message", "text": f'{{"type":"message","id":{n}}}'}


class Recorder:
    """A direct handler that takes what it is told to, and says so."""

    def __init__(self, answer: bool | Exception = True) -> None:
        self.answer = answer
        self.events: list[dict] = []

    def __call__(self, event: dict) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer:
            self.events.append(event)
        return self.answer


async def parked_reader(layer, channel: str) -> asyncio.Task:
    """A consumer's reader waiting on the channel, as SerialDispatchMixin's is while idle."""
    reader = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)
    assert not reader.done()
    return reader


async def until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def stop(reader: asyncio.Task) -> None:
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader


async def test_parked_members_take_it_from_their_handler_the_others_from_their_inbox(
    pubsub_layer,
):
    direct_one, direct_two, queued = await members(pubsub_layer, 3)
    handlers = {direct_one: Recorder(), direct_two: Recorder()}
    readers = {}
    for channel, handler in handlers.items():
        pubsub_layer.deliver_directly(channel, handler)
        readers[channel] = await parked_reader(pubsub_layer, channel)

    await pubsub_layer.group_send(GROUP, message(1))
    received = await asyncio.wait_for(pubsub_layer.receive(queued), 5)
    await until(lambda: all(h.events for h in handlers.values()))

    assert received == message(1)
    for channel, handler in handlers.items():
        assert handler.events == [message(1)]
        assert handler.events[0] is received, "decoded once for the whole group"
        assert not readers[channel].done(), "the event also went through the inbox"
        await stop(readers[channel])


async def test_a_member_with_events_queued_gets_the_next_one_queued_behind_them(pubsub_layer):
    (channel,) = await members(pubsub_layer, 1)
    handler = Recorder()
    pubsub_layer.deliver_directly(channel, handler)
    # Its reader is busy (not parked): the first event waits in the inbox...
    inbox = pubsub_layer._get_layer().channels[channel]
    await pubsub_layer.group_send(GROUP, message(1))
    await pubsub_layer.group_send(GROUP, message(2))
    await until(lambda: inbox.qsize() == 2)
    first = await asyncio.wait_for(pubsub_layer.receive(channel), 5)
    second = await asyncio.wait_for(pubsub_layer.receive(channel), 5)
    # ...and so does the second, behind it, though a handler was lent.
    assert [first, second] == [message(1), message(2)]
    assert handler.events == []
    # Parked again, the next one takes the handler.
    reader = await parked_reader(pubsub_layer, channel)
    await pubsub_layer.group_send(GROUP, message(3))
    await until(lambda: handler.events)
    assert handler.events == [message(3)]
    await stop(reader)


@pytest.mark.parametrize("answer", [False, RuntimeError("a handler that fails")])
async def test_a_handler_that_declines_or_fails_leaves_the_event_to_the_inbox(
    pubsub_layer, answer, caplog
):
    (channel,) = await members(pubsub_layer, 1)
    pubsub_layer.deliver_directly(channel, Recorder(answer))
    reader = await parked_reader(pubsub_layer, channel)
    await pubsub_layer.group_send(GROUP, message(1))
    assert await asyncio.wait_for(reader, 5) == message(1)
    if isinstance(answer, Exception):
        assert "a direct delivery failed" in caplog.text


async def test_a_handler_taken_back_gets_nothing_more(pubsub_layer):
    (channel,) = await members(pubsub_layer, 1)
    handler = Recorder()
    pubsub_layer.deliver_directly(channel, handler)
    pubsub_layer.deliver_directly(channel, None)
    reader = await parked_reader(pubsub_layer, channel)
    await pubsub_layer.group_send(GROUP, message(1))
    assert await asyncio.wait_for(reader, 5) == message(1)
    assert handler.events == []


async def test_a_message_to_one_channel_never_takes_the_handler(pubsub_layer):
    channel = await pubsub_layer.new_channel()
    handler = Recorder()
    pubsub_layer.deliver_directly(channel, handler)
    reader = await parked_reader(pubsub_layer, channel)
    await pubsub_layer.send(channel, {"type": "user.logout"})
    assert await asyncio.wait_for(reader, 5) == {"type": "user.logout"}
    assert handler.events == []


class FakeProtocol:
    """Records what Daphne would hand the protocol."""

    def __init__(self) -> None:
        self.replies: list[dict] = []

    def handle_reply(self, message: dict) -> None:
        self.replies.append(message)


def test_only_daphnes_own_send_has_a_text_writer():
    async def other_server_send(message: dict) -> None: ...

    assert text_writer(other_server_send) is None
    assert text_writer(functools.partial(other_server_send)) is None


def test_the_text_writer_sends_like_daphne_and_not_to_a_connection_that_is_gone():
    server = Server.__new__(Server)  # only its connections table is read
    protocol = FakeProtocol()
    server.connections = {protocol: {}}
    write = text_writer(functools.partial(server.handle_reply, protocol))
    write("one")
    server.connections[protocol]["disconnected"] = 1.0
    write("two")
    del server.connections[protocol]
    write("three")
    assert protocol.replies == [{"type": "websocket.send", "text": "one"}]
