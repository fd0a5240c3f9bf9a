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
from mychannels.runtime.redisclient import redis_client

TTL_SECONDS = 40
HEARTBEAT_SECONDS = 15

# KEYS[1] the user's set, KEYS[2] every socket's; ARGV: now, expires, cap, conn_id, ttl.
# Returns 1 when admitted.
_ADMIT_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
return 1
"""


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
    def __init__(
        self,
        url: str,
        prefix: str,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis_client(url)
        self._admit = self._redis.register_script(_ADMIT_LUA)
        self._prefix = f"{prefix}:sockets"
        self._all_key = f"{self._prefix}:all"
        self._ttl = ttl
        self._clock = clock
        self._local: dict[int, set[str]] = {}  # what this process holds, for the heartbeat
        self._heartbeat: asyncio.Task | None = None

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}:user:{user_id}"

    async def admit(self, user_id: int, conn_id: str, cap: int) -> bool:
        now = self._clock()
        admitted = await self._admit(
            keys=[self._key(user_id), self._all_key],
            args=[now, now + self._ttl, cap, conn_id, int(self._ttl) + 1],
        )
        if admitted:
            self._local.setdefault(user_id, set()).add(conn_id)
            if self._heartbeat is None or self._heartbeat.done():
                self._heartbeat = asyncio.ensure_future(self._refresh_forever())
        return bool(admitted)

    async def release(self, user_id: int, conn_id: str) -> None:
        conns = self._local.get(user_id, set())
        conns.discard(conn_id)
        if not conns:
            self._local.pop(user_id, None)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._key(user_id), conn_id)
            pipe.zrem(self._all_key, conn_id)
            await pipe.execute()

    async def refresh(self) -> None:
        expires = self._clock() + self._ttl
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id, conns in list(self._local.items()):
                pipe.zadd(self._key(user_id), dict.fromkeys(conns, expires))
                pipe.expire(self._key(user_id), int(self._ttl) + 1)
                pipe.zadd(self._all_key, dict.fromkeys(conns, expires))
            await pipe.execute()

    async def open_count(self) -> int:
        """Sockets open in every process; a crashed process's entries are dropped as they
        expire, here, since nobody else owns the service-wide set."""
        now = self._clock()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self._all_key, "-inf", now)
            pipe.zcard(self._all_key)
            _, count = await pipe.execute()
        return int(count)

    async def _refresh_forever(self) -> None:
        while self._local:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):  # Redis away: retry on the next beat
                await self.refresh()


def _make_store() -> MemorySockets | RedisSockets:
    url = settings.REDIS_URL
    return RedisSockets(url, settings.CHANNEL_LAYER_PREFIX) if url else MemorySockets()


_stores = PerLoop(_make_store)


async def socket_admit(*, user_id: int, conn_id: str) -> bool:
    """Count this socket against the user's cap; False (and not counted) when it is full."""
    return await _stores.get().admit(user_id, conn_id, settings.CHAT_MAX_SOCKETS_PER_USER)


async def socket_release(*, user_id: int, conn_id: str) -> None:
    await _stores.get().release(user_id, conn_id)


async def sockets_open_count() -> int:
    """Sockets open now across the service (every process, every kind of socket)."""
    return await _stores.get().open_count()
