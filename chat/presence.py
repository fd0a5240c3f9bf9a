"""Who is in a room: per user (many tabs count once), right across server processes.

Each open socket is an entry `conn_id|user_id|username` in a per-room sorted set, scored by
the time it expires. The process that holds the socket refreshes its entries every
HEARTBEAT seconds; a crashed process stops refreshing, and a sweep in any surviving process
removes its entries and tells the room, so its users drop out within TTL + SWEEP seconds.
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

from django.conf import settings

from chat.loopcache import PerLoop
from chat.redisclient import redis_client

logger = logging.getLogger(__name__)

TTL_SECONDS = 40
HEARTBEAT_SECONDS = 20
SWEEP_SECONDS = 10
COALESCE_SECONDS = 0.1
# At most one presence frame per room per this interval: each one goes to every member with
# every name, so during a connect storm per-arrival frames would cost members x arrivals.
MIN_BROADCAST_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class PresenceSnapshot:
    version: int
    usernames: list[str]


def _entry(conn_id: str, user_id: int, username: str) -> str:
    return f"{conn_id}|{user_id}|{username}"


def _usernames(entries: list[str]) -> list[str]:
    return sorted({entry.split("|", 2)[2] for entry in entries})


def _version_seed() -> int:
    """A fresh room's first version: the clock in microseconds, so that versions still grow
    when Redis comes back empty after a restart and sockets remember older, larger ones."""
    return time.time_ns() // 1000


class MemoryStore:
    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, float]] = {}
        self._versions: dict[int, int] = {}

    def _bump(self, room_id: int) -> None:
        self._versions[room_id] = self._versions.get(room_id, _version_seed()) + 1

    async def add(self, room_entries: dict[int, list[str]], expires: float) -> list[int]:
        """Add or refresh entries; returns the rooms whose set of entries changed."""
        changed = []
        for room_id, entries in room_entries.items():
            room = self._rooms.setdefault(room_id, {})
            if any(entry not in room for entry in entries):
                changed.append(room_id)
                self._bump(room_id)
            room.update(dict.fromkeys(entries, expires))
        return changed

    async def enter(self, room_id: int, entry: str, expires: float) -> tuple[int, list[str]]:
        """Add one entry and read the room's set and version back."""
        await self.add({room_id: [entry]}, expires)
        return await self.snapshot(room_id)

    async def remove(self, room_id: int, entry: str) -> bool:
        if self._rooms.get(room_id, {}).pop(entry, None) is None:
            return False
        self._bump(room_id)
        return True

    async def snapshot(self, room_id: int) -> tuple[int, list[str]]:
        now = time.time()
        live = [e for e, expires in self._rooms.get(room_id, {}).items() if expires > now]
        return self._versions.get(room_id, 0), live

    async def sweep(self) -> list[int]:
        now, changed = time.time(), []
        for room_id, entries in self._rooms.items():
            dead = [e for e, expires in entries.items() if expires <= now]
            for entry in dead:
                del entries[entry]
            if dead:
                changed.append(room_id)
                self._bump(room_id)
        return changed


