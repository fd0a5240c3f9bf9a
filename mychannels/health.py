"""`/healthz` for load balancers, and a clear log line when Redis is down at start.

The check answers 200 when the database and the channel layer both work, else 503; each part
has a short timeout, so a hung dependency makes the check fail rather than hang. It needs no
login and says only "ok", "down" or "timeout": details go to the log, not to the public.
"""

import asyncio
import logging
import uuid
import weakref
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


def _ping_database() -> None:
    # Runs in a thread of its own (not the shared ORM thread) with a connection of its own,
    # so a hung database cannot block other requests' queries behind this one.
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _ping_channel_layer() -> None:
    """A round trip through the layer on a channel of its own. The channel is made first: on
    the pub/sub layer that subscribes it, and a message sent before would go nowhere. One
    channel per process, reused, because pub/sub keeps every channel it ever made subscribed."""
    layer = get_channel_layer()
    channel = await _health_channel(layer)
    nonce = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "nonce": nonce})
    while True:  # skipped: a ping left over from a check that timed out, a layer.gap event
        message = await layer.receive(channel)
        if message.get("type") == "health.ping" and message.get("nonce") == nonce:
            return


# Per event loop, as the layers keep their connections.
_health_channels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def _health_channel(layer) -> str:
    loop = asyncio.get_running_loop()
    if loop not in _health_channels:
        _health_channels[loop] = await layer.new_channel("healthz.")
    return _health_channels[loop]


async def _status(name: str, check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("health check: %s did not answer within %s s", name, CHECK_TIMEOUT_SECONDS)
        return "timeout"
    except Exception as error:
        logger.warning("health check: %s is down: %r", name, error)
        return "down"
    return "ok"


@never_cache
@require_safe
@login_not_required
async def healthz(request: HttpRequest) -> JsonResponse:
    database, channel_layer = await asyncio.gather(
        _status("the database", sync_to_async(_ping_database, thread_sensitive=False)),
        _status("the channel layer", _ping_channel_layer),
    )
    healthy = database == channel_layer == "ok"
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "channel_layer": channel_layer,
    }
    return JsonResponse(body, status=200 if healthy else 503)


def redacted(url: str) -> str:
    """The URL without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def log_redis_at_start() -> None:
    """Say clearly at start when the Redis channel layer cannot be reached: every socket
    would fail in group_add with a long traceback otherwise, and nothing else says why."""
    if not settings.REDIS_URL:
        return
    import redis

    from mychannels.runtime.redisshards import redis_urls

    for server_url in redis_urls(settings.REDIS_URL):  # each shard on its own
        url = redacted(server_url)
        try:
            client = redis.Redis.from_url(
                server_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=2
            )
            with client:
                client.ping()
        except redis.RedisError as error:
            logger.error(
                "Redis at %s is unreachable (%s): the channel layer is down for its share of "
                "rooms and users, so their WebSockets will fail until it is back; /healthz "
                "reports it.",
                url,
                error,
            )
            continue
        logger.info("Channel layer: Redis at %s is reachable.", url)
