"""Per-event-loop singletons: asyncio Redis clients must not cross event loops."""

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PerLoop:
    """Holds one object per running event loop, built on first use in that loop."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._objects: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._objects:
            self._objects[loop] = self._factory()
        return self._objects[loop]
