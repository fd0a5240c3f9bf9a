"""A Redis pub/sub connection that hands each published message to a callback as it is read.

redis-py's PubSub is read by a task that polls `get_message` every 0.1 s: each broadcast
costs that task a wake-up and redis-py's reading machinery, about 150 us of CPU per message
in a tight loop and 775 us with 10 ms between messages, against 2 and 12 us for the same
replies parsed by hiredis in the protocol's `data_received` (docs/performance.md); an idle
process also woke ten times a second for nothing. Here the message reaches the channel
layer's receiver in the same call that read it.

A lost connection is opened again, with a growing pause, and every channel subscribed again;
`on_reconnect` then runs, since whatever was published meanwhile is lost (layers.py turns it
into the consumers' gap events). Plain `redis://` servers only (RedisLine.handles).
"""

import asyncio
import logging
from collections.abc import Callable

import hiredis
from redis import exceptions

from mychannels.runtime.redisline import RedisLine
from mychannels.runtime.singleflight import SingleFlight

logger = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, bytes], None]  # (channel, data)
SUBSCRIBE_BATCH = 1000  # channels per command when subscribing again after a reconnect


class _PushProtocol(asyncio.Protocol):
    def __init__(self, on_message: MessageHandler, on_lost: Callable[[], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._on_message = on_message
        self._on_lost = on_lost
        self._reader = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                self._on_message(reply[1], reply[2])
            elif isinstance(reply, hiredis.ReplyError):
                logger.warning("Redis refused a subscription command: %s", reply)
            # else a (un)subscribe confirmation: commands return once written, as before

    def write(self, *command: bytes | str) -> None:
        self.transport.write(hiredis.pack_command(command))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._on_lost()


class Subscriber:
    """The channels this process listens to on one Redis server."""

    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        on_reconnect: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
        longest_pause: float = 1.0,
    ) -> None:
        # Only for opening connections: the URL's server, password and timeout.
        self._server = RedisLine(url, connect_timeout=connect_timeout)
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._longest_pause = longest_pause
        self._protocol: _PushProtocol | None = None
        self._connect = SingleFlight(self._open)
        self._reconnecting: asyncio.Task | None = None
        self._connected_before = False
        self._closing = False
        self.channels: set[str] = set()

    async def subscribe(self, *channels: str) -> None:
        """Subscribe (written, not confirmed); ConnectionError when the server is away. As
        redis-py's PubSub is called."""
        wanted = [channel for channel in channels if channel not in self.channels]
        protocol = await self._connected()
        self.channels.update(wanted)
        if wanted:
            protocol.write("SUBSCRIBE", *wanted)

    async def unsubscribe(self, *channels: str) -> None:
        """Unsubscribe; nothing to do on a server that is away (it forgot them already)."""
        dropped = [channel for channel in channels if channel in self.channels]
        self.channels.difference_update(dropped)
        protocol = self._protocol
        if dropped and protocol is not None and not protocol.closed:
            protocol.write("UNSUBSCRIBE", *dropped)

    async def _connected(self) -> _PushProtocol:
        if self._protocol is not None and not self._protocol.closed:
            return self._protocol
        return await self._connect()

    async def _open(self) -> _PushProtocol:
        # Pub/sub channels belong to no database: no SELECT.
        protocol = await self._server.open(
            lambda: _PushProtocol(self._on_message, self._lost), select=False
        )
        self._protocol = protocol  # from here on, (un)subscribing writes to it
        if self.channels:  # a reconnect: what was subscribed before, again
            subscribed = sorted(self.channels)
            for start in range(0, len(subscribed), SUBSCRIBE_BATCH):
                protocol.write("SUBSCRIBE", *subscribed[start : start + SUBSCRIBE_BATCH])
        if self._connected_before:
            self._on_reconnect()
        self._connected_before = True
        return protocol

    def _lost(self) -> None:
        if self._closing or not self.channels or self._reconnecting is not None:
            return
        self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        pause = 0.05
        try:
            while not self._closing and self.channels:
                try:
                    await self._connected()
                    return
                except exceptions.ConnectionError as error:
                    logger.warning("Redis pub/sub: %s; trying again in %.2f s", error, pause)
                await asyncio.sleep(pause)
                pause = min(self._longest_pause, pause * 2)
        finally:
            self._reconnecting = None

    async def aclose(self) -> None:
        self._closing = True
        self.channels = set()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
