"""A socket's inbox (mychannels/runtime/inbox.py): what Daphne and the channel layer need of an
asyncio.Queue, in the same order, with nothing lost when its reader is cancelled, and light
enough that every open socket can hold two."""

import asyncio
import sys

import pytest

from mychannels.runtime.inbox import Inbox
from mychannels.runtime.server import ChatServer


async def test_items_come_out_in_order_whether_put_before_or_while_waiting():
    inbox = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2 and not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty() and inbox.qsize() == 0
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    inbox.put_nowait(4)
    assert await reader == 3
    assert await inbox.get() == 4


async def test_many_items_from_another_task_arrive_exactly_once_in_order():
    inbox = Inbox()

    async def produce():
        for n in range(1000):
            inbox.put_nowait(n)
            if n % 7 == 0:
                await asyncio.sleep(0)

    producer = asyncio.ensure_future(produce())
    received = [await inbox.get() for _ in range(1000)]
    await producer
    assert received == list(range(1000)) and inbox.empty()


async def test_a_cancelled_reader_loses_nothing_and_the_next_one_reads():
    inbox = Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("frame")  # wakes the reader, which is cancelled before it runs
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await asyncio.wait_for(inbox.get(), 1) == "frame"
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled while waiting, with nothing put
    with pytest.raises(asyncio.CancelledError):
        await waiting
    inbox.put_nowait("next")
    assert await asyncio.wait_for(inbox.get(), 1) == "next"


async def test_a_second_reader_is_refused_rather_than_left_waiting_forever():
    inbox = Inbox()
    first = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    inbox.put_nowait("x")
    assert await first == "x"


def test_an_empty_inbox_is_a_fraction_of_an_asyncio_queue():
    def size(queue):
        parts = [queue, *getattr(queue, "__dict__", {}).values()]
        finished = getattr(queue, "_finished", None)
        if finished is not None:
            parts += list(vars(finished).values())
        return sum(sys.getsizeof(part) for part in parts)

    assert size(Inbox()) * 10 < size(asyncio.Queue())


async def test_each_socket_gets_inboxes_from_daphne_and_the_layer_http_keeps_its_queue(
    pubsub_layer,
):
    """Installed where a socket's two queues are made: the server (mychannels/runtime/server.py)
    and the pub/sub layer (mychannels/runtime/layers.py); frames and events still arrive."""
    received = []

    async def application(scope, receive, send):
        received.append(await receive())

    server = ChatServer(application=application, endpoints=["tcp:port=0"])  # not run
    socket, request = object(), object()
    server.connections = {socket: {}, request: {}}
    frames = server.create_application(socket, {"type": "websocket", "path": "/"})
    assert isinstance(frames, Inbox)
    frames.put_nowait({"type": "websocket.connect"})
    await server.connections[socket]["application_instance"]
    assert received == [{"type": "websocket.connect"}]
    body = server.create_application(request, {"type": "http", "path": "/"})
    assert type(body) is asyncio.Queue  # HTTP requests: Daphne's own
    body.put_nowait({"type": "http.request"})
    await server.connections[request]["application_instance"]

    channel = await pubsub_layer.new_channel()
    assert isinstance(pubsub_layer._get_layer().channels[channel], Inbox)
    await pubsub_layer.send(channel, {"type": "chat.message", "text": "hi"})
    assert await asyncio.wait_for(pubsub_layer.receive(channel), 5) == {
        "type": "chat.message",
        "text": "hi",
    }
