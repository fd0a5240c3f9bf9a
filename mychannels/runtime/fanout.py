"""A broadcast delivered to every idle local member in one pass, without a consumer hop each.

A group event reaches each member's consumer through its channel's inbox: the put wakes the
consumer's reader task, which takes the dispatch lock, finds the handler and awaits channels'
`send` layers down to Daphne's `handle_reply`, per member and per broadcast. For the events a
consumer only forwards (a message, an edit, a typing notice), that hop is most of what a
delivery costs (docs/performance.md). Here a consumer that has finished opening lends its
channel a synchronous handler: when the channel layer's receiver finds the member idle (its
reader parked on an empty inbox, no frame's handler running), it calls the handler, which
writes the frame to the socket at once. Any other member, event or moment takes the inbox as
before, so each socket still sees its events in the order they arrived, one at a time, and
the consumer contract is unchanged. Servers other than Daphne keep the inbox path.
"""

import functools
from collections.abc import Callable
from typing import Any

from daphne.server import Server

from mychannels.runtime.wsprotocol import ChatWebSocketProtocol

TextWriter = Callable[[str], None]


def text_writer(send: Any) -> TextWriter | None:
    """A synchronous `send` of one text frame, for a socket whose ASGI `send` is Daphne's
    (`partial(server.handle_reply, protocol)`); None under any other server."""
    if not (
        isinstance(send, functools.partial)
        and getattr(send.func, "__func__", None) is Server.handle_reply
        and len(send.args) == 1
    ):
        return None
    protocol = send.args[0]
    details = send.func.__self__.connections.get(protocol)
    if details is None:
        return None
    if isinstance(protocol, ChatWebSocketProtocol):
        # Its send_text sends only while the socket is open, and Daphne marks a connection
        # disconnected only once autobahn has closed it: no table to read per delivery.
        return protocol.send_text
    return _DaphneTextWriter(details, protocol)


class _DaphneTextWriter:
    """As Daphne's `handle_reply` of a text `websocket.send`, for a protocol other than ours.
    One per open socket: slots."""

    __slots__ = ("details", "protocol")

    def __init__(self, details: dict, protocol: Any) -> None:
        # Daphne's entry for this connection, which it marks "disconnected" when the socket
        # goes and drops only after that: read here without hashing the protocol (a Python
        # __hash__ of Daphne's) once per member of every broadcast.
        self.details = details
        self.protocol = protocol

    def __call__(self, text: str) -> None:
        # As Daphne's handle_reply: nothing for a connection that is gone.
        if "disconnected" not in self.details:
            self.protocol.handle_reply({"type": "websocket.send", "text": text})
