"""The last WebSocket route: a socket to a path no consumer serves."""

import logging
from typing import Any

logger = logging.getLogger("mychannels.sockets")


async def socket_not_found(scope: dict, receive: Any, send: Any) -> None:
    """Refuses the handshake (a close before accept: every server we run answers 403) and logs
    it as Django logs an unknown page, one warning line. Without it channels' router raises,
    and a mistyped or probing URL cost a traceback and a 500."""
    message = await receive()
    if message["type"] == "websocket.connect":
        logger.warning("Not Found: %s", scope.get("path", ""))
        await send({"type": "websocket.close"})