# Lua, so that each change and its version bump are one atomic step on the Redis server.
_BUMP_LUA = """
local function bump(key, seed)
  if not redis.call('SET', key, seed, 'NX') then redis.call('INCR', key) end
end
"""
# KEYS: set, version, rooms index. ARGV: expires, version seed, room id, entries...
_ADD_LUA = (
    _BUMP_LUA
    + """
local added = 0
for i = 4, #ARGV do added = added + redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
redis.call('SADD', KEYS[3], ARGV[3])
if added > 0 then bump(KEYS[2], ARGV[2]) end
return added
"""
)
# KEYS: set, version, rooms index. ARGV: expires, version seed, room id, now, entry.
# One round trip for a socket's arrival: add it, then read the set and version back.
_ENTER_LUA = (
    _BUMP_LUA
    + """
local added = redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[3])
if added > 0 then bump(KEYS[2], ARGV[2]) end
return {redis.call('GET', KEYS[2]) or '0', redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf')}
"""
)
# KEYS: set, version. ARGV: entry, version seed.
_REMOVE_LUA = (
    _BUMP_LUA
    + """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed > 0 then bump(KEYS[2], ARGV[2]) end
return removed
"""
)
# KEYS: set, version, rooms index. ARGV: now, version seed, room id.
_SWEEP_LUA = (
    _BUMP_LUA
    + """
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if removed > 0 then bump(KEYS[2], ARGV[2]) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
return removed
"""
)


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis_client(url, decode_responses=True)
        self._prefix = f"{prefix}:presence"
        self._rooms_key = f"{self._prefix}:rooms"
        self._add = self._redis.register_script(_ADD_LUA)
        self._enter = self._redis.register_script(_ENTER_LUA)
        self._remove = self._redis.register_script(_REMOVE_LUA)
        self._sweep = self._redis.register_script(_SWEEP_LUA)

    def _key(self, room_id: int) -> str:
        return f"{self._prefix}:room:{room_id}"

    def _version_key(self, room_id: int) -> str:
        return f"{self._prefix}:version:{room_id}"

    async def add(self, room_entries: dict[int, list[str]], expires: float) -> list[int]:
        rooms = [(room_id, entries) for room_id, entries in room_entries.items() if entries]
        if not rooms:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id, entries in rooms:
                await self._add(
                    keys=[self._key(room_id), self._version_key(room_id), self._rooms_key],
                    args=[expires, _version_seed(), room_id, *entries],
                    client=pipe,
                )
            added = await pipe.execute()
        return [room_id for (room_id, _), count in zip(rooms, added, strict=True) if count]

    async def enter(self, room_id: int, entry: str, expires: float) -> tuple[int, list[str]]:
        """Add one entry and read the room's set and version back, in one round trip."""
        keys = [self._key(room_id), self._version_key(room_id), self._rooms_key]
        args = [expires, _version_seed(), room_id, time.time(), entry]
        version, entries = await self._enter(keys=keys, args=args)
        return int(version), entries

    async def remove(self, room_id: int, entry: str) -> bool:
        keys = [self._key(room_id), self._version_key(room_id)]
        return bool(await self._remove(keys=keys, args=[entry, _version_seed()]))

    async def snapshot(self, room_id: int) -> tuple[int, list[str]]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._version_key(room_id))
            pipe.zrangebyscore(self._key(room_id), time.time(), "+inf")
            version, entries = await pipe.execute()
        return int(version or 0), entries

    async def sweep(self) -> list[int]:
        now, changed = time.time(), []
        for room_id in await self._redis.smembers(self._rooms_key):
            keys = [self._key(int(room_id)), self._version_key(int(room_id)), self._rooms_key]
            if await self._sweep(keys=keys, args=[now, _version_seed(), room_id]):
                changed.append(int(room_id))
        return changed


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
        entry = _entry(conn_id, user_id, username)
        self._local.setdefault(room_id, set()).add(entry)
        self._ensure_background()
        version, entries = await self.store.enter(room_id, entry, time.time() + TTL_SECONDS)
        self.changed(room_id)
        return PresenceSnapshot(version=version, usernames=_usernames(entries))

    async def leave(self, room_id: int, conn_id: str, user_id: int, username: str) -> None:
        entry = _entry(conn_id, user_id, username)
        self._local.get(room_id, set()).discard(entry)
        if not self._local.get(room_id):
            self._local.pop(room_id, None)
        if await self.store.remove(room_id, entry):
            self.changed(room_id)

    async def snapshot(self, room_id: int) -> PresenceSnapshot:
        version, entries = await self.store.snapshot(room_id)
        return PresenceSnapshot(version=version, usernames=_usernames(entries))

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
        from chat.services import presence_broadcast

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
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                if time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS - SWEEP_SECONDS / 2:
                    # Refreshing also puts back entries that Redis lost (a restart without
                    # persistence): those rooms hear of it like any other change.
                    snapshot = {room: list(entries) for room, entries in self._local.items()}
                    for room_id in await self.store.add(snapshot, time.time() + TTL_SECONDS):
                        self.changed(room_id)
                    last_heartbeat = time.monotonic()
                for room_id in await self.store.sweep():
                    self.changed(room_id)
            except Exception:
                logger.warning("presence heartbeat or sweep failed; retrying", exc_info=True)


_trackers = PerLoop(PresenceTracker)


def tracker() -> PresenceTracker:
    return _trackers.get()
