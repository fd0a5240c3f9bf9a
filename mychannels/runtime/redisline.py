"""Commands to one Redis server, pipelined on one connection of this event loop: for the
commands every message pays for (its flood-control script and its PUBLISHes).

redis-py's client costs about 130 us of CPU per command here in a tight loop, and 570 us
when the loop idled in between (a message every 100 ms, a 10-message/s room), most of it its
own code: the pool, the connection's checks, the retry wrapper, the parser's dispatch. The
same PUBLISH packed and parsed by hiredis (redis-py's own C parser) on a plain asyncio
protocol costs 18 us and 194 us (docs/performance.md). Redis answers a connection's commands
in order, so replies are matched to callers in order; commands issued in the same turn of the
loop go out in one write, and no caller waits for another's reply before sending.

Plain `redis://` servers only (`RedisLine.handles`): TLS and Unix sockets keep redis-py.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis import exceptions
from redis._parsers.base import BaseParser
from redis.asyncio.connection import parse_url

from mychannels.runtime.singleflight import SingleFlight

Arg = bytes | str | int | float


class _LineProtocol(asyncio.Protocol):
    """One connection: written commands' futures, in order, and the replies as they come."""

    def __init__(self, name: str, encoding: str | None = None) -> None:
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # With an encoding, hiredis decodes every string reply in C, as redis-py's
        # decode_responses=True does with the same parser; numbers stay ints.
        self._reader = hiredis.Reader(encoding=encoding) if encoding else hiredis.Reader()
        self._waiting: deque[tuple[asyncio.Future, float]] = deque()
        self._unsent: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes, timeout: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        if self.closed:
            reply.set_exception(exceptions.ConnectionError(f"connection to {self.name} closed"))
            return reply
        self._waiting.append((reply, time.monotonic() + timeout))
        if not self._unsent:
            loop.call_soon(self._flush)
        self._unsent.append(packed)
        if self._timer is None:
            self._timer = loop.call_later(timeout, self._check_overdue)
        return reply

    def _flush(self) -> None:
        if self._unsent and not self.closed:
            self.transport.write(b"".join(self._unsent))
        self._unsent = []

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if not self._waiting:
                self._fail(exceptions.ConnectionError(f"{self.name} answered nothing asked"))
                return
            waiter, _ = self._waiting.popleft()
            if waiter.done():  # its caller gave up (cancelled): the reply is dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(BaseParser.parse_error(str(reply)))
            else:
                waiter.set_result(reply)

    def _check_overdue(self) -> None:
        """One timer per connection, not one per command: the oldest command decides."""
        self._timer = None
        if not self._waiting or self.closed:
            return
        due = self._waiting[0][1]
        now = time.monotonic()
        if now >= due:
            self._fail(exceptions.TimeoutError(f"{self.name} did not answer in time"))
            return
        self._timer = asyncio.get_running_loop().call_later(due - now, self._check_overdue)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exceptions.ConnectionError(f"connection to {self.name} lost: {exc}"))

    def _fail(self, error: exceptions.RedisError) -> None:
        """Every command still waiting fails; the connection is not used again (what it
        would answer next is unknown)."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, deque()
        for waiter, _ in waiting:
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class RedisLine:
    """Commands to one Redis server (`redis://[user:password@]host[:port][/db]`) from this
    event loop, on one connection opened on first use and again after it fails. With
    `decode_responses`, string replies come back as str (UTF-8), as from redis-py's client
    made with that option; without it, as bytes."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
        decode_responses: bool = False,
    ) -> None:
        params = parse_url(url)
        self._host = params.get("host", "localhost")
        self._port = params.get("port", 6379)
        self._db = params.get("db", 0)
        self._username = params.get("username")
        self._password = params.get("password")
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._encoding = "utf-8" if decode_responses else None
        self._name = f"Redis {self._host}:{self._port}"
        self._protocol: _LineProtocol | None = None
        self._connect = SingleFlight(self._reconnect)

    @staticmethod
    def handles(url: str) -> bool:
        """Whether `url` is a plain TCP server this client speaks to (no TLS, no socket file)."""
        return url.startswith("redis://")

    async def execute(self, *args: Arg) -> Any:
        """The command's reply (redis-py's exceptions on failure). A command that fails
        because a connection kept from before was dead (Redis restarted meanwhile) is sent
        once more on a new connection, as redis-py's retry does."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            return await self._send(await self._connected(), args)
        try:
            return await self._send(protocol, args)
        except exceptions.ConnectionError:
            return await self._send(await self._connected(), args)

    async def execute_many(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Each command's reply, or the exception it failed with, the commands written
        together; as `execute`, those that failed on a connection kept from before are sent
        once more on a new one. Awaits the replies' futures in order: gathering them as
        coroutines made a task per command (7% of a connect storm's CPU, docs/performance.md,
        "2026-12-08")."""
        protocol = self._protocol
        kept = protocol is not None and not protocol.closed
        replies = await self._written(protocol if kept else None, commands)
        lost = [i for i, reply in enumerate(replies) if _lost(reply)]
        if kept and lost:
            again = await self._written(None, [commands[i] for i in lost])
            for i, reply in zip(lost, again, strict=True):
                replies[i] = reply
        return replies

    async def _written(
        self, protocol: _LineProtocol | None, commands: Sequence[Sequence[Arg]]
    ) -> list[Any]:
        """The commands' replies on `protocol`, or on the line's connection, opened if need
        be (failing to open it is every command's failure)."""
        if protocol is None:
            try:
                protocol = await self._connected()
            except exceptions.ConnectionError as error:
                return [error] * len(commands)
        return await _replies([self._send(protocol, command) for command in commands])

    def _send(self, protocol: _LineProtocol, args: Sequence[Arg]) -> asyncio.Future:
        return protocol.send(hiredis.pack_command(tuple(args)), self._timeout)

    async def _connected(self) -> _LineProtocol:
        if self._protocol is not None and not self._protocol.closed:
            return self._protocol
        return await self._connect()

    async def _reconnect(self) -> _LineProtocol:
        self._protocol = await self.open()
        return self._protocol

    async def open(
        self, factory: Callable[[], asyncio.Protocol] | None = None, *, select: bool = True
    ) -> Any:
        """A new connection to the server, authenticated and, with `select`, on the URL's
        database; speaking `factory()`'s protocol once that is done (a line's by default)."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _LineProtocol(self._name, self._encoding), self._host, self._port
                )
        except (OSError, TimeoutError) as error:
            raise exceptions.ConnectionError(f"Error connecting to {self._name}: {error}") from None
        try:
            if self._password is not None:
                credentials = (
                    (self._username, self._password) if self._username else (self._password,)
                )
                await self._send(protocol, ("AUTH", *credentials))
            if self._db and select:
                await self._send(protocol, ("SELECT", self._db))
        except BaseException:
            protocol.transport.abort()
            raise
        if factory is None:
            return protocol
        other = factory()
        protocol.transport.set_protocol(other)
        other.connection_made(protocol.transport)
        return other

    async def aclose(self) -> None:
        """Close the connection; a later command opens a new one."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.closed = True
            protocol.transport.close()


def _lost(reply: Any) -> bool:
    return isinstance(reply, exceptions.ConnectionError)


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "never retrieved" warning for a caller that left


async def _replies(futures: list[asyncio.Future]) -> list[Any]:
    """Each future's result or exception, in order."""
    replies: list[Any] = []
    try:
        for future in futures:
            try:
                replies.append(await future)
            except Exception as error:  # a reply error, a lost connection, a timeout
                replies.append(error)
    except BaseException:  # the caller was cancelled: the replies still to come are dropped
        for future in futures[len(replies) :]:
            future.add_done_callback(_consume)
        raise
    return replies
