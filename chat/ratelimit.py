"""Flood control: one token bucket per user, shared by all their tabs and processes.

On Redis the bucket lives in Redis (one atomic script call), so the limit holds across
server processes; without Redis it lives in this process, which is all there is then.
"""

import logging
import time

import redis
from django.conf import settings

from mychannels.runtime.loopcache import PerLoop
from mychannels.runtime.rediscalls import LuaScript, RedisCalls
from mychannels.runtime.redisshards import Shards, redis_urls

logger = logging.getLogger(__name__)

# Several buckets in one call, in order; each is taken only if those before it allowed.
# KEYS: the buckets; ARGV: now (s), then rate/s and burst per bucket. Returns 0 when every
# bucket allowed, else the (1-based) number of the first that refused.
_TOKEN_BUCKETS_LUA = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local allowed = tokens >= 1
  if allowed then tokens = tokens - 1 end
  redis.call('HSET', key, 'tokens', tokens, 'ts', now)
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
  if not allowed then return i end
end
return 0
"""
_TOKEN_BUCKETS = LuaScript(_TOKEN_BUCKETS_LUA)

Limit = tuple[str, float, int]  # bucket key, rate per second, burst


class MemoryBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, rate: float, burst: int) -> bool:
        return await self.take_all([(key, rate, burst)]) == 0

    async def take_all(self, limits: list[Limit]) -> int:
        """Like the Redis script: 0 if every bucket allowed, else the number of the first
        that refused (the buckets after it are left alone)."""
        now = time.monotonic()
        for number, (key, rate, burst) in enumerate(limits, start=1):
            tokens, stamp = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - stamp) * rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            if not allowed:
                return number
        return 0


class RedisBuckets:
    """Buckets in Redis. A bucket's key is `<kind>:<user id>`; one call's buckets belong to one
    user, share that user's hash tag and live on the server that carries the user's group
    (mychannels/runtime/redisshards.py)."""

    def __init__(self, url: str | list[str], prefix: str) -> None:
        urls = redis_urls(url) if isinstance(url, str) else url
        # Every message pays for this call: a pipelined connection on a plain redis:// server
        # (mychannels/runtime/redisline.py), redis-py's pool on TLS or a socket file.
        self._servers = Shards(urls, prefix, RedisCalls)
        self._prefix = prefix
        # While Redis is away, limits still hold, per process: failing closed would cut every
        # socket off over an outage, failing open would leave the database unprotected.
        self._fallback = MemoryBuckets()
        self._redis_down = False

    async def take(self, key: str, rate: float, burst: int) -> bool:
        return await self.take_all([(key, rate, burst)]) == 0

    async def take_all(self, limits: list[Limit]) -> int:
        """Several buckets in one round trip: see MemoryBuckets.take_all."""
        args: list[float] = [time.time()]
        for _, rate, burst in limits:
            args += [rate, burst]
        owner = limits[0][0].rpartition(":")[2]
        keys = []
        for key, _, _ in limits:
            kind, _, key_owner = key.rpartition(":")
            assert key_owner == owner, "one call's buckets belong to one user"
            keys.append(f"{{{self._prefix}:user.{owner}}}:rl:{kind}")
        server = self._servers.for_group(f"user.{owner}")
        try:
            refused = await server.call(_TOKEN_BUCKETS.call(keys, args))
        except redis.RedisError as error:
            self._went_down(error)
            return await self._fallback.take_all(limits)
        self._back_up()
        return int(refused)

    async def aclose(self) -> None:
        for server in self._servers.all:
            await server.aclose()

    def _went_down(self, error: Exception) -> None:
        if not self._redis_down:
            logger.warning("flood control: Redis unavailable (%s); limiting per process", error)
            self._redis_down = True

    def _back_up(self) -> None:
        if self._redis_down:
            logger.warning("flood control: Redis is back")
            self._redis_down = False


def _make_buckets() -> MemoryBuckets | RedisBuckets:
    url = settings.REDIS_URL
    return RedisBuckets(url, settings.CHANNEL_LAYER_PREFIX) if url else MemoryBuckets()


async def _close_buckets(held: MemoryBuckets | RedisBuckets) -> None:
    if isinstance(held, RedisBuckets):
        await held.aclose()


_buckets = PerLoop(_make_buckets, close=_close_buckets)


def buckets() -> MemoryBuckets | RedisBuckets:
    return _buckets.get()


async def allow_message(*, user_id: int) -> bool:
    """Whether this user may send one more message now (3/s sustained, bursts of 20)."""
    return await buckets().take(*_message_limit(user_id))


def _message_limit(user_id: int) -> Limit:
    return (f"msg:{user_id}", settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST)


def _request_limit(user_id: int) -> Limit:
    return (f"req:{user_id}", settings.CHAT_REQUEST_RATE_PER_SECOND, settings.CHAT_REQUEST_BURST)


async def allow_frame(*, user_id: int, is_message: bool) -> bool:
    """A socket frame: a request, and for a message frame a message too, in one Redis call
    (a message used to cost two round trips on its way in). The message bucket is left
    alone when the request bucket refuses, as two calls in a row would."""
    limits = [_request_limit(user_id)] + ([_message_limit(user_id)] if is_message else [])
    return await buckets().take_all(limits) == 0


async def allow_request(*, user_id: int) -> bool:
    """Whether this user may make one more request of any kind: every socket frame (messages
    included), HTTP reads, joining and leaving (20/s sustained, bursts of 100). Bad frames
    count too: answering garbage is work."""
    return await buckets().take(*_request_limit(user_id))


async def allow_room_create(*, user_id: int) -> bool:
    """Whether this user may create one more room or direct room now: a new row each, so a
    script must not mint them without bound (one per 10 s sustained, bursts of 10)."""
    rate = getattr(settings, "CHAT_ROOM_CREATE_RATE_PER_SECOND", 0.1)
    burst = getattr(settings, "CHAT_ROOM_CREATE_BURST", 10)
    return await buckets().take(f"room:{user_id}", rate, burst)
