"""A limit on HTTP request bodies, applied before Django reads them.

Django's ASGI handler copies the whole body into a temporary file (on disk past
FILE_UPLOAD_MAX_MEMORY_SIZE) before any view or upload handler runs, so a size check in a view
comes after the bytes have landed. This wrapper answers 413 on a declared `Content-Length` over
the limit without reading a byte, and counts a body sent without one (chunked) as it streams,
stopping it at the limit: the application sees a client disconnect and the wrapper answers.
"""

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# The limit for a request (bytes), or None for no limit of this wrapper's.
LimitFor = Callable[[Scope], int | None]

TOO_LARGE_BODY = b'{"error": "too_large", "detail": "the request body is too large"}'


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE_BODY})


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > limit:
            await send_too_large(send)
            return
        counter = _CountingReceive(receive, limit)
        await self.app(scope, counter, _silenced_after_cut(send, counter))
        if counter.cut:
            await send_too_large(send)


class _CountingReceive:
    """Passes body chunks on until their total passes the limit, then reports a disconnect,
    which makes Django drop what it has spooled and answer nothing."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.cut = False

    async def __call__(self) -> dict[str, Any]:
        if self.cut:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.cut = True
                return {"type": "http.disconnect"}
        return message


def _silenced_after_cut(send: Send, counter: _CountingReceive) -> Send:
    async def guarded(message: dict[str, Any]) -> None:
        if not counter.cut:  # once cut, the wrapper answers 413 itself
            await send(message)

    return guarded
