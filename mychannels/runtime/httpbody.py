"""Daphne refuses a request body over HTTP_MAX_BODY_BYTES before it buffers it.

Daphne's HTTP request is Twisted's `Request`, which reads the whole body before the application
is called: into memory up to 100,000 bytes, past that (or with no Content-Length) into a
temporary file (Twisted's `gotLength` and `handleContentChunk`). So the ASGI-layer limit
(mychannels/runtime/bodylimit.py) and the upload handler come after an oversized upload has
already landed in the server's memory or on its disk. Here the limit is applied as the bytes
arrive:

- a declared Content-Length over the limit is answered 413 when the headers end, before a byte
  of the body is read (`gotLength`): the socket stops being read, the answer and a FIN are
  sent, and the connection is dropped after `LINGER_SECONDS` if the client keeps it open;
- a body without one (chunked) is counted as Twisted decodes it (`handleContentChunk`) and
  answered the same way once past the limit, what was kept of it closed and dropped.

The limit is the server's, for every path: the socket runtime knows no routes. It is the largest
body any route takes (an upload: CHAT_ATTACHMENT_MAX_BYTES plus multipart framing, settings.py);
the per-route limits stay where they are. A body within it goes through Twisted's code
unchanged.

The one place changed is Daphne's own request class, `daphne.http_protocol.WebRequest`: plain
`daphne`, `python -m mychannels.serve` and `manage.py runserver` all build their requests from
it. It is changed when the application is imported (mychannels/asgi.py), as closecodes.py is.
Under uvicorn the change is inert: uvicorn streams the body to the application with flow
control, so bodylimit.py already refuses it before it is buffered.
"""

import logging
from typing import Any

from daphne.http_protocol import WebRequest

from mychannels.runtime.bodylimit import TOO_LARGE_BODY

logger = logging.getLogger(__name__)

# Seconds a refused client may keep the connection open after the answer and the FIN: long
# enough to read the 413, not long enough to hold a connection. Nothing is read meanwhile.
LINGER_SECONDS = 5.0

TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 413 Request Entity Too Large\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(TOO_LARGE_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n"
    b"\r\n" + TOO_LARGE_BODY
)


def max_body_bytes() -> int:
    """Read per request: the settings are configured by the time a request arrives (the
    application is imported before the server listens), and tests may change them."""
    from django.conf import settings

    return settings.HTTP_MAX_BODY_BYTES


def _refuse(request: WebRequest, why: str) -> None:
    """Answer 413 on the raw transport, as Twisted answers a bad request itself: the request
    never reached `process`, so Daphne has no response of its own to send."""
    request._body_refused = True
    # The channel sends "100 Continue" after `gotLength` when asked to: the client must not be
    # told to send the body it is refused.
    request.requestHeaders.removeHeader(b"Expect")
    content = getattr(request, "content", None)
    if content is not None:
        content.close()  # what a chunked body had spooled so far
    transport = request.channel.transport
    if transport is None:
        return
    logger.info("HTTP body refused (413): %s", why)
    transport.write(TOO_LARGE_RESPONSE)
    # Stop reading the socket: the rest of the body waits in the kernel's buffers, which apply
    # TCP backpressure, instead of being read and thrown away.
    pause = getattr(transport, "pauseProducing", None)
    if pause is not None:
        pause()
    # A half-close (FIN) after the answer, not a close: closing a socket with unread data sends
    # a reset, which can make the client lose the answer. A TLS transport has no half-close.
    close_write = getattr(transport, "loseWriteConnection", transport.loseConnection)
    close_write()
    request.channel.callLater(LINGER_SECONDS, transport.abortConnection)


_twisted_got_length = WebRequest.gotLength
_twisted_handle_content_chunk = WebRequest.handleContentChunk
_daphne_request_received = WebRequest.requestReceived


def _got_length(self: WebRequest, length: int | None) -> None:
    """Twisted's `gotLength` (called when the headers end, before the body), refusing a
    declared length over the limit instead of opening a temporary file for it."""
    self._body_refused = False
    self._body_received = 0
    limit = max_body_bytes()
    if length is not None and length > limit:
        _refuse(self, f"Content-Length {length} > {limit}")
        return
    _twisted_got_length(self, length)


def _handle_content_chunk(self: WebRequest, data: bytes) -> None:
    """Twisted's `handleContentChunk`, counting the body (decoded, for a chunked one) and
    refusing it once past the limit. Chunks after a refusal (the rest of the read the refusal
    happened in) are dropped."""
    if self._body_refused:
        return
    self._body_received += len(data)
    limit = max_body_bytes()
    if self._body_received > limit:
        _refuse(self, f"body past {limit} bytes")
        return
    _twisted_handle_content_chunk(self, data)


def _request_received(self: WebRequest, command: bytes, path: bytes, version: bytes) -> Any:
    """Daphne's `requestReceived` (the body is complete: the application is called), never
    for a refused request: a body's end can arrive in the same read as its refusal."""
    if getattr(self, "_body_refused", False):
        return None
    return _daphne_request_received(self, command, path, version)


def refuse_oversized_bodies_in_daphne() -> None:
    """Install the three methods above on Daphne's request class (idempotent)."""
    WebRequest.gotLength = _got_length
    WebRequest.handleContentChunk = _handle_content_chunk
    WebRequest.requestReceived = _request_received
