"""Who is in a room: per user (many tabs count once), right across server processes.

Each open socket is an entry `conn_id|user_id|username` in a per-room sorted set, scored by
the time it expires. The process that holds the socket refreshes its entries every
HEARTBEAT seconds; a crashed process stops refreshing, and a sweep in any surviving process
removes its entries and tells the room, so its users drop out within TTL + SWEEP seconds.
Without Redis (development, one process) the same structure lives in memory.

Changes are broadcast coalesced per room, so a connect storm costs a few presence frames,
not one per arrival.
"""

import asyncio
import contextlib
import logging
import time

from django.conf import settings
from redis import asyncio as aioredis

from chat.loopcache import PerLoop

logger = logging.getLogger(__name__)

TTL_SECONDS = 40
HEARTBEAT_SECONDS = 15
SWEEP_SECONDS = 10
COALESCE_SECONDS = 0.1


def _entry(conn_id: str, user_id: int, username: str) -> str:
    return f"{conn_id}|{user_id}|{username}"


def _usernames(entries: list[str]) -> list[str]:
    return sorted({entry.split("|", 2)[2] for entry in entries})


class MemoryStore:
    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, float]] = {}

    async def put(self, room_entries: dict[int, list[str]], expires: float) -> None:
        for room_id, entries in room_entries.items():
            self._rooms.setdefault(room_id, {}).update(dict.fromkeys(entries, expires))

    async def remove(self, room_id: int, entry: str) -> None:
        self._rooms.get(room_id, {}).pop(entry, None)

    async def live_entries(self, room_id: int) -> list[str]:
        now = time.time()
        return [e for e, expires in self._rooms.get(room_id, {}).items() if expires > now]

    async def sweep(self) -> list[int]:
        now, changed = time.time(), []
        for room_id, entries in self._rooms.items():
            dead = [e for e, expires in entries.items() if expires <= now]
            for entry in dead:
                del entries[entry]
            if dead:
                changed.append(room_id)
        return changed


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        # Every socket of a connect storm enters at once: redis-py 8's default pool cap of 100
        # would refuse the rest with "Too many connections" (DESIGN.md, trap 1).
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=5,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            decode_responses=True,
        )
        self._prefix = f"{prefix}:presence"

    def _key(self, room_id: int) -> str:
        return f"{self._prefix}:room:{room_id}"

    async def put(self, room_entries: dict[int, list[str]], expires: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id, entries in room_entries.items():
                pipe.zadd(self._key(room_id), dict.fromkeys(entries, expires))
                pipe.sadd(f"{self._prefix}:rooms", room_id)
            await pipe.execute()

    async def remove(self, room_id: int, entry: str) -> None:
        await self._redis.zrem(self._key(room_id), entry)

    async def live_entries(self, room_id: int) -> list[str]:
        return await self._redis.zrangebyscore(self._key(room_id), time.time(), "+inf")

    async def sweep(self) -> list[int]:
        now, changed = time.time(), []
        for room_id in await self._redis.smembers(f"{self._prefix}:rooms"):
            removed = await self._redis.zremrangebyscore(self._key(int(room_id)), "-inf", now)
            if removed:
                changed.append(int(room_id))
            if not await self._redis.zcard(self._key(int(room_id))):
                await self._redis.srem(f"{self._prefix}:rooms", room_id)
        return changed


class PresenceTracker:
    """This process's sockets, their heartbeat, the sweep and the coalesced broadcasts."""

    def __init__(self) -> None:
        url = settings.REDIS_URL
        self.store = RedisStore(url, settings.CHANNEL_LAYER_PREFIX) if url else MemoryStore()
        self._local: dict[int, set[str]] = {}
        self._pending: set[int] = set()
        self._background: asyncio.Task | None = None

    async def enter(self, room_id: int, conn_id: str, user_id: int, username: str) -> None:
        entry = _entry(conn_id, user_id, username)
        self._local.setdefault(room_id, set()).add(entry)
        await self.store.put({room_id: [entry]}, time.time() + TTL_SECONDS)
        self._ensure_background()
        self.changed(room_id)

    async def leave(self, room_id: int, conn_id: str, user_id: int, username: str) -> None:
        entry = _entry(conn_id, user_id, username)
        self._local.get(room_id, set()).discard(entry)
        if not self._local.get(room_id):
            self._local.pop(room_id, None)
        await self.store.remove(room_id, entry)
        self.changed(room_id)

    async def usernames(self, room_id: int) -> list[str]:
        return _usernames(await self.store.live_entries(room_id))

    def changed(self, room_id: int) -> None:
        """Schedule one presence broadcast for the room, merging changes close together."""
        if room_id in self._pending:
            return
        self._pending.add(room_id)
        asyncio.get_running_loop().call_later(
            COALESCE_SECONDS, lambda: asyncio.ensure_future(self._broadcast(room_id))
        )

    async def _broadcast(self, room_id: int) -> None:
        from chat.services import presence_broadcast

        self._pending.discard(room_id)
        try:
            await presence_broadcast(room_id=room_id)
        except Exception:
            logger.exception("presence broadcast for room %s failed", room_id)

    def _ensure_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._heartbeat_and_sweep())

    async def _heartbeat_and_sweep(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            with contextlib.suppress(Exception):
                if time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
                    snapshot = {room: list(entries) for room, entries in self._local.items()}
                    await self.store.put(snapshot, time.time() + TTL_SECONDS)
                    last_heartbeat = time.monotonic()
                for room_id in await self.store.sweep():
                    self.changed(room_id)


_trackers = PerLoop(PresenceTracker)


def tracker() -> PresenceTracker:
    return _trackers.get()
