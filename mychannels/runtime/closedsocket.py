"""A consumer sends nothing after its close frame.

Group events keep arriving after a consumer has closed its socket (1012, 4401, 4403, ...):
it leaves its groups only in `disconnect`, once the client has answered the close. ASGI says
a server must refuse a send after `websocket.close`, and uvicorn does: the late message or
presence broadcast raised inside the application ("Unexpected ASGI message 'websocket.send',
after sending 'websocket.close'"). Daphne dropped them silently. Either way the client would
never read them: the socket is closing.
"""

from typing import Any


async def _discard(message: dict) -> None:
    """The ASGI `send` of a socket already closed: what it is asked to send goes nowhere."""


class QuietAfterCloseMixin:
    """For a channels WebSocket consumer: once `close` has sent the close frame, later sends
    are discarded. Nothing is checked before that, so an open socket's sends cost the same."""

    base_send: Any

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        await super().close(code, reason)  # type: ignore[misc]
        self.base_send = _discard
