"""Daphne, with oversized WebSocket frames refused by the protocol layer and answered 1009.

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

from mychannels.runtime.inbox import Inbox
from mychannels.runtime.wsprotocol import protocol_with_options


class ChatServer(Server):
    def __init__(self, *args: Any, ready_callable: Callable[[], Any] | None = None, **kwargs):
        self._then_ready = ready_callable
        super().__init__(*args, ready_callable=self._factories_ready, **kwargs)

    def _factories_ready(self) -> None:
        self.ws_factory.protocol = protocol_with_options(self.ws_factory)
        if self._then_ready is not None:
            self._then_ready()

    def create_application(self, protocol: Any, scope: dict) -> Any:
        """Daphne's, with a lighter queue for a socket's frames (mychannels/runtime/inbox.py): an
        open socket holds it for its whole life. HTTP requests keep Daphne's own."""
        if scope.get("type") != "websocket":
            return super().create_application(protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        frames = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(
            scope=scope, receive=frames.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance, loop=asyncio.get_event_loop()
        )
        return frames
