"""Notifications: the `notify` frame of a new message, sent once per message to the room-list
sockets of each user who should hear of it (chat/selectors/notifications.py decides who), and
each user's choices: their level and the rooms they muted."""

import contextlib
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError

from chat.groups import user_rooms_group
from chat.models import Message, NotificationSetting, Room, RoomMute
from chat.selectors.notifications import notify_recipients
from chat.selectors.rooms import room_is_member
from chat.serializers import dumps, message_to_dict
from chat.services.errors import ServiceError

logger = logging.getLogger(__name__)

LEVELS = {level for level, _ in NotificationSetting.LEVELS}


def is_direct(room: Room) -> bool:
    return getattr(room, "is_direct", False)


async def _read_recipients(message: Message) -> list[int]:
    return await notify_recipients(
        room_id=message.room_id,
        author_id=message.author_id,
        mentions=list(message.mentions or []),
        direct=is_direct(message.room),
    )


def notify_event(message: Message) -> dict[str, Any]:
    frame = {"type": "notify", "room_id": message.room_id, "message": message_to_dict(message)}
    return {"type": "rooms.notify", "text": dumps(frame)}


async def notify_events(
    message: Message, recipients: list[int] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(group, event) for each user to notify of this new message: `recipients` when its
    insert returned them, else read now; none if the read fails (the message is stored and
    shown: only the notification is lost)."""
    try:
        user_ids = recipients if recipients is not None else await _read_recipients(message)
    except (DatabaseError, OSError):
        logger.warning("notifications of message %s not sent", message.pk, exc_info=True)
        return []
    if not user_ids:
        return []
    event = notify_event(message)  # encoded once, whoever many hear of it
    return [(user_rooms_group(user_id), event) for user_id in user_ids]


async def notification_level_set(*, user: AbstractBaseUser, level: Any) -> str:
    """`all`, `mentions` (mentions and direct rooms, the default) or `none`."""
    if level not in LEVELS:
        raise ServiceError("invalid", f"level must be one of {sorted(LEVELS)}")
    await NotificationSetting.objects.aupdate_or_create(user=user, defaults={"level": level})
    return level


async def room_mute_set(*, user: AbstractBaseUser, room: Room, muted: bool) -> bool:
    """Mute (no notifications from this room) or unmute; members only; idempotent."""
    if not await room_is_member(room_id=room.pk, user_id=user.pk):
        raise ServiceError("forbidden", "you are not a member of this room")
    if not muted:
        await RoomMute.objects.filter(user=user, room=room).adelete()
        return False
    with contextlib.suppress(IntegrityError):  # muted at the same moment in another tab
        await RoomMute.objects.aget_or_create(user=user, room=room)
    return True
