"""A cap on open sockets per user (CHAT_MAX_SOCKETS_PER_USER), across tabs and processes.

Each admitted socket is an entry in a per-user sorted set in Redis, scored by the time it
expires; the process holding the socket refreshes its entries every HEARTBEAT_SECONDS, so a
crashed process's sockets stop counting within TTL_SECONDS. Every admitted socket is also an
entry in one service-wide sorted set, kept in the same round trips, so that the operations
dashboard reads "sockets open now" with one ZCOUNT instead of scanning every user's set.
Without Redis (development, one process) the count lives in this process.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable

from django.conf import settings

from mychannels.runtime.loopcache import PerLoop
from mychannels.runtime.rediscalls import Command, LuaScript, RedisCalls, raise_first
from mychannels.runtime.redisshards import Shards, redis_urls

TTL_SECONDS = 40
HEARTBEAT_SECONDS = 15

# KEYS[1] the user's set; ARGV: now, expires, cap, conn_id, ttl. Returns 1 when admitted.
# The service-wide set is written beside it, not in it: on a Redis Cluster a script may only
# touch keys of one hash tag, and the user's tag is not the service's.
_ADMIT_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_ADMIT = LuaScript(_ADMIT_LUA)


class MemorySockets:
    def __init__(self) -> None:
        self._users: dict[int, set[str]] = {}

    async def admit(self, user_id: int, conn_id: str, cap: int) -> bool:
        conns = self._users.setdefault(user_id, set())
        if len(conns) >= cap:
            return False
        conns.add(conn_id)
        return True

    async def release(self, user_id: int, conn_id: str) -> None:
        conns = self._users.get(user_id, set())
        conns.discard(conn_id)
        if not conns:
            self._users.pop(user_id, None)

    async def open_count(self) -> int:
        return sum(len(conns) for conns in self._users.values())


class RedisSockets:
    """Per-user sets on the server that carries the user's group
    (mychannels/runtime/redisshards.py); each server also keeps the service-wide set of the
    sockets whose users it holds, and the count sums them."""

    def __init__(
        self,
        url: str | list[str],
        prefix: str,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        urls = redis_urls(url) if isinstance(url, str) else url
        self._servers = Shards(urls, prefix, RedisCalls)  # replies are numbers: not decoded
        self._tag_prefix = prefix
        self._all_key = f"{prefix}:sockets:all"
        self._ttl = ttl
        self._clock = clock
        # What this process holds, for the heartbeat: socket -> its user. One entry per socket,
        # not a set per user: an open socket keeps its entry for its whole life (idle memory).
        self._local: dict[str, int] = {}
        self._heartbeat: asyncio.Task | None = None

    def _key(self, user_id: int) -> str:
        return f"{{{self._tag_prefix}:user.{user_id}}}:sockets"

    def _server(self, user_id: int) -> RedisCalls:
        return self._servers.for_group(f"user.{user_id}")

    async def admit(self, user_id: int, conn_id: str, cap: int) -> bool:
        now = self._clock()
        server, key = self._server(user_id), self._key(user_id)
        args = [now, now + self._ttl, cap, conn_id, int(self._ttl) + 1]
        # One write: the script and the service-wide entry (taken back if refused, which is
        # rare). Only the script's error is raised, as before: a service-wide entry missed is
        # put back by the next heartbeat.
        admitted, _ = await server.send(
            _ADMIT.call([key], args), ("ZADD", self._all_key, now + self._ttl, conn_id)
        )
        if isinstance(admitted, Exception):
            raise admitted
        if not admitted:
            await server.call(("ZREM", self._all_key, conn_id))
            return False
        self._local[conn_id] = user_id
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._refresh_forever())
        return True

    async def release(self, user_id: int, conn_id: str) -> None:
        self._local.pop(conn_id, None)
        removals = ("ZREM", self._key(user_id), conn_id), ("ZREM", self._all_key, conn_id)
        raise_first(await self._server(user_id).send(*removals))

    async def refresh(self) -> None:
        expires = self._clock() + self._ttl
        by_user: dict[int, list[str]] = {}
        for conn_id, user_id in list(self._local.items()):
            by_user.setdefault(user_id, []).append(conn_id)
        by_server: dict[int, tuple[RedisCalls, list[Command]]] = {}
        for user_id, conns in by_user.items():
            server = self._server(user_id)
            scored = [part for conn_id in conns for part in (expires, conn_id)]
            by_server.setdefault(id(server), (server, []))[1].extend(
                [
                    ("ZADD", self._key(user_id), *scored),
                    ("EXPIRE", self._key(user_id), int(self._ttl) + 1),
                    ("ZADD", self._all_key, *scored),
                ]
            )
        for server, commands in by_server.values():
            raise_first(await server.send(*commands))

    async def open_count(self) -> int:
        """Sockets open in every process; a crashed process's entries are dropped as they
        expire, here, since nobody else owns the service-wide sets."""
        now, count = self._clock(), 0
        for server in self._servers.all:
            expired = ("ZREMRANGEBYSCORE", self._all_key, "-inf", now)
            _, on_server = raise_first(await server.send(expired, ("ZCARD", self._all_key)))
            count += int(on_server)
        return count

    async def aclose(self) -> None:
        for server in self._servers.all:
            await server.aclose()

    async def _refresh_forever(self) -> None:
        while self._local:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):  # Redis away: retry on the next beat
                await self.refresh()


def _make_store() -> MemorySockets | RedisSockets:
    url = settings.REDIS_URL
    return RedisSockets(url, settings.CHANNEL_LAYER_PREFIX) if url else MemorySockets()


async def _close_store(held: MemorySockets | RedisSockets) -> None:
    if isinstance(held, RedisSockets):  # its connections belong to the closing loop
        await held.aclose()


_stores = PerLoop(_make_store, close=_close_store)


async def socket_admit(*, user_id: int, conn_id: str) -> bool:
    """Count this socket against the user's cap; False (and not counted) when it is full."""
    return await _stores.get().admit(user_id, conn_id, settings.CHAT_MAX_SOCKETS_PER_USER)


async def socket_release(*, user_id: int, conn_id: str) -> None:
    await _stores.get().release(user_id, conn_id)


async def sockets_open_count() -> int:
    """Sockets open now across the service (every process, every kind of socket)."""
    return await _stores.get().open_count()
