"""The Redis pub/sub channel layer, told when its subscriber connection came back.

Pub/sub keeps nothing for a subscriber that is away: whatever was published while the
connection was down (Redis restarted, a network blip) never reaches this process. redis-py
reconnects and subscribes again by itself, silently, so sockets would stay open with a hole
in what they were sent. Here every reconnect puts a `layer.gap` event in each of this
process's channels; consumers close with 1012 and clients reconnect with `?after=`, catching
up from the database (the record). channels-redis's core layer fails loudly instead (its
receive raises), which is why it needed none of this.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from mychannels.runtime.identitycache import IdentityCache
from mychannels.runtime.inbox import Inbox
from mychannels.runtime.redisline import RedisLine
from mychannels.runtime.subscriber import Subscriber

logger = logging.getLogger(__name__)

GAP_EVENT = {"type": "layer.gap"}


class _GapAwarePubSub(PubSub):
    """redis-py's PubSub, which calls `on_connect` after every (re)connect to subscribe again."""

    def __init__(self, *args: Any, on_reconnect: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_reconnect = on_reconnect
        self._connected_before = False

    async def connect(self) -> None:
        await super().connect()
        self._connected_before = True

    async def on_connect(self, connection: Any) -> None:
        await super().on_connect(connection)
        if self._connected_before:  # a reconnect: the first connect happens before it
            self._on_reconnect()


class GapAwareShardConnection(RedisSingleShardConnection):
    """One Redis connection's subscriptions, told when the connection came back, and sent in
    batches.

    channels-redis sends each SUBSCRIBE and UNSUBSCRIBE on its own, one at a time under the
    shard's lock, and every socket makes three of them when it opens (its channel, its room,
    its user) and three when it closes. In a connect storm of 2,000 sockets that queue was the
    longest wait: about 3 s for the channels, then 3 s more for the groups, every socket
    behind all the others (docs/performance.md). Here the requests that arrive while one
    batch is being sent go out together, as one command for each run of the same kind, in
    the order they were asked for; alone, a request goes out at once, as before. As before, a
    request returns once its command is written, not when Redis confirms it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests: list[tuple[str, str, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None
        address = self.host.get("address", "")
        self._lean = RedisLine.handles(address)  # plain redis://: no redis-py on the hot path
        self._connect_timeout = self.host.get("socket_connect_timeout") or 5.0
        self._publisher = (
            RedisLine(
                address,
                timeout=self.host.get("socket_timeout") or 5.0,
                connect_timeout=self._connect_timeout,
            )
            if self._lean
            else None
        )

    async def publish(self, channel: str, message: bytes) -> None:
        """On a pipelined connection of its own (mychannels/runtime/redisline.py): a message's
        PUBLISHes were two of its three costliest calls, and the base class sent each one
        alone, under the lock its subscriptions take, waiting for the one before."""
        if self._publisher is None:
            await super().publish(channel, message)
            return
        await self._publisher.execute("PUBLISH", channel, message)

    async def flush(self) -> None:
        await super().flush()
        if self._publisher is not None:
            await self._publisher.aclose()
        if isinstance(self._pubsub, Subscriber):
            await self._pubsub.aclose()
            self._pubsub = None

    async def subscribe(self, channel: str) -> None:
        await self._request("subscribe", channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._request("unsubscribe", channel)

    async def _request(self, kind: str, channel: str) -> None:
        done = asyncio.get_running_loop().create_future()
        self._requests.append((kind, channel, done))
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send_requests())
        await done

    async def _send_requests(self) -> None:
        batch: list[tuple[str, str, asyncio.Future]] = []
        try:
            while self._requests:
                batch, self._requests = self._requests, []
                async with self._lock:
                    for kind, run in _runs_of_a_kind(batch):
                        await self._send_run(kind, run)
        finally:
            self._sender = None
            # Cancelled (the loop is closing): no caller is left waiting for a batch that
            # will never be sent.
            for _, _, done in batch + self._requests:
                done.cancel()

    async def _send_run(self, kind: str, run: list[tuple[str, asyncio.Future]]) -> None:
        subscribing = kind == "subscribe"
        wanted = dict.fromkeys(channel for channel, _ in run)
        channels = [c for c in wanted if (c in self._subscribed_to) != subscribing]
        try:
            if channels:
                self._ensure_redis()
                self._ensure_receiver()
                await getattr(self._pubsub, kind)(*channels)
                if subscribing:
                    self._subscribed_to.update(channels)
                else:
                    self._subscribed_to.difference_update(channels)
        except Exception as error:  # Redis away: these callers fail, the next batch still goes
            for _, done in run:
                if not done.done():  # a caller that gave up is cancelled already
                    done.set_exception(error)
            return
        for _, done in run:
            if not done.done():
                done.set_result(None)

    def _receive_message(self, message: dict | None) -> None:
        """As the base class (redis-py's PubSub, on a TLS or socket-file server)."""
        if message is not None:
            self._deliver(message["channel"], message["data"])

    def _deliver(self, name: bytes | str, data: bytes) -> None:
        """A published message to this process's channels: a group event goes straight to
        the members that can take it now (mychannels/runtime/fanout.py), decoded once; the
        others get it in their queues."""
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        channels = layer.channels
        queue = channels.get(name)
        if queue is not None:
            queue.put_nowait(data)
            return
        event = None
        # Once per member of every broadcast: Inbox.parked and the handler's error guard are
        # written out here rather than called.
        for channel in tuple(layer.groups.get(name, ())):
            inbox = channels.get(channel)
            if inbox is None:
                continue
            direct, reader = inbox.direct, inbox._reader
            if direct is not None and reader is not None and not inbox._items and not reader.done():
                if event is None:
                    event = layer.channel_layer.deserialize(data)
                try:
                    if direct(event):
                        continue
                except Exception:
                    # The event takes the consumer's own path, which meets the same error
                    # and ends that consumer as it always did (not this receiver).
                    logger.exception("a direct delivery failed; it goes through the consumer")
            inbox.put_nowait(data)

    def _ensure_redis(self) -> None:
        if self._lean:
            # Subscriptions on a connection whose messages are handed over as they are read
            # (mychannels/runtime/subscriber.py); the publishes have their own.
            if self._pubsub is None:
                self._pubsub = Subscriber(
                    self.host["address"],
                    self._deliver,
                    self._announce_gap,
                    connect_timeout=self._connect_timeout,
                )
            return
        if self._redis is not None:
            return
        super()._ensure_redis()
        self._pubsub = _GapAwarePubSub(self._redis.connection_pool, on_reconnect=self._announce_gap)

    def _ensure_receiver(self) -> None:
        if not self._lean:  # the subscriber reads its own connection: no polling task
            super()._ensure_receiver()

    def _announce_gap(self) -> None:
        """Tell the local members of every group this server carries that they may have
        missed events. With several servers (REDIS_URL lists them) only their share: the
        others' broadcasts kept arriving. Channels are told through their groups only: the
        service sends to groups, never to one channel, so a channel's own subscription lost
        nothing that anyone sent."""
        layer = self.channel_layer
        told: set[str] = set()
        for name in self._subscribed_to:
            told.update(layer.groups.get(name, ()))
        logger.warning(
            "Redis server %d of the channel layer came back: %d of %d local channels "
            "told to catch up",
            layer._shards.index(self) if self in layer._shards else -1,
            len(told),
            len(layer.channels),
        )
        event = layer.channel_layer.serialize(GAP_EVENT)
        for channel in told:
            queue = layer.channels.get(channel)
            if queue is not None:
                queue.put_nowait(event)


def _runs_of_a_kind(
    requests: list[tuple[str, str, asyncio.Future]],
) -> list[tuple[str, list[tuple[str, asyncio.Future]]]]:
    """Consecutive requests of the same kind, grouped, in order."""
    runs: list[tuple[str, list[tuple[str, asyncio.Future]]]] = []
    for kind, channel, done in requests:
        if not runs or runs[-1][0] != kind:
            runs.append((kind, []))
        runs[-1][1].append((channel, done))
    return runs


class GapAwareLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [GapAwareShardConnection(s.host, self) for s in self._shards]

    async def _subscribe_to_channel(self, channel: str) -> None:
        # As the base class, with a lighter queue: one per open socket (runtime/inbox.py).
        self.channels[channel] = Inbox()
        try:
            await self._get_shard(channel).subscribe(channel)
        except BaseException:
            self.channels.pop(channel, None)
            raise

    async def forget_channel(self, channel: str) -> None:
        """What `receive` does when it is cancelled while it waits: drop the channel's inbox
        and its subscription. A consumer's reader cancelled anywhere else (waiting for its
        turn behind the disconnect handler, with an event it had just read) left both behind,
        and the inbox's direct handler kept the whole consumer, its socket and its scope alive
        for the life of the process."""
        if self.channels.pop(channel, None) is None:
            return  # `receive` cleaned up already
        try:
            await self._get_shard(channel).unsubscribe(channel)
        except Exception:  # as `receive`: Redis away is no reason to fail a socket's end
            logger.exception("Unexpected exception while cleaning-up channel:")

    async def new_channel(self, prefix: str = "specific.") -> str:
        """As the base class, but a name whose Redis server is away is traded for another:
        the name is random, so it may as well land on a server that is up. With several
        servers (REDIS_URL), a socket whose groups live on servers that are up then opens
        while another server is away, instead of failing on its own channel's subscription."""
        attempts = 4 * len(self._shards)
        for attempt in range(attempts):
            channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
            try:
                await self._subscribe_to_channel(channel)
            except (RedisError, OSError):
                if attempt == attempts - 1 or len(self._shards) == 1:
                    raise
                continue
            return channel
        raise AssertionError("unreachable")


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis's pub/sub layer with gap events, `receive` called directly (the
    base class reaches it through `__getattr__` and a proxy coroutine on every event), and
    each published event decoded once per process.

    A group message arrives once and its bytes go into the queue of every member's channel;
    the base class decodes it again for each of them. Here the members get the same decoded
    event (handlers only read events), so the text of a broadcast is one string object and
    mychannels/runtime/wsprotocol.py frames it once for the whole room.
    """

    _DECODED_CACHE_SIZE = 64  # broadcasts being delivered at once, with room to spare

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: IdentityCache[bytes, dict] = IdentityCache(self._DECODED_CACHE_SIZE)

    def deserialize(self, message: bytes) -> dict:
        # By identity: the same bytes object sits in every member's queue.
        return self._decoded.get(message, super().deserialize)

    def _get_layer(self) -> GapAwareLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:  # as the base class does, with our loop layer
            layer = GapAwareLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer

    def receive(self, channel: str) -> Awaitable[dict]:
        # The loop layer's own coroutine, with no frame of this method's around it for as
        # long as the socket waits (idle memory).
        return self._get_layer().receive(channel)

    async def forget_channel(self, channel: str) -> None:
        """The channel is no longer read (its consumer has ended): see the loop layer's."""
        await self._get_layer().forget_channel(channel)

    def deliver_directly(self, channel: str, handler: Callable[[dict], bool] | None) -> None:
        """Lend (or, with None, take back) the channel's synchronous handler of group events
        (mychannels/runtime/fanout.py). The channel must be this loop's."""
        inbox = self._get_layer().channels.get(channel)
        if inbox is not None:
            inbox.direct = handler
