"""Flood control: one token bucket per user, shared by all their tabs and processes.

On Redis the bucket lives in Redis (one atomic script call), so the limit holds across
server processes; without Redis it lives in this process, which is all there is then.
"""

import logging
import time

import redis
from django.conf import settings

from chat.loopcache import PerLoop
from chat.redisclient import redis_client

logger = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV: rate/s, burst, now (s), cost. Returns 1 when allowed.
_TOKEN_BUCKET_LUA = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class MemoryBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, rate: float, burst: int) -> bool:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        return allowed


class RedisBuckets:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis_client(url)
        self._script = self._redis.register_script(_TOKEN_BUCKET_LUA)
        self._prefix = prefix
        # While Redis is away, limits still hold, per process: failing closed would cut every
        # socket off over an outage, failing open would leave the database unprotected.
        self._fallback = MemoryBuckets()
        self._redis_down = False

    async def take(self, key: str, rate: float, burst: int) -> bool:
        try:
            allowed = await self._script(
                keys=[f"{self._prefix}:rl:{key}"], args=[rate, burst, time.time(), 1]
            )
        except redis.RedisError as error:
            if not self._redis_down:
                logger.warning("flood control: Redis unavailable (%s); limiting per process", error)
                self._redis_down = True
            return await self._fallback.take(key, rate, burst)
        if self._redis_down:
            logger.warning("flood control: Redis is back")
            self._redis_down = False
        return bool(allowed)


def _make_buckets() -> MemoryBuckets | RedisBuckets:
    url = settings.REDIS_URL
    return RedisBuckets(url, settings.CHANNEL_LAYER_PREFIX) if url else MemoryBuckets()


_buckets = PerLoop(_make_buckets)


def buckets() -> MemoryBuckets | RedisBuckets:
    return _buckets.get()


async def allow_message(*, user_id: int) -> bool:
    """Whether this user may send one more message now (3/s sustained, bursts of 20)."""
    return await buckets().take(
        f"msg:{user_id}", settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    )


async def allow_request(*, user_id: int) -> bool:
    """Whether this user may make one more request of any kind: every socket frame (messages
    included), HTTP reads, joining and leaving (20/s sustained, bursts of 100). Bad frames
    count too: answering garbage is work."""
    return await buckets().take(
        f"req:{user_id}", settings.CHAT_REQUEST_RATE_PER_SECOND, settings.CHAT_REQUEST_BURST
    )
