"""Alert sockets: `/ws/alert/room/<id>/` follows one room, `/ws/alerts/` every room of the user.
Both only listen: they send a history frame on open, then `alert` frames as they happen."""

import json
import uuid
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from alert import selectors
from alert.groups import alert_room_group, alert_user_group
from alert.serializers import alert_to_dict
from chat.consumers import (
    CLOSE_CATCH_UP,
    CLOSE_NO_ROOM,
    CLOSE_NOT_LOGGED_IN,
    CLOSE_NOT_MEMBER,
    CLOSE_TOO_MANY_SOCKETS,
    SendOnlySocketMixin,
)
from chat.groups import user_group
from chat.ratelimit import MemoryBuckets
from chat.selectors.rooms import room_get, room_is_member
from chat.serializers import dumps
from chat.socketcap import socket_admit, socket_release
from mychannels.runtime.closedsocket import QuietAfterCloseMixin
from mychannels.runtime.databasehop import DatabaseHopMixin

HISTORY_LATEST = 20


def history_frame(page: selectors.AlertPage) -> dict[str, Any]:
    return {"type": "history", "alerts": [alert_to_dict(alert) for alert in page.alerts]}


class AlertSocket(
    QuietAfterCloseMixin, SendOnlySocketMixin, DatabaseHopMixin, AsyncWebsocketConsumer
):
    """What both alert sockets share: accept-then-close refusals, the user's own group (so
    logging out or leaving a room reaches them), and polite answers to frames they don't take."""

    # Handled in memory (an alert is forwarded as the service encoded it; joins and leaves
    # are group changes): no thread hop each (mychannels/runtime/databasehop.py). The open
    # reads the room and the history through the async ORM, and keeps it.
    NO_DATABASE_EVENTS = frozenset(
        {
            "alert.created",
            "user.logout",
            "user.removed",
            "user.joined",
            "layer.gap",
            "websocket.receive",
            "websocket.disconnect",
        }
    )

    groups_joined: list[str]
    open = False
    counted = False  # against the user's socket cap (CHAT_MAX_SOCKETS_PER_USER)

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.groups_joined = []
        # A socket that only listens has no use for client frames; a client that keeps sending
        # them anyway is closed like a flooding chat client.
        self.junk_frames = MemoryBuckets()
        await self.accept()  # then close with a code, so that the browser can tell why
        if not self.user.is_authenticated:
            await self.close(CLOSE_NOT_LOGGED_IN)
            return
        close_code = await self.refusal()
        if close_code:
            await self.close(close_code)
            return
        self.conn_id = uuid.uuid4().hex
        if not await socket_admit(user_id=self.user.pk, conn_id=self.conn_id):
            await self.close(CLOSE_TOO_MANY_SOCKETS)
            return
        self.counted = True
        # The user's groups first, so that a join or leave from now on reaches this socket
        # before it reads which rooms to follow.
        for group in [user_group(self.user.pk), *self.user_groups()]:
            await self.join(group)
        # Joined before reading history: an alert broadcast meanwhile waits in our channel and
        # arrives after the history frame (clients drop ids they have already seen).
        for group in await self.alert_groups():
            await self.join(group)
        await self.send_frame(history_frame(await self.history()))
        self.open = True

    async def refusal(self) -> int | None:
        return None

    def user_groups(self) -> list[str]:
        return []

    async def alert_groups(self) -> list[str]:
        raise NotImplementedError

    async def history(self) -> selectors.AlertPage:
        raise NotImplementedError

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

    async def leave(self, group: str) -> None:
        if group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.remove(group)

    async def disconnect(self, code: int) -> None:
        self.open = False
        if self.counted:
            self.counted = False
            await socket_release(user_id=self.user.pk, conn_id=self.conn_id)
        for group in list(self.groups_joined):
            await self.leave(group)

    @staticmethod
    def error_for(text_data: str | None) -> dict[str, str]:
        """The contract's error frame for a client frame this socket does not take."""
        code, detail = "unknown_type", "alert sockets only send; they take no frames"
        if text_data is None:
            code, detail = "bad_frame", "binary frames are not accepted"
        else:
            try:
                if not isinstance(json.loads(text_data), dict):
                    code, detail = "bad_frame", "the frame must be a JSON object"
            except (ValueError, RecursionError):  # RecursionError: "[[[[...]]]]"
                code, detail = "bad_json", "the frame is not valid JSON"
        return {"type": "error", "code": code, "detail": detail}

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=dumps(frame))

    # Group events.
    async def alert_created(self, event: dict) -> None:
        await self.send(text_data=event["text"])  # encoded once by the service

    async def user_logout(self, event: dict) -> None:
        await self.close_with(CLOSE_NOT_LOGGED_IN)

    async def layer_gap(self, event: dict) -> None:
        await self.close_with(CLOSE_CATCH_UP)  # alerts may be missing: reconnect, re-read


class AlertRoomConsumer(AlertSocket):
    """`/ws/alert/room/<id>/`: one room's alerts, members only (4401 / 4403 / 4404)."""

    async def connect(self) -> None:
        self.room_id = int(self.scope["url_route"]["kwargs"]["room_id"])
        await super().connect()

    async def refusal(self) -> int | None:
        if await room_get(room_id=self.room_id) is None:
            return CLOSE_NO_ROOM
        if not await room_is_member(room_id=self.room_id, user_id=self.user.pk):
            return CLOSE_NOT_MEMBER
        return None

    async def alert_groups(self) -> list[str]:
        return [alert_room_group(self.room_id)]

    async def history(self) -> selectors.AlertPage:
        return await selectors.alerts_latest_of_room(room_id=self.room_id, limit=HISTORY_LATEST)

    async def user_removed(self, event: dict) -> None:
        if event["room_id"] == self.room_id:
            await self.close_with(CLOSE_NOT_MEMBER)


class AlertFeedConsumer(AlertSocket):
    """`/ws/alerts/`: the alerts of every room the user belongs to, following joins and leaves."""

    def user_groups(self) -> list[str]:
        # Tells this socket when its user joins a room.
        return [alert_user_group(self.user.pk)]

    async def alert_groups(self) -> list[str]:
        room_ids = await selectors.room_ids_of_user(user_id=self.user.pk)
        return [alert_room_group(room_id) for room_id in room_ids]

    async def history(self) -> selectors.AlertPage:
        return await selectors.alerts_latest_of_user(user_id=self.user.pk, limit=HISTORY_LATEST)

    async def user_removed(self, event: dict) -> None:
        await self.leave(alert_room_group(event["room_id"]))

    async def user_joined(self, event: dict) -> None:
        await self.join(alert_room_group(event["room_id"]))
