"""Close codes the server decides on reach the client under every Daphne entry.

Daphne turns an application's `websocket.close` into autobahn's `sendClose`, and autobahn
refuses every code there but 1000 and 3000-4999 (the range WAMP, its own protocol, may use):
`close(1009)` for an oversized frame and `close(1012)` after the channel layer lost events
raised "invalid close code" inside the server, which then closed the socket with 1011 and
logged "Exception inside application" (DESIGN.md, trap 8). RFC 6455 (7.4.1) lets a server
send both, and autobahn lists them itself among the codes "allowed to send in close"
(`CLOSE_STATUS_CODES_ALLOWED`, which it also accepts from a peer). And a frame over Daphne's
own limit (1 MiB unless told otherwise) is refused by autobahn, by default by dropping the TCP
connection, which a browser reports as 1006: here it sends its 1009 close frame instead.

The one place changed is Daphne's own protocol class, `daphne.ws_protocol.WebSocketProtocol`:
plain `daphne`, `python -m mychannels.serve` (mychannels/runtime/wsprotocol.py subclasses it) and
`manage.py runserver` all build their sockets from it, and nothing else does. It is changed
when the application is imported (mychannels/asgi.py), which every server does before its
first connection; plain `daphne` loads nothing of the project's before that. Under uvicorn
the change is inert: its `websockets` implementations send 1009 and 1012 as they are.
"""

from typing import Any

from daphne.ws_protocol import WebSocketProtocol

# Registered codes autobahn sends from a protocol error of its own (through `sendCloseFrame`)
# but refuses from `sendClose`; 1000 already passes there.
RFC_CODES_SENDCLOSE_REFUSES = frozenset(WebSocketProtocol.CLOSE_STATUS_CODES_ALLOWED) - {1000}

_daphne_server_close = WebSocketProtocol.serverClose


def _server_close(self: WebSocketProtocol, code: int | None = None) -> None:
    """Daphne's `serverClose`, sending a registered code as autobahn's own protocol errors do:
    `sendCloseFrame` checks the socket's state (a closing or closed socket sends nothing) and
    starts the close handshake, but not the code. Every other code keeps autobahn's checks."""
    if code in RFC_CODES_SENDCLOSE_REFUSES:
        self.sendCloseFrame(code=code, isReply=False)
        return
    _daphne_server_close(self, code)


_daphne_on_connect = WebSocketProtocol.onConnect


def _on_connect(self: WebSocketProtocol, request: Any) -> Any:
    """Daphne's `onConnect` (the handshake, before any frame), on a protocol that answers a
    refused frame (too big: 1009; a protocol error: 1002, 1007) with a close frame instead of
    dropping the connection. The option is copied from the factory onto each connection, so it
    is set here, not on the factory that plain `daphne` builds."""
    self.failByDrop = False
    return _daphne_on_connect(self, request)


def let_daphne_send_rfc_close_codes() -> None:
    """Install `_server_close` and `_on_connect` on Daphne's protocol class (idempotent)."""
    WebSocketProtocol.serverClose = _server_close
    WebSocketProtocol.onConnect = _on_connect
