"""A cheaper event loop for consumers that hear many group events.

channels' `await_many_dispatch` waits on the socket and the channel layer with a fresh task and
an `asyncio.wait` for every event: per member and per broadcast, a task is created, run,
finished and waited for. Here each source has one long-lived reader, and a lock keeps the
handlers one at a time, exactly as before: a group event still waits while a frame's handler
is busy (the opening history, a message being stored). Measured in docs/performance.md.
"""

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

from mychannels.runtime.fanout import text_writer

Source = Callable[[], Awaitable[dict]]


class SerialDispatchMixin:
    """For an `AsyncConsumer` subclass: the same consumer contract (handlers run one at a time,
    StopConsumer ends it, an error in a handler ends it), one reader task per source.

    A subclass may also name, in DIRECT_EVENTS, group events it only forwards: event type to
    the name of a method giving the text to send for it (or None to send nothing). Once it
    calls `deliver_directly`, those events skip its reader task whenever it is idle
    (mychannels/runtime/fanout.py)."""

    DIRECT_EVENTS: dict[str, str] = {}

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """channels' `as_asgi`, as a plain function handing back the consumer's coroutine:
        channels' `async def` wrapper keeps a frame for as long as the socket is open."""

        def app(scope: dict, receive: Source, send: Callable) -> Awaitable[None]:
            return cls(**initkwargs)(scope, receive, send)

        app._asgi_single_callable = True  # asgiref's hint: plain, but returns a coroutine
        app.consumer_class = cls
        app.consumer_initkwargs = initkwargs
        functools.update_wrapper(app, cls, updated=())
        return app

    _one_at_a_time: "TakeTurns | None" = None

    async def __call__(self, scope: dict, receive: Source, send: Callable) -> None:
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        if self.channel_layer is None:  # no layer: only the socket to read
            with contextlib.suppress(StopConsumer):
                await self._pump(receive, TakeTurns())
            return
        self.channel_name = await self.channel_layer.new_channel()
        await self._run_both(receive)

    def channel_receive(self) -> Awaitable[dict]:
        """The next event of this consumer's channel. A method, not channels' partial: the
        events reader holds it for the socket's whole life (idle memory)."""
        return self.channel_layer.receive(self.channel_name)

    def deliver_directly(self) -> None:
        """From now on, DIRECT_EVENTS that find this consumer idle are written to its socket in
        the channel layer's own pass over the group. Nothing changes on a channel layer or a
        server that cannot do it; a `close` (or anything else replacing `send`) ends it."""
        lend = getattr(self.channel_layer, "deliver_directly", None)
        write = text_writer(self.base_send)
        if lend is None or write is None or not self.DIRECT_EVENTS:
            return
        self._direct_write = write
        self._send_when_lent = self.base_send
        lend(self.channel_name, self._take_directly)

    def _take_directly(self, event: dict) -> bool:
        """The channel layer's handler (mychannels/runtime/fanout.py): False leaves the event
        to the reader task (not a direct event, a handler busy, or the socket closed)."""
        name = self.DIRECT_EVENTS.get(event.get("type"))
        if (
            name is None
            or self._one_at_a_time.locked()
            or self.base_send is not self._send_when_lent
        ):
            return False
        text = getattr(self, name)(event)
        if text is not None:
            self._direct_write(text)
        return True

    async def _run_both(self, receive: Source) -> None:
        one_at_a_time = self._one_at_a_time = TakeTurns()
        frames = asyncio.current_task()
        stop_frames = _OneCancel(frames)
        # A group event's handler that fails (or stops the consumer) must end the socket too,
        # not leave it open and deaf; and it cancels the frames while it still holds the lock,
        # so that a frame already read never starts its handler after the error. (The done
        # callback runs only after the lock is released: it covers the layer's own errors.)
        events = asyncio.ensure_future(
            self._pump(self.channel_receive, one_at_a_time, on_error=stop_frames)
        )
        events.add_done_callback(stop_frames.unless_cancelled)
        try:
            await self._pump(receive, one_at_a_time)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            if not events.done() or events.cancelled():
                raise  # cancelled from outside (server shutdown)
            # Our own cancel, taken back: left counted on the task, it would turn a later
            # asyncio.timeout or TaskGroup in this task into a cancel from outside.
            frames.uncancel()
            with contextlib.suppress(StopConsumer):
                events.result()  # re-raises the handler's error
        finally:
            stop_frames.disarm()
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopConsumer):
                await events
            # The layer drops a channel only when its `receive` is cancelled mid-wait; the
            # reader may have been cancelled elsewhere (waiting for its turn with an event).
            forget = getattr(self.channel_layer, "forget_channel", None)
            if forget is not None:
                await forget(self.channel_name)

    async def _pump(
        self, source: Source, one_at_a_time: "TakeTurns", on_error: Callable | None = None
    ) -> Any:
        while True:
            message = await source()
            async with one_at_a_time:
                try:
                    await self.dispatch(message)
                except Exception:  # StopConsumer too
                    if on_error is not None:
                        on_error()
                    raise


class TakeTurns:
    """`asyncio.Lock` for the two readers of one socket, at most one waiting: fair (the one
    waiting gets the lock on release, before the holder can take it again) and light. An
    asyncio.Lock keeps a deque of waiters, about 500 bytes, from its first contention (any
    socket that hears a broadcast while it opens) for as long as the socket is open."""

    __slots__ = ("_held", "_waiter")

    def __init__(self) -> None:
        self._held = False
        self._waiter: asyncio.Future | None = None

    def locked(self) -> bool:
        return self._held

    async def __aenter__(self) -> None:
        if not self._held:
            self._held = True
            return
        if self._waiter is not None:
            raise RuntimeError("TakeTurns has two readers; a second one is already waiting")
        self._waiter = handed_over = asyncio.get_running_loop().create_future()
        try:
            await handed_over
        except asyncio.CancelledError:
            if handed_over.done() and not handed_over.cancelled():
                self._release()  # handed over, then cancelled before it ran: pass it on
            raise
        finally:
            if self._waiter is handed_over:  # cancelled while waiting
                self._waiter = None

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # still held: now by the waiter
        else:
            self._held = False


class _OneCancel:
    """Cancels the frame reader's task at most once, and never after the loop has ended: the
    task is the whole application's and goes on (the server's own code) after the loop."""

    def __init__(self, task: asyncio.Task) -> None:
        self._task: asyncio.Task | None = task

    def __call__(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def unless_cancelled(self, events: asyncio.Task) -> None:
        """The events reader's done callback: an end of its own (an error, StopConsumer)
        ends the frames too; a cancel is the socket ending already."""
        if not events.cancelled():
            self()

    def disarm(self) -> None:
        self._task = None
