"""One statement's reads by key, asked for by many sockets at once, sent as one statement.

A reconnect storm opens thousands of sockets at once, and each read the same statements with
its own key (its session, its user): 10,000 statements for 2,000 tabs, about 0.18 ms of the
server's CPU and 0.08 ms of PostgreSQL's each on a slow 2-core machine, against a tenth of
that per key read twenty at a time (docs/performance.md, "2026-12-08"). Here the keys asked
for while a statement is out wait and go together in the next one: no wait at all when
nothing is out, a batch as big as the backlog when the server is behind. A data loader
(aiodataloader's idea) that also gathers while its batches wait for a connection, without
a cache: every key is read fresh.
"""

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from mychannels.runtime import asyncdb
from mychannels.runtime.loopcache import PerLoop

Key = Hashable  # one value, or a tuple of `width` values


class _Waiting:
    """One loop's keys not yet sent, each with its callers' futures, and what is out."""

    def __init__(self) -> None:
        self.keys: dict[Key, list[asyncio.Future]] = {}
        self.out: set[asyncio.Task] = set()  # statements sent and not yet answered
        self.scheduled = False


class KeyedReads:
    """`await reads.rows(key)`: the rows of `sql` for `key`, read with the keys others ask for
    meanwhile. `sql` reads every key in the arrays it is given (one per key column: `width`
    of them), then `shared()`'s parameters; each of its rows starts with its key's columns,
    which the caller's rows leave out. At most `out` statements at a time, `most` keys each.
    """

    def __init__(
        self,
        sql: Callable[[], str],
        *,
        width: int = 1,
        shared: Callable[[], Sequence[Any]] = tuple,
        out: int = 2,
        most: int = 500,
    ) -> None:
        self._sql, self._width, self._shared = sql, width, shared
        self._out, self._most = out, most
        self._waiting = PerLoop(_Waiting)

    async def rows(self, key: Key) -> list[tuple]:
        """The rows for `key` (none if it has none), without its key columns."""
        waiting = self._waiting.get()
        future = asyncio.get_running_loop().create_future()
        waiting.keys.setdefault(key, []).append(future)
        self._schedule(waiting)
        return await future  # a caller that gives up cancels its own future only

    def _schedule(self, waiting: _Waiting) -> None:
        if not waiting.scheduled and waiting.keys and len(waiting.out) < self._out:
            waiting.scheduled = True  # after this turn of the loop: its other keys join in
            asyncio.get_running_loop().call_soon(self._send, waiting)

    def _send(self, waiting: _Waiting) -> None:
        waiting.scheduled = False
        keys = list(waiting.keys)[: self._most]
        batch = {key: waiting.keys.pop(key) for key in keys}
        # Held here: the loop keeps only a weak reference to a task.
        read = asyncio.ensure_future(self._read(batch))
        waiting.out.add(read)
        read.add_done_callback(lambda done: self._landed(waiting, done))
        self._schedule(waiting)  # past `most`, another statement may go out at once

    def _landed(self, waiting: _Waiting, read: asyncio.Task) -> None:
        waiting.out.discard(read)
        self._schedule(waiting)

    async def _read(self, batch: dict[Key, list[asyncio.Future]]) -> None:
        try:
            found = await asyncdb.rows(self._sql(), [*self._key_arrays(batch), *self._shared()])
        except BaseException as error:  # every caller of this statement gets the failure
            _fail(batch, error)
            if not isinstance(error, Exception):
                raise
        else:
            _answer(batch, self._by_key(found))

    def _key_arrays(self, batch: dict[Key, list]) -> list[list]:
        if self._width == 1:
            return [list(batch)]
        return [list(column) for column in zip(*batch, strict=True)]

    def _by_key(self, found: list[tuple]) -> dict[Key, list[tuple]]:
        width, grouped = self._width, {}
        for row in found:
            key = row[0] if width == 1 else row[:width]
            grouped.setdefault(key, []).append(row[width:])
        return grouped


def _answer(batch: dict[Key, list[asyncio.Future]], grouped: dict[Key, list[tuple]]) -> None:
    for key, futures in batch.items():
        rows = grouped.get(key, [])
        for future in futures:
            if not future.done():
                future.set_result(rows)


def _fail(batch: dict[Key, list[asyncio.Future]], error: BaseException) -> None:
    for futures in batch.values():
        for future in futures:
            if future.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
