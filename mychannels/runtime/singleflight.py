"""One run of a piece of async work at a time, shared by every caller that needs it meanwhile."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """`await flight()` starts `work()` unless a run is on its way, and waits for that run.
    Shielded: a caller that gives up (cancelled) does not cancel the run for the others.
    Bound to the event loop of the run in flight, as whatever owns it is (PerLoop)."""

    def __init__(self, work: Callable[[], Awaitable[T]]) -> None:
        self._work = work
        self._running: asyncio.Future[T] | None = None

    async def __call__(self) -> T:
        if self._running is None:
            self._running = asyncio.ensure_future(self._work())
            self._running.add_done_callback(self._landed)
        return await asyncio.shield(self._running)

    def _landed(self, _: asyncio.Future[T]) -> None:
        self._running = None
