"""Each room's opening history frame, as sent, kept by the room's version for a while.

In a reconnect storm (a deploy, a network blip) every member of a room opens on the same
latest page. The opening statement reads the room's version in the same snapshot as the
page, and every change a page shows takes the room's next version (chat/services/versions.py:
messages, edits, deletions, reactions; an author's name cannot change once they have taken
part, chat/admin.py), so a frame kept for version V is exactly what a read at V would build.
An opening that finds the room still at the kept version is told so by the statement itself,
which then reads no page: no rows, no attachments query, no model objects, no JSON. And while
one opening builds a room's page, the room's other openings wait for it rather than build the
same page beside it (in a storm they all arrive before the first is done).

Kept per process, for at most CHAT_OPENING_PAGE_CACHE_SECONDS (so that even a database
restored to an older state serves a stale page for no longer than that), within
CHAT_OPENING_PAGE_CACHE_BYTES of frames in all, counted as the strings' own size in memory
(one emoji makes Python store every character of a frame in 4 bytes), the least recently
opened room's dropped first.
"""

import asyncio
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

# How many builders in turn an opening waits for before it reads its page alone: a builder that
# was refused (not a member, too many sockets) or failed keeps nothing.
WAITS_FOR_A_BUILDER = 3


@dataclass(frozen=True)
class KeptPage:
    version: int
    text: str  # the history frame, serialized
    kept_at: float


class LatestPages:
    def __init__(
        self, max_bytes: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_bytes = max_bytes
        self._seconds = seconds
        self._clock = clock
        self._kept: OrderedDict[int, KeptPage] = OrderedDict()
        self._held_bytes = 0
        # Rooms whose page an opening is building now, set when it is done (kept or not).
        self._building: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    def held(self, room_id: int) -> KeptPage | None:
        """The room's kept frame, unless it is older than the time allowed."""
        kept = self._kept.get(room_id)
        if kept is None:
            return None
        if self._clock() - kept.kept_at > self._seconds:
            self._drop(room_id)
            return None
        self._kept.move_to_end(room_id)
        return kept

    async def wait_or_build(self, room_id: int) -> bool:
        """Whether the caller is to build the room's page (and call `built` when done): not
        when a page is kept, and not before another opening building it now is done."""
        for _ in range(WAITS_FOR_A_BUILDER):
            if self.held(room_id) is not None:
                return False
            loop = asyncio.get_running_loop()
            building = self._building.get(room_id)
            if building is None or building[0] is not loop:  # another loop's: not ours to wait
                self._building[room_id] = (loop, asyncio.Event())
                return True
            await building[1].wait()
        return False  # builders kept failing (a refused opening builds nothing): read alone

    def built(self, room_id: int) -> None:
        """The room's builder is done, whether it kept a page or not: its waiters go on."""
        building = self._building.pop(room_id, None)
        if building is not None:
            building[1].set()

    def keep(self, room_id: int, version: int, text: str) -> None:
        """The frame just built for the room at `version`; a newer one already kept stays."""
        size = sys.getsizeof(text)
        if self._seconds <= 0 or size > self._max_bytes:
            return
        kept = self._kept.get(room_id)
        if kept is not None:
            if kept.version > version:
                return  # an opening that read later got here first
            self._drop(room_id)
        self._kept[room_id] = KeptPage(version=version, text=text, kept_at=self._clock())
        self._held_bytes += size
        while self._held_bytes > self._max_bytes:
            self._drop(next(iter(self._kept)))

    def _drop(self, room_id: int) -> None:
        self._held_bytes -= sys.getsizeof(self._kept.pop(room_id).text)

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        """Forget every page (tests: a room id can come back in the next test's database)."""
        self._kept.clear()
        self._held_bytes = 0
        self._building.clear()


_pages: LatestPages | None = None


def latest_pages() -> LatestPages:
    """The process's pages, sized by the settings when first used."""
    global _pages
    if _pages is None:
        _pages = LatestPages(
            settings.CHAT_OPENING_PAGE_CACHE_BYTES, settings.CHAT_OPENING_PAGE_CACHE_SECONDS
        )
    return _pages
