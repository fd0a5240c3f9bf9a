"""The one way this service's own redis-py clients are made: the dashboard's counters, and
presence, flood control and the socket cap on servers a RedisLine does not take (TLS, socket
files; mychannels/runtime/redisline.py)."""

from django.conf import settings
from redis import asyncio as aioredis


def redis_client(url: str, *, decode_responses: bool = False) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of opening one per caller.

    In a connect storm every socket touches Redis at once: redis-py's default pool opened a
    connection per waiting caller (each costing a TCP connect, a handshake and, in redis-py 8,
    a read of its own package metadata: a third of the server's CPU in a 2,000-socket storm,
    docs/performance.md), or refused past 100 (DESIGN.md, trap 1). Calls take a fraction of a
    millisecond, so a few dozen connections serve any storm. Retried, because after a Redis
    restart every pooled connection is dead until reconnected.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.REDIS_CLIENT_POOL_SIZE,
        timeout=settings.REDIS_CLIENT_POOL_WAIT,
        socket_timeout=5,
        retry=settings.REDIS_RETRY,
        decode_responses=decode_responses,
    )
    return aioredis.Redis(connection_pool=pool)
