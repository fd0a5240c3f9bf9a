"""The room socket's event loop (mychannels/runtime/dispatchloop.py) keeps channels' contract:
handlers one at a time, group events in order, a failing or stopping handler ends the socket
and nothing runs after it, no reader task outlives the socket. Socket login
(mychannels/runtime/auth.py) gives the scope a plain user and the server's own send, and any cookie
value at all yields a user."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import LazyObject

from chat.groups import room_group
from mychannels.runtime.auth import SessionAuthMiddlewareStack
from mychannels.runtime.dispatchloop import SerialDispatchMixin, TakeTurns
from tests.conftest import Socket, communicator, make_room, make_user, session_cookie

uses_db = pytest.mark.django_db(transaction=True)


class HandlerFailed(Exception):
    pass


class Probe:
    """Shared by a test and its consumer: what the handlers did, in order, and a gate that
    handlers wait at (open unless the test holds it)."""

    def __init__(self, gate_open: bool = True) -> None:
        self.order: list[str] = []
        self.gate = asyncio.Event()
        if gate_open:
            self.gate.set()


class EchoHandlers:
    """Joins one group. A frame's handler waits at the gate; group events are echoed (after an
    optional delay), fail, or stop the consumer."""

    def __init__(self, group: str, probe: Probe) -> None:
        super().__init__()
        self.groups = [group]
        self.probe = probe

    async def dispatch(self, message: dict) -> None:
        # Straight to the handler, as RoomConsumer does for its events: no pre-handler hop.
        await getattr(self, message["type"].replace(".", "_"))(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.probe.order.append(f"frame {text_data} starts")
        await self.probe.gate.wait()
        self.probe.order.append(f"frame {text_data} ends")

    async def test_echo(self, event: dict) -> None:
        await asyncio.sleep(event.get("delay", 0))
        self.probe.order.append(f"event {event['n']}")
        await self.send(text_data=str(event["n"]))

    async def test_fail(self, event: dict) -> None:
        self.probe.order.append("failing handler starts")
        await self.probe.gate.wait()
        raise HandlerFailed("from a group event")

    async def test_stop(self, event: dict) -> None:
        raise StopConsumer


class SerialEchoConsumer(SerialDispatchMixin, EchoHandlers, AsyncWebsocketConsumer):
    pass


class StockEchoConsumer(EchoHandlers, AsyncWebsocketConsumer):
    pass  # channels' own loop (`await_many_dispatch`): the contract the mixin must keep


both_loops = pytest.mark.parametrize(
    "consumer", [SerialEchoConsumer, StockEchoConsumer], ids=["serial", "stock"]
)


def new_group() -> str:
    return f"dispatch-test-{uuid.uuid4().hex}"


async def open_socket(
    group: str, probe: Probe, consumer: type = SerialEchoConsumer
) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(consumer.as_asgi(group=group, probe=probe), "/")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def until(condition: Callable[[], bool], timeout: float = 3) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.002)


def event_readers() -> list[asyncio.Task]:
    """The loop's channel-layer reader tasks still alive, in any consumer."""
    pump = "SerialDispatchMixin._pump"
    return [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == pump]


async def test_a_group_event_waits_until_the_busy_frame_handler_has_finished():
    group, probe = new_group(), Probe(gate_open=False)
    comm = await open_socket(group, probe)
    await comm.send_to(text_data="slow")
    await until(lambda: probe.order == ["frame slow starts"])
    await get_channel_layer().group_send(group, {"type": "test.echo", "n": 1})
    await asyncio.sleep(0.1)  # the event is read by now; its handler must not start yet
    assert probe.order == ["frame slow starts"]
    probe.gate.set()
    assert await comm.receive_from() == "1"
    assert probe.order == ["frame slow starts", "frame slow ends", "event 1"]
    await comm.disconnect()


async def test_fifty_group_events_arrive_in_the_order_they_were_sent():
    group = new_group()
    comm = await open_socket(group, Probe())
    for n in range(50):  # earlier events are slower: run concurrently, they would reorder
        await get_channel_layer().group_send(
            group, {"type": "test.echo", "n": n, "delay": (50 - n) / 5000}
        )
    assert [int(await comm.receive_from(timeout=3)) for _ in range(50)] == list(range(50))
    await comm.disconnect()


