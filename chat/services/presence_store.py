"""Where presence lives: a per-room sorted set of socket entries with a version, in Redis
across processes (atomic Lua steps), or in memory for one development process."""

import time
from collections.abc import Iterable

from chat.groups import room_group
from mychannels.runtime.rediscalls import LuaScript, RedisCalls, raise_first
from mychannels.runtime.redisshards import Shards, redis_urls


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

    async def snapshots(self, room_ids: list[int]) -> dict[int, tuple[int, list[str]]]:
        return {room_id: await self.snapshot(room_id) for room_id in room_ids}

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


# Lua, so that each change and its version bump are one atomic step on the Redis server. Both
# keys of a room carry the room's hash tag (mychannels/runtime/redisshards.py); the index of
# rooms with entries is one per server, written beside the scripts, never inside them.
_BUMP_LUA = """
local function bump(key, seed)
  if not redis.call('SET', key, seed, 'NX') then redis.call('INCR', key) end
end
"""
# KEYS: set, version. ARGV: expires, version seed, entries...
_ADD_LUA = (
    _BUMP_LUA
    + """
local added = 0
for i = 3, #ARGV do added = added + redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
if added > 0 then bump(KEYS[2], ARGV[2]) end
return added
"""
)
# KEYS: set, version. ARGV: expires, version seed, now, entry.
# One round trip for a socket's arrival: add it, then read the set and version back.
_ENTER_LUA = (
    _BUMP_LUA
    + """
local added = redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
if added > 0 then bump(KEYS[2], ARGV[2]) end
return {redis.call('GET', KEYS[2]) or '0', redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')}
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
# KEYS: set, version. ARGV: now, version seed. Returns {removed, left}.
_SWEEP_LUA = (
    _BUMP_LUA
    + """
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if removed > 0 then bump(KEYS[2], ARGV[2]) end
return {removed, redis.call('ZCARD', KEYS[1])}
"""
)
# KEYS: set, version. ARGV: now. The version and the live entries read in one atomic step
# (was MULTI/EXEC, which a connection shared by every caller of the loop cannot hold open).
_SNAPSHOT_LUA = """
return {redis.call('GET', KEYS[2]) or '0', redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')}
"""
_ADD = LuaScript(_ADD_LUA)
_ENTER = LuaScript(_ENTER_LUA)
_REMOVE = LuaScript(_REMOVE_LUA)
_SWEEP = LuaScript(_SWEEP_LUA)
_SNAPSHOT = LuaScript(_SNAPSHOT_LUA)


class _Server:
    """One Redis server's connection (replies as str) and index of rooms."""

    def __init__(self, url: str, rooms_key: str) -> None:
        self.calls = RedisCalls(url, decode_responses=True)
        self.rooms_key = rooms_key


class RedisStore:
    """Presence on one or several Redis servers: a room's keys live on the server that carries
    the room's group (mychannels/runtime/redisshards.py)."""

    def __init__(self, urls: list[str] | str, prefix: str) -> None:
        urls = redis_urls(urls) if isinstance(urls, str) else urls
        self._prefix = f"{prefix}:presence"
        self._tag_prefix = prefix
        rooms_key = f"{self._prefix}:rooms"
        self._servers = Shards(urls, prefix, lambda url: _Server(url, rooms_key))

    def _server(self, room_id: int) -> _Server:
        return self._servers.for_group(room_group(room_id))

    def _keys(self, room_id: int) -> list[str]:
        tag = f"{{{self._tag_prefix}:room.{room_id}}}"
        return [f"{tag}:presence", f"{tag}:presence:version"]

    def _rooms_by_server(self, room_ids: Iterable[int]) -> list[tuple[_Server, list[int]]]:
        """The rooms grouped by the server that carries them, for one write to each."""
        by_server: dict[int, tuple[_Server, list[int]]] = {}
        for room_id in room_ids:
            server = self._server(room_id)
            by_server.setdefault(id(server), (server, []))[1].append(room_id)
        return list(by_server.values())

    async def add(self, room_entries: dict[int, list[str]], expires: float) -> list[int]:
        changed = []
        occupied = [room_id for room_id, entries in room_entries.items() if entries]
        for server, rooms in self._rooms_by_server(occupied):
            calls = [
                _ADD.call(self._keys(room_id), [expires, _version_seed(), *room_entries[room_id]])
                for room_id in rooms
            ]
            index = ("SADD", server.rooms_key, *rooms)
            *added, _ = raise_first(await server.calls.send(*calls, index))
            changed += [room_id for room_id, n in zip(rooms, added, strict=True) if n]
        return changed

    async def enter(self, room_id: int, entry: str, expires: float) -> tuple[int, list[str]]:
        """Add one entry and read the room's set and version back, in one round trip."""
        server = self._server(room_id)
        args = [expires, _version_seed(), time.time(), entry]
        # The script and the index's SADD in one write. Only the script's error is raised, as
        # before: an index entry missed is put back by the next heartbeat's SADD.
        result, _ = await server.calls.send(
            _ENTER.call(self._keys(room_id), args), ("SADD", server.rooms_key, room_id)
        )
        if isinstance(result, Exception):
            raise result
        version, entries = result
        return int(version), entries

    async def remove(self, room_id: int, entry: str) -> bool:
        call = _REMOVE.call(self._keys(room_id), [entry, _version_seed()])
        return bool(await self._server(room_id).calls.call(call))

    async def snapshot(self, room_id: int) -> tuple[int, list[str]]:
        call = _SNAPSHOT.call(self._keys(room_id), [time.time()])
        version, entries = await self._server(room_id).calls.call(call)
        return int(version), entries

    async def snapshots(self, room_ids: list[int]) -> dict[int, tuple[int, list[str]]]:
        """`snapshot` of each room, in one round trip per server (a room list opens with
        every room of its user)."""
        found = {}
        for server, rooms in self._rooms_by_server(room_ids):
            now = time.time()
            calls = [_SNAPSHOT.call(self._keys(room_id), [now]) for room_id in rooms]
            for room_id, (version, entries) in zip(
                rooms, raise_first(await server.calls.send(*calls)), strict=True
            ):
                found[room_id] = (int(version), entries)
        return found

    async def sweep(self) -> list[int]:
        """Every room's expired entries dropped: one batch of scripts per server."""
        now, changed = time.time(), []
        for server in self._servers.all:
            room_ids = [
                int(room) for room in await server.calls.call(("SMEMBERS", server.rooms_key))
            ]
            calls = [_SWEEP.call(self._keys(room), [now, _version_seed()]) for room in room_ids]
            swept = raise_first(await server.calls.send(*calls))
            empty = []
            for room_id, (removed, left) in zip(room_ids, swept, strict=True):
                if removed:
                    changed.append(room_id)
                if not left:
                    empty.append(room_id)
            if empty:
                # Outside the script (two servers' keys never meet in one): a socket
                # arriving meanwhile adds the room back on its next heartbeat.
                await server.calls.call(("SREM", server.rooms_key, *empty))
        return changed

    async def present_user_ids(self) -> set[int]:
        """Users with a live entry in any room: two round trips per server."""
        now, entries = time.time(), []
        for server in self._servers.all:
            room_ids = await server.calls.call(("SMEMBERS", server.rooms_key))
            if not room_ids:
                continue
            reads = [("ZRANGEBYSCORE", self._keys(int(r))[0], now, "+inf") for r in room_ids]
            rooms = raise_first(await server.calls.send(*reads))
            entries += [entry for room in rooms for entry in room]
        return user_ids_of(entries)

    async def aclose(self) -> None:
        for server in self._servers.all:
            await server.calls.aclose()
