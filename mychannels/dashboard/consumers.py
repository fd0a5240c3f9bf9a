"""`/ws/dashboard/`: staff only (4403 for anyone else). Sends a `stats` frame on open, then at
most once a second while anything changes (mychannels/dashboard/services.py says how). It
takes no client frames: each one is answered with an error frame, and a client that keeps
sending them is closed 4429, as the alert sockets do."""

import uuid

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.consumers import (
    CLOSE_NOT_LOGGED_IN,
    CLOSE_NOT_MEMBER,
    CLOSE_TOO_MANY_SOCKETS,
    FrameError,
    SendOnlySocketMixin,
    parse_frame,
)
from chat.groups import user_group
from chat.ratelimit import MemoryBuckets
from chat.socketcap import socket_admit, socket_release
from mychannels.dashboard.services import stats_ticker

CLOSE_NOT_STAFF = CLOSE_NOT_MEMBER  # 4403: the contract's "staff only"


def error_frame(text_data: str | None) -> dict[str, str]:
    """The contract's error frame for a client frame, which this socket never takes."""
    try:
        parse_frame(text_data)
    except FrameError as error:
        return {"type": "error", "code": error.code, "detail": error.detail}
    return {"type": "error", "code": "unknown_type", "detail": "the dashboard takes no frames"}


class DashboardConsumer(SendOnlySocketMixin, AsyncWebsocketConsumer):
    open = False  # sending stats and answering frames
    counted = False  # against the user's socket cap
    watching = False  # registered with this process's stats ticker

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.junk_frames = MemoryBuckets()
        # Accept, then close with a code the browser can read; nothing is sent before it.
        await self.accept()
        if not (self.user.is_authenticated and self.user.is_active and self.user.is_staff):
            await self.close(CLOSE_NOT_STAFF)
            return
        self.conn_id = uuid.uuid4().hex
        if not await socket_admit(user_id=self.user.pk, conn_id=self.conn_id):
            await self.close(CLOSE_TOO_MANY_SOCKETS)
            return
        self.counted = True
        # Logging out (or a password change) closes this socket like the user's others.
        await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        self.watching = True
        opening = await stats_ticker().join(self)
        await self.send(text_data=opening)
        self.open = True

    async def disconnect(self, code: int) -> None:
        self.open = False
        if self.watching:
            self.watching = False
            stats_ticker().leave(self)
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        if self.counted:
            self.counted = False
            await socket_release(user_id=self.user.pk, conn_id=self.conn_id)

    async def send_stats(self, text: str) -> None:
        """Called by the stats ticker with the frame it encoded once for every dashboard."""
        if self.open:
            await self.send(text_data=text)

    error_for = staticmethod(error_frame)

    # Group events of the user's group, which every socket of the user joins.
    async def user_logout(self, event: dict) -> None:
        await self.close_with(CLOSE_NOT_LOGGED_IN)

    async def user_removed(self, event: dict) -> None:
        pass  # the user left a room: the dashboard shows every room anyway

    async def layer_gap(self, event: dict) -> None:
        pass  # nothing to catch up on: the next tick sends the whole picture