@both_loops
async def test_an_error_in_a_group_event_handler_ends_the_socket_and_surfaces(consumer: type):
    group = new_group()
    comm = await open_socket(group, Probe(), consumer)
    await get_channel_layer().group_send(group, {"type": "test.fail"})
    with pytest.raises(HandlerFailed):
        await comm.wait(timeout=3)  # the app has ended, with the handler's own error
    assert comm.future.done() and isinstance(comm.future.exception(), HandlerFailed)
    with pytest.raises(HandlerFailed):  # not open and deaf: anything sent gets the error
        await comm.send_to(text_data="anyone there?")
    assert event_readers() == []


@both_loops
async def test_a_frame_read_while_a_group_event_handler_fails_never_runs(consumer: type):
    group, probe = new_group(), Probe(gate_open=False)
    comm = await open_socket(group, probe, consumer)
    await get_channel_layer().group_send(group, {"type": "test.fail"})
    await until(lambda: probe.order == ["failing handler starts"])
    await comm.send_to(text_data="late")
    await asyncio.sleep(0.05)  # the frame is read and waits for the failing handler
    probe.gate.set()
    with pytest.raises(HandlerFailed):
        await comm.wait(timeout=3)
    assert probe.order == ["failing handler starts"]  # no handler starts after the error


@both_loops
async def test_stop_consumer_from_a_group_event_ends_the_socket_cleanly(consumer: type):
    group = new_group()
    comm = await open_socket(group, Probe(), consumer)
    await get_channel_layer().group_send(group, {"type": "test.stop"})
    await comm.wait(timeout=3)
    assert comm.future.result() is None  # finished by itself: neither cancelled nor failed
    assert event_readers() == []


@both_loops
async def test_stop_consumer_from_a_group_event_leaves_its_task_uncancelled(consumer: type):
    """The loop cancels its own frame reader to stop; that cancel must not stay on the task,
    or an `asyncio.timeout` or `TaskGroup` that the server's code runs in the task afterwards
    takes it for a cancel from outside."""
    group, seen = new_group(), {}
    app = consumer.as_asgi(group=group, probe=Probe())

    async def then_time_out(scope: dict, receive: Callable, send: Callable) -> None:
        await app(scope, receive, send)
        seen["cancelling"] = asyncio.current_task().cancelling()
        with pytest.raises(TimeoutError):  # its own timeout, not a CancelledError
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)

    comm = WebsocketCommunicator(then_time_out, "/")
    assert (await comm.connect())[0]
    await get_channel_layer().group_send(group, {"type": "test.stop"})
    await comm.wait(timeout=3)
    assert comm.future.result() is None
    assert seen == {"cancelling": 0}


async def test_a_disconnect_ends_the_socket_and_leaves_no_task_behind():
    tasks_before = asyncio.all_tasks()
    comm = await open_socket(new_group(), Probe())
    assert len(event_readers()) == 1  # one long-lived reader for the channel layer
    await comm.disconnect()
    assert comm.future.result() is None
    assert event_readers() == []
    assert asyncio.all_tasks() <= tasks_before


@uses_db
async def test_a_message_posted_while_a_member_opens_follows_their_history_and_presence(
    open_room_socket: Callable[..., Any],
):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    alice_socket, _, _ = await open_room_socket(alice, room)
    bob_comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(bob))
    opening = asyncio.create_task(bob_comm.connect(timeout=5))
    # Post once bob's socket is in the room's group, while it reads its opening history.
    await until(lambda: len(get_channel_layer().groups.get(room_group(room.pk), {})) == 2)
    await alice_socket.send({"type": "message", "body": "while bob opens"})
    assert (await opening)[0]
    bob_socket = Socket(bob_comm)
    assert [(await bob_socket.recv())["type"] for _ in range(2)] == ["history", "presence"]
    assert (await bob_socket.recv_type("message"))["body"] == "while bob opens"
    await bob_socket.close()


async def through_socket_auth(cookie: str | None, **server: Any) -> dict[str, Any]:
    """What the inner app gets from SessionAuthMiddlewareStack: user, receive and send."""
    seen: dict[str, Any] = {}

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        seen.update(user=scope["user"], receive=receive, send=send)

    headers = [] if cookie is None else [(b"cookie", cookie.encode())]
    scope = {"type": "websocket", "path": "/", "headers": headers}
    await SessionAuthMiddlewareStack(inner)(scope, server.get("receive"), server.get("send"))
    return seen


