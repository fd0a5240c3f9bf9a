"""The one way this service's own Redis clients (presence, flood control, socket cap) are made."""

from django.conf import settings
from redis import asyncio as aioredis


def redis_client(url: str, *, decode_responses: bool = False) -> aioredis.Redis:
    """A client sized and retried like the channel layer's pool: every socket of a connect
    storm touches Redis at once and redis-py 8 caps a pool at 100 (DESIGN.md, trap 1), and
    after a Redis restart every pooled connection is dead until retried."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=5,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        retry=settings.REDIS_RETRY,
        decode_responses=decode_responses,
    )
