"""Where presence lives: a per-room sorted set of socket entries with a version, in Redis
across processes (atomic Lua steps), or in memory for one development process."""

import time

from mychannels.runtime.redisclient import redis_client


def entry_of(conn_id: str, user_id: int, username: str) -> str:
    return f"{conn_id}|{user_id}|{username}"


def usernames_of(entries: list[str]) -> list[str]:
    return sorted({entry.split("|", 2)[2] for entry in entries})


def user_ids_of(entries: list[str]) -> set[int]:
    return {int(entry.split("|", 2)[1]) for entry in entries}


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

    async def present_user_ids(self) -> set[int]:
        """Users with a live entry in any room."""
        now = time.time()
        return user_ids_of(
            [e for room in self._rooms.values() for e, exp in room.items() if exp > now]
        )


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

    async def present_user_ids(self) -> set[int]:
        """Users with a live entry in any room: two round trips whatever the number of rooms."""
        room_ids = await self._redis.smembers(self._rooms_key)
        if not room_ids:
            return set()
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.zrangebyscore(self._key(int(room_id)), now, "+inf")
            rooms = await pipe.execute()
        return user_ids_of([entry for entries in rooms for entry in entries])
