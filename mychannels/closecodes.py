"""Close codes the application decides on reach the client under every Daphne entry.

Daphne turns an application's `websocket.close` into autobahn's `sendClose`, and autobahn
refuses every code there but 1000 and 3000-4999 (the range WAMP, its own protocol, may use):
`close(1009)` for an oversized frame and `close(1012)` after the channel layer lost events
raised "invalid close code" inside the server, which then closed the socket with 1011 and
logged "Exception inside application" (DESIGN.md, trap 8). RFC 6455 (7.4.1) lets a server
send both, and autobahn lists them itself among the codes "allowed to send in close"
(`CLOSE_STATUS_CODES_ALLOWED`, which it also accepts from a peer).

The one place changed is Daphne's own protocol class, `daphne.ws_protocol.WebSocketProtocol`:
plain `daphne`, `python -m mychannels.serve` (mychannels/wsprotocol.py subclasses it) and
`manage.py runserver` all build their sockets from it, and nothing else does. It is changed
when the application is imported (mychannels/asgi.py), which every server does before its
first connection; plain `daphne` loads nothing of the project's before that. Under uvicorn
the change is inert: its `websockets` implementations send 1009 and 1012 as they are.
"""

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


def let_daphne_send_rfc_close_codes() -> None:
    """Install `_server_close` on Daphne's protocol class (idempotent)."""
    WebSocketProtocol.serverClose = _server_close
