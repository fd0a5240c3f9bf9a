"""Daphne, with oversized WebSocket frames refused by the protocol layer and answered 1009, and
a plain WebSocket upgrade handed to autobahn without Twisted's HTTP parser (upgradefast.py).

Daphne hands its frame limits to autobahn, which checks a frame's length in its header and
stops reading the payload, so nothing past the limit is ever buffered (DESIGN.md, trap 7).
The 1009 close frame it answers with (not a dropped connection) comes from
mychannels/runtime/closecodes.py, loaded with the application under every Daphne entry.
The hook is Daphne's own `ready_callable`, run once the factories exist, before the first
connection.
"""

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from daphne.server import Server
from django.conf import settings

from mychannels.runtime.inbox import Inbox
from mychannels.runtime.memorytrim import trim_every
from mychannels.runtime.upgradefast import upgrade_fast_protocol
from mychannels.runtime.wsprotocol import protocol_with_options

# Headers that differ on every connection: never shared, their name only.
_OWN_HEADERS = frozenset({b"cookie", b"sec-websocket-key", b"authorization"})
_SHARED_HEADERS_SIZE = 1024  # distinct (name, value) pairs kept; past it the cache starts again
_SHARED_VALUE_MAX = 512  # a longer value is no common one


class SharedHeaders:
    """A socket's scope headers with each (name, value) pair that many sockets send alike
    (host, origin, upgrade, user agent, languages) as one tuple shared among them. An open
    socket keeps its scope, headers included, for its whole life: about 1.4 KB of every idle
    socket was its own copy of the same ten or so pairs (docs/performance.md, idle memory).
    Equal bytes in equal tuples: nothing that reads them can tell. The cache is bounded, so
    a client sending made-up headers only makes it start again."""

    def __init__(self, size: int = _SHARED_HEADERS_SIZE) -> None:
        self._size = size
        self._pairs: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
        self._names: dict[bytes, bytes] = {}

    def __call__(self, headers: list) -> list:
        return [self._pair(name, value) for name, value in headers]

    def _pair(self, name: bytes, value: bytes) -> tuple[bytes, bytes]:
        if name in _OWN_HEADERS or len(value) > _SHARED_VALUE_MAX:
            return (self._shared(self._names, name, name), value)
        return self._shared(self._pairs, (name, value), (name, value))

    def _shared(self, cache: dict, key: Any, value: Any) -> Any:
        found = cache.get(key)
        if found is None:
            if len(cache) >= self._size:
                cache.clear()
            found = cache[key] = value
        return found


class ChatServer(Server):
    def __init__(self, *args: Any, ready_callable: Callable[[], Any] | None = None, **kwargs):
        self._then_ready = ready_callable
        self._shared_headers = SharedHeaders()
        super().__init__(*args, ready_callable=self._factories_ready, **kwargs)

    def _factories_ready(self) -> None:
        self.ws_factory.protocol = protocol_with_options(self.ws_factory)
        # Before the reactor runs, so before the first connection: a plain upgrade skips
        # Twisted's HTTP parser (mychannels/runtime/upgradefast.py).
        self.http_factory.protocol = upgrade_fast_protocol
        self._memory_trim = trim_every(settings.SERVER_MALLOC_TRIM_SECONDS)
        if self._then_ready is not None:
            self._then_ready()

    def create_application(self, protocol: Any, scope: dict) -> Any:
        """Daphne's, with a lighter queue for a socket's frames (mychannels/runtime/inbox.py)
        and the scope's common headers shared (SharedHeaders): an open socket holds both for
        its whole life. HTTP requests keep Daphne's own."""
        if scope.get("type") != "websocket":
            return super().create_application(protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        frames = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        if "headers" in scope:  # always, from Daphne
            scope["headers"] = self._shared_headers(scope["headers"])
        # The protocol router's choice as a plain call when it offers one
        # (mychannels/runtime/handoff.py): its frame is not kept under the socket's.
        start = getattr(self.application, "handoff", self.application)
        instance = start(scope=scope, receive=frames.get, send=partial(self.handle_reply, protocol))
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance, loop=asyncio.get_event_loop()
        )
        return frames
