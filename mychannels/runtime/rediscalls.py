"""Calls to one Redis server for the service's own state (presence, the socket cap), several
at a time: on a `RedisLine` for a plain `redis://` server, redis-py's pool otherwise.

A socket's opening and closing each make a few commands that do not wait for one another
(a script and an index's SADD, a script and the service-wide ZADD). `send` issues them
together: on a line they go out in one write and are parsed by hiredis, without redis-py's
per-command pool, checks and retry wrapper (mychannels/runtime/redisline.py); on TLS or a
socket file they go out in one redis-py pipeline, as before. Lua scripts are called by SHA1
and sent again by EVAL where the server does not know them (restarted or flushed), as
redis-py's `Script` does. Errors are redis-py's exception classes either way.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from mychannels.runtime.redisclient import redis_client
from mychannels.runtime.redisline import Arg, RedisLine

Command = tuple[Arg, ...]


class LuaScript:
    """A script's source and its SHA1, the name every Redis server gives it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def call(self, keys: Sequence[Arg], args: Sequence[Arg]) -> "ScriptCall":
        return ScriptCall(self, tuple(keys), tuple(args))


@dataclass(frozen=True, slots=True)
class ScriptCall:
    script: LuaScript
    keys: tuple[Arg, ...]
    args: tuple[Arg, ...]

    def by_sha(self) -> Command:
        return ("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)

    def by_source(self) -> Command:
        return ("EVAL", self.script.source, len(self.keys), *self.keys, *self.args)


Call = Command | ScriptCall


def _command(call: Call) -> Command:
    return call.by_sha() if isinstance(call, ScriptCall) else call


def raise_first(replies: list[Any]) -> list[Any]:
    """The replies, or the first error among them raised: what a redis-py pipeline's
    `execute()` does, for callers that need every command to have worked."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class RedisCalls:
    """One Redis server, from this event loop (PerLoop owners close it with `aclose`)."""

    def __init__(self, url: str, *, decode_responses: bool = False, timeout: float = 5.0) -> None:
        self._line: RedisLine | None = None
        self._redis: Redis | None = None
        if RedisLine.handles(url):
            self._line = RedisLine(url, timeout=timeout, decode_responses=decode_responses)
        else:  # TLS or a socket file: redis-py's pool (mychannels/runtime/redisclient.py)
            self._redis = redis_client(url, decode_responses=decode_responses)

    async def call(self, call: Call) -> Any:
        """One command's reply; raises what it failed with."""
        if not isinstance(call, ScriptCall):
            return await self._execute(call)
        try:
            return await self._execute(call.by_sha())
        except NoScriptError:
            return await self._execute(call.by_source())

    async def send(self, *calls: Call) -> list[Any]:
        """Every call's reply in order, or the exception that call failed with (a reply
        error; on a line also a lost connection or a timeout, which redis-py's pipeline
        raises instead): the caller says which ones matter. A script the server did not
        know is sent again by its source, in one more round trip."""
        replies = await self._send([_command(call) for call in calls])
        unknown = [
            (i, call)
            for i, (call, reply) in enumerate(zip(calls, replies, strict=True))
            if isinstance(call, ScriptCall) and isinstance(reply, NoScriptError)
        ]
        if unknown:
            again = await self._send([call.by_source() for _, call in unknown])
            for (i, _), reply in zip(unknown, again, strict=True):
                replies[i] = reply
        return replies

    async def _execute(self, command: Command) -> Any:
        if self._line is not None:
            return await self._line.execute(*command)
        return await self._redis.execute_command(*command)

    async def _send(self, commands: list[Command]) -> list[Any]:
        if self._line is not None:
            return await self._line.execute_many(commands)
        async with self._redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return await pipe.execute(raise_on_error=False)

    async def aclose(self) -> None:
        if self._line is not None:
            await self._line.aclose()
        else:
            await self._redis.aclose()
