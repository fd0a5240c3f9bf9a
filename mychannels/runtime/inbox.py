"""A socket's inbox: the part of `asyncio.Queue` that Daphne and the channel layer use.

Every socket has two queues for as long as it is open: Daphne's, carrying its frames to the
consumer, and the channel layer's, carrying its group events. An `asyncio.Queue` keeps four
deques (items, waiting getters, waiting putters, and its `join` event's waiters), about 3 KB,
more than the rest of an idle socket's consumer; each of these queues has one reader and no
bound, so this keeps the items and the one waiting reader (docs/performance.md).
"""

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class Inbox:
    """`put_nowait` and `get` of an unbounded `asyncio.Queue`, for a single reader."""

    __slots__ = ("_items", "_reader", "direct")

    def __init__(self) -> None:
        self._items: deque | None = None  # made on the first item, dropped once empty
        self._reader: asyncio.Future | None = None
        # A consumer's synchronous handler of its group events (mychannels/runtime/fanout.py).
        self.direct: Callable[[Any], bool] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            if self._reader is not None:
                raise RuntimeError("an Inbox has one reader; another is already waiting")
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def parked(self) -> bool:
        """Its reader waits on it and nothing is queued: an item handed over now, outside the
        queue, is in order and the only one in flight."""
        return self._reader is not None and not self._items and not self._reader.done()

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items