@uses_db
async def test_socket_auth_puts_a_plain_user_object_in_the_scope():
    alice = await make_user("alice")
    user = (await through_socket_auth(await session_cookie(alice)))["user"]
    assert type(user) is get_user_model() and not isinstance(user, LazyObject)
    assert user.username == "alice"  # loaded already: no query from async code
    anonymous = (await through_socket_auth(None))["user"]
    assert type(anonymous) is AnonymousUser


async def test_socket_auth_hands_the_inner_app_the_servers_own_receive_and_send():
    async def server_receive() -> dict:
        return {"type": "websocket.connect"}

    async def server_send(message: dict) -> None: ...

    seen = await through_socket_auth(None, receive=server_receive, send=server_send)
    assert seen["send"] is server_send and seen["receive"] is server_receive


@uses_db
@pytest.mark.parametrize(
    "value",
    [
        "a" * 10_000,
        "ключ-сессии-0123456789",
        "nosuchsession; Path=/; HttpOnly",
        '"quoted;with;semicolons"',
        "x;;;=;=;",
        '"abcdefgh\\000abcdefgh"',  # the cookie parser unescapes the octal: a NUL in the key
    ],
    ids=["oversized", "non-ascii", "attribute-injection", "quoted", "semicolons", "nul-escape"],
)
async def test_socket_auth_makes_any_garbage_cookie_an_anonymous_user(value: str):
    user = (await through_socket_auth(f"{settings.SESSION_COOKIE_NAME}={value}"))["user"]
    assert type(user) is AnonymousUser


# TakeTurns: the lock of the two readers ---------------------------------------------------


async def test_take_turns_hands_the_lock_to_the_waiter_before_the_holder_retakes_it():
    turns, order = TakeTurns(), []

    async def reader(name: str, rounds: int) -> None:
        for round_ in range(rounds):
            async with turns:
                order.append((name, round_))
                await asyncio.sleep(0)

    await asyncio.gather(reader("frames", 3), reader("events", 3))
    assert order == [(name, r) for r in range(3) for name in ("frames", "events")]
    assert not turns.locked()


async def test_take_turns_survives_a_waiter_cancelled_before_or_after_the_hand_over():
    turns = TakeTurns()
    await turns.__aenter__()
    waiting = asyncio.ensure_future(turns.__aenter__())
    await asyncio.sleep(0)
    waiting.cancel()  # before the hand-over
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert turns.locked()
    handed = asyncio.ensure_future(turns.__aenter__())
    await asyncio.sleep(0)
    await turns.__aexit__(None, None, None)  # handed over...
    handed.cancel()  # ...and cancelled before it ran: the lock is passed on, not kept
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert not turns.locked()
    async with turns:
        assert turns.locked()


class EventWhileLeaving(SerialEchoConsumer):
    """An event for the socket arrives while its disconnect handler runs: the layer's reader
    has read it and waits for its turn when the consumer ends."""

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.send(self.channel_name, {"type": "test.echo", "n": 1})
        await until(lambda: self._one_at_a_time._waiter is not None)


@pytest.mark.redis
async def test_an_ended_socket_leaves_no_channel_in_the_layer(pubsub_layer, monkeypatch):
    """The pub/sub layer drops a channel only when its `receive` is cancelled mid-wait. A
    reader cancelled while it waited for its turn left the channel's inbox behind, and its
    direct handler kept the consumer and its socket alive for good (the soak's RSS growth)."""
    monkeypatch.setattr("mychannels.runtime.dispatchloop.get_channel_layer", lambda _: pubsub_layer)
    loop_layer = pubsub_layer._get_layer()
    consumer = EventWhileLeaving.as_asgi(group=new_group(), probe=Probe())
    comm = WebsocketCommunicator(consumer, "/")
    assert (await comm.connect())[0]
    (channel,) = loop_layer.channels  # the socket's own, its only one
    await comm.disconnect()
    assert comm.future.result() is None
    assert channel not in loop_layer.channels
    assert all(channel not in shard._subscribed_to for shard in loop_layer._shards)
