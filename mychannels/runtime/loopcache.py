"""Per-event-loop singletons: asyncio Redis clients must not cross event loops."""

import asyncio
import types
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class PerLoop:
    """Holds one object per running event loop, built on first use in that loop. With
    `close`, `close(object)` runs on the loop just before the loop closes (tests close a loop
    per test, and whatever the object holds open would outlive it)."""

    def __init__(
        self, factory: Callable[[], T], close: Callable[[T], Awaitable[Any]] | None = None
    ) -> None:
        self._factory = factory
        self._close = close
        self._objects: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._objects:
            self._objects[loop] = self._factory()
            if self._close is not None:
                self._close_before(loop)
        return self._objects[loop]

    def _close_before(self, loop: asyncio.AbstractEventLoop) -> None:
        close_loop = loop.close

        def close(this: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> None:
            held = self._objects.pop(loop, None)
            if held is not None and not loop.is_closed():
                loop.run_until_complete(self._close(held))
            this.close = close_loop
            close_loop(*args, **kwargs)

        loop.close = types.MethodType(close, loop)
