"""Who is in a room: per user (many tabs count once), right across server processes.

Each open socket is an entry `conn_id|user_id|username` in a per-room sorted set, scored by
the time it expires. The process that holds the socket refreshes its entries every
HEARTBEAT seconds; a crashed process stops refreshing, and a sweep in any surviving process
removes its entries and tells the room, so its users drop out within TTL + SWEEP seconds
(CHAT_PRESENCE_TTL_SECONDS, CHAT_PRESENCE_HEARTBEAT_SECONDS, CHAT_PRESENCE_SWEEP_SECONDS).
Without Redis (development, one process) the same structure lives in memory.

Every change to a room's set bumps the room's presence version in the same atomic step, and
a broadcast reads the set and its version together. Broadcasts from different processes
can reach a socket in any order; the socket forwards only the newest version it has seen,
so the last list a client shows is the current one.

Changes are broadcast coalesced per room (0.1 s after the first change, then at most once a
second), so a connect storm costs a few presence frames, not one per arrival.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat.groups import room_activity_group, room_group
from chat.serializers import dumps
from chat.services.broadcast import group_send
from chat.services.presence_store import MemoryStore, RedisStore, entry_of, usernames_of
from mychannels.runtime.loopcache import PerLoop

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.1
# At most one presence frame per room per this interval: each one goes to every member with
# every name, so during a connect storm per-arrival frames would cost members x arrivals.
MIN_BROADCAST_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class PresenceSnapshot:
    version: int
    usernames: list[str]


class PresenceTracker:
    """This process's sockets, their heartbeat, the sweep and the coalesced broadcasts."""

    def __init__(self) -> None:
        url = settings.REDIS_URL
        self.store = RedisStore(url, settings.CHANNEL_LAYER_PREFIX) if url else MemoryStore()
        self._local: dict[int, set[str]] = {}
        self._pending: set[int] = set()
        self._last_broadcast: dict[int, float] = {}  # room -> loop time of its last frame
        self._tasks: set[asyncio.Task] = set()  # strong references: the loop keeps weak ones
        self._background: asyncio.Task | None = None

    async def enter(
        self, room_id: int, conn_id: str, user_id: int, username: str
    ) -> PresenceSnapshot:
        """Count the socket in, and return who is in the room now (itself included)."""
        entry = entry_of(conn_id, user_id, username)
        self._local.setdefault(room_id, set()).add(entry)
        self._ensure_background()
        version, entries = await self.store.enter(
            room_id, entry, time.time() + settings.CHAT_PRESENCE_TTL_SECONDS
        )
        self.changed(room_id)
        return PresenceSnapshot(version=version, usernames=usernames_of(entries))

    async def leave(self, room_id: int, conn_id: str, user_id: int, username: str) -> None:
        entry = entry_of(conn_id, user_id, username)
        self._local.get(room_id, set()).discard(entry)
        if not self._local.get(room_id):
            self._local.pop(room_id, None)
        if await self.store.remove(room_id, entry):
            self.changed(room_id)

    async def snapshot(self, room_id: int) -> PresenceSnapshot:
        version, entries = await self.store.snapshot(room_id)
        return PresenceSnapshot(version=version, usernames=usernames_of(entries))

    async def snapshots(self, room_ids: list[int]) -> dict[int, PresenceSnapshot]:
        """`snapshot` of each room, read together."""
        found = await self.store.snapshots(room_ids)
        return {
            room_id: PresenceSnapshot(version=version, usernames=usernames_of(entries))
            for room_id, (version, entries) in found.items()
        }

    async def usernames(self, room_id: int) -> list[str]:
        return (await self.snapshot(room_id)).usernames

    def changed(self, room_id: int) -> None:
        """Schedule one presence broadcast for the room, merging changes close together."""
        if room_id in self._pending:
            return
        self._pending.add(room_id)
        loop = asyncio.get_running_loop()
        next_allowed = self._last_broadcast.get(room_id, 0.0) + MIN_BROADCAST_INTERVAL_SECONDS
        delay = max(COALESCE_SECONDS, next_allowed - loop.time())
        loop.call_later(delay, self._spawn, room_id)

    def _spawn(self, room_id: int) -> None:
        task = asyncio.ensure_future(self._broadcast(room_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _broadcast(self, room_id: int) -> None:
        self._pending.discard(room_id)  # before reading: a later change schedules another
        now = asyncio.get_running_loop().time()
        self._last_broadcast[room_id] = now
        for room, at in list(self._last_broadcast.items()):  # forget rooms long quiet
            if now - at > MIN_BROADCAST_INTERVAL_SECONDS:
                del self._last_broadcast[room]
        try:
            await presence_broadcast(room_id=room_id)
        except Exception:
            logger.exception("presence broadcast for room %s failed", room_id)

    def _ensure_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._heartbeat_and_sweep())

    async def _heartbeat_and_sweep(self) -> None:
        last_heartbeat = time.monotonic()
        sweep = settings.CHAT_PRESENCE_SWEEP_SECONDS
        heartbeat = settings.CHAT_PRESENCE_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(sweep)
            try:
                if time.monotonic() - last_heartbeat >= heartbeat - sweep / 2:
                    # Refreshing also puts back entries that Redis lost (a restart without
                    # persistence): those rooms hear of it like any other change.
                    snapshot = {room: list(entries) for room, entries in self._local.items()}
                    for room_id in await self.store.add(
                        snapshot, time.time() + settings.CHAT_PRESENCE_TTL_SECONDS
                    ):
                        self.changed(room_id)
                    last_heartbeat = time.monotonic()
                for room_id in await self.store.sweep():
                    self.changed(room_id)
            except Exception:
                logger.warning("presence heartbeat or sweep failed; retrying", exc_info=True)


async def _close_tracker(held: PresenceTracker) -> None:
    if isinstance(held.store, RedisStore):  # its connections belong to the closing loop
        await held.store.aclose()


_trackers = PerLoop(PresenceTracker, close=_close_tracker)


def tracker() -> PresenceTracker:
    return _trackers.get()


def presence_frame(*, room_id: int, usernames: list[str]) -> dict[str, Any]:
    return {"type": "presence", "room_id": room_id, "users": usernames, "count": len(usernames)}


async def presence_broadcast(*, room_id: int) -> None:
    """Tell the room who is in it now (called, coalesced, by the presence tracker)."""
    snapshot = await tracker().snapshot(room_id)
    frame = presence_frame(room_id=room_id, usernames=snapshot.usernames)
    event = {"type": "chat.presence", "version": snapshot.version, "text": dumps(frame)}
    await group_send(room_group(room_id), event)
    # The members' sidebars show how many are here; this broadcast is already coalesced to at
    # most one a second per room, which is what the room list socket promises for `active`.
    count = {"room_id": room_id, "count": len(snapshot.usernames), "version": snapshot.version}
    await group_send(room_activity_group(room_id), {"type": "rooms.active", **count})


async def users_present_count() -> int:
    """Users present in any room now, across every process (the operations dashboard)."""
    return len(await tracker().store.present_user_ids())
