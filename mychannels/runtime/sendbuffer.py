"""A bound on what the server queues for one socket (CHAT_SOCKET_SEND_BUFFER_BYTES).

A member whose socket stops reading (a frozen tab, a dead mobile link the kernel has not
noticed yet) while the room keeps talking used to make the server hold every frame meant for
it, megabytes, until autobahn's ping timed out (about 50 s; the client then saw 1006). Each
frame Daphne sends goes through `transport.write`, and what the kernel does not take waits in
Twisted's buffers on the transport (`twisted.internet.abstract.FileDescriptor`): `dataBuffer`
from `offset` on (what the last `doWrite` is sending) plus `_tempDataLen`, the byte count of
the `_tempDataBuffer` list written since. Their sum is exactly the bytes queued in this
process for the socket, kept up to date by Twisted on every write, so reading it costs two
attribute reads per frame sent and nothing per idle socket. (Twisted has no public getter for
it on a TCP transport: `getBufferSize`-like APIs are for producers, whose threshold
`bufferSize` is not what is queued.)

Past the bound the socket is closed with 1012 ("lost events meant for this socket: reconnect
and catch up": the client misses nothing, the database is the record), and what was queued
is dropped at once: every queued frame but the first (each `write` is one whole frame, and
only the first can be the tail of a frame the kernel took part of:
mychannels/runtime/wsprotocol.py writes a frame's tail only onto empty buffers). The close
frame goes after what is kept, so a client that resumes reading gets a well-formed stream
ending in 1012; one that never does is dropped (abortConnection) by autobahn's close
handshake timeout, one second, which frees the rest.

Installed on Daphne's own protocol class when the application is imported
(mychannels/asgi.py), so plain `daphne`, `python -m mychannels.serve` and `runserver` all
have it; uvicorn has its own limits (docs/deploy.md).
"""

import logging
from typing import Any

from daphne.ws_protocol import WebSocketProtocol

logger = logging.getLogger(__name__)

CLOSE_CATCH_UP = 1012
_limit = 1 << 20  # set from settings by install()


def _descriptor(transport: Any) -> Any:
    """The Twisted file descriptor under the transport: itself for TCP, the wrapped one for
    TLS (whose own buffer only holds data written before its handshake ends)."""
    if hasattr(transport, "_tempDataLen"):
        return transport
    return getattr(transport, "transport", None)


def queued_bytes(transport: Any) -> int:
    """Bytes this process holds for the transport, not yet taken by the kernel (0 when the
    transport is not one of Twisted's file descriptors)."""
    fd = _descriptor(transport)
    try:
        return len(fd.dataBuffer) - fd.offset + fd._tempDataLen
    except AttributeError:
        return 0


def over_limit(transport: Any) -> bool:
    # The common case first: a reading client leaves nothing in the list buffer, since the
    # fast path writes straight to the kernel (mychannels/runtime/wsprotocol.py).
    temp = getattr(transport, "_tempDataLen", None)
    if temp is None:
        return queued_bytes(transport) > _limit
    return bool(temp) and queued_bytes(transport) > _limit


def shed(protocol: WebSocketProtocol) -> None:
    """Drop the frames queued for this socket and close it 1012 (see the module docstring)."""
    transport = _descriptor(protocol.transport)
    queued = queued_bytes(transport)
    kept = transport._tempDataBuffer[:1]
    transport._tempDataBuffer = kept
    transport._tempDataLen = sum(map(len, kept))
    logger.info(
        "socket %s stopped reading: %d bytes queued, over %d; closed 1012",
        getattr(protocol, "client_addr", "?"),
        queued,
        _limit,
    )
    # The close code's way out of autobahn's checks (mychannels/runtime/closecodes.py); it
    # starts the close handshake timer that aborts the connection if nobody answers.
    protocol.sendCloseFrame(code=CLOSE_CATCH_UP, isReply=False)


def check(protocol: WebSocketProtocol) -> None:
    """After a frame was written: close the socket if too much waits for it."""
    if over_limit(protocol.transport) and protocol.state == protocol.STATE_OPEN:
        shed(protocol)


_daphne_handle_reply = WebSocketProtocol.handle_reply


def _handle_reply(self: WebSocketProtocol, message: dict) -> None:
    if message.get("type") != "websocket.send":
        _daphne_handle_reply(self, message)
    elif self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
        # Closed under the consumer's feet (above): it hears so only once the connection is
        # gone and keeps sending until then, which autobahn answers by raising inside the
        # application, skipping its cleanup (presence, groups). Nothing sent after a close
        # frame is read by anyone, so dropping it is what the client sees anyway.
        return
    else:
        _daphne_handle_reply(self, message)
        check(self)


def bound_send_buffers(limit: int) -> None:
    """Install the bound on Daphne's protocol class (idempotent)."""
    global _limit
    _limit = limit
    WebSocketProtocol.handle_reply = _handle_reply
