"""The operations dashboard's stats frame, and how it reaches every open dashboard.

Ten open dashboards cost the rest of the service what one costs: one computation a second per
process, whatever the number of dashboards, and nothing at all while none is open.

- The writes only count (mychannels/dashboard/counters.py): a dict increment on a message's
  path, flushed to Redis by a thread at most once a second per process.
- Each process that holds dashboard sockets runs one `StatsTicker` (per event loop): once a
  second it computes the stats frame (two Redis round trips for the counters, one each for the
  presence and socket counts, a cached room-name read) and encodes it once; each local
  dashboard socket is sent that text only if it differs from the last one it was sent. So a
  burst of messages moves a dashboard at most once a second, and a quiet service sends a frame
  a minute (the window slides). The frame is per process because it is the same everywhere:
  the counts come from Redis, so no channel-layer fan-out is needed to agree on it.
- An opening socket gets the ticker's frame if it is under a second old, else a fresh one
  (shared by every socket opening meanwhile), so a page reload costs no more than a tick.
"""

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from channels.db import database_sync_to_async

from chat.models import Room
from chat.serializers import dumps
from chat.services.presence import users_present_count
from chat.socketcap import sockets_open_count
from mychannels.dashboard import counters
from mychannels.runtime.loopcache import PerLoop
from mychannels.runtime.singleflight import SingleFlight

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
# A renamed room shows its new name within this; the names are read once per interval, not
# once per tick.
ROOM_NAME_TTL_SECONDS = 30.0


def minute_iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat().replace("+00:00", "Z")


_room_names: dict[int, tuple[float, str | None]] = {}  # room id -> (read at, name or deleted)


@database_sync_to_async
def _read_room_names(room_ids: list[int]) -> dict[int, str]:
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "name"))


async def room_names(room_ids: list[int]) -> dict[int, str]:
    """Names of these rooms (deleted rooms left out), from a per-process cache."""
    now = time.monotonic()
    stale = [
        r for r in room_ids if now - _room_names.get(r, (-1e9, None))[0] > ROOM_NAME_TTL_SECONDS
    ]
    if stale:
        found = await _read_room_names(stale)
        for room_id in stale:
            _room_names[room_id] = (now, found.get(room_id))
    names = {r: _room_names[r][1] for r in room_ids}
    return {room_id: name for room_id, name in names.items() if name is not None}


async def stats_frame(now: float | None = None) -> dict[str, Any]:
    """The contract's `stats` frame (docs/protocol.md, the operations dashboard), plus each
    busy room's `per_minute` counts, aligned with `messages_per_minute`."""
    activity, present, sockets = await asyncio.gather(
        counters.activity_snapshot(now), users_present_count(), sockets_open_count()
    )
    names = await room_names([room.room_id for room in activity.busiest_rooms])
    rooms = [
        {
            "room_id": room.room_id,
            "name": names[room.room_id],
            "messages_last_hour": room.messages_last_hour,
            "per_minute": room.per_minute,
        }
        for room in activity.busiest_rooms
        if room.room_id in names
    ][: counters.BUSIEST_ROOMS]
    return {
        "type": "stats",
        "messages_per_minute": [
            {"minute": minute_iso(minute), "count": count}
            for minute, count in zip(activity.minutes, activity.messages_per_minute, strict=True)
        ],
        "present": present,
        "sockets": sockets,
        "alerts_by_level": activity.alerts_by_level,
        "rooms": rooms,
    }


class StatsReceiver(Protocol):
    """A dashboard socket, as the ticker sees it."""

    async def send_stats(self, text: str) -> None: ...


class StatsTicker:
    """This process's (event loop's) dashboards and the one loop that keeps them current."""

    def __init__(self) -> None:
        self._receivers: dict[StatsReceiver, str] = {}  # -> the last text it was sent
        self._latest: tuple[float, str] | None = None  # (loop time computed, text)
        self._compute = SingleFlight(self._compute_once)  # one computation for all who ask
        self._task: asyncio.Task | None = None
        self.computations = 0  # how many frames this ticker computed (tests read it)

    async def join(self, receiver: StatsReceiver) -> str:
        """Count a socket in; returns its opening frame, which the socket sends itself."""
        text = await self.current()
        self._receivers[receiver] = text
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._tick_while_watched())
        return text

    def leave(self, receiver: StatsReceiver) -> None:
        self._receivers.pop(receiver, None)

    async def current(self) -> str:
        loop = asyncio.get_running_loop()
        if self._latest is not None and loop.time() - self._latest[0] < TICK_SECONDS:
            return self._latest[1]
        return await self._compute()

    async def _compute_once(self) -> str:
        self.computations += 1
        text = dumps(await stats_frame())
        self._latest = (asyncio.get_running_loop().time(), text)
        return text

    async def _tick_while_watched(self) -> None:
        while self._receivers:
            await asyncio.sleep(TICK_SECONDS)
            if not self._receivers:
                return
            try:
                text = await self._compute()
            except Exception:
                logger.warning("dashboard: computing the stats frame failed", exc_info=True)
                continue
            for receiver, last in list(self._receivers.items()):
                if last == text or receiver not in self._receivers:
                    continue
                self._receivers[receiver] = text
                with contextlib.suppress(Exception):  # a socket closing meanwhile
                    await receiver.send_stats(text)


_tickers = PerLoop(StatsTicker)


def stats_ticker() -> StatsTicker:
    return _tickers.get()
