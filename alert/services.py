"""Alert writes: `alert_create` is the one path every entry point takes (room page form, JSON
API, admin, management command), so an alert from cron looks exactly like one from a browser."""

import re
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction

from alert.groups import alert_room_group
from alert.models import Alert
from alert.serializers import alert_to_dict
from chat.groups import room_group
from chat.models import Room
from chat.serializers import dumps
from chat.services.broadcast import group_send
from chat.services.errors import ServiceError
from mychannels.dashboard.counters import alert_counted

ALERT_MAX_LENGTH = Alert._meta.get_field("content").max_length
LEVELS = tuple(Alert.Level.values)
# Everything below U+0020 except tab and newline.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f]")


def clean_content(content: Any) -> str:
    if not isinstance(content, str):
        raise ServiceError("invalid", "content must be a string")
    content = content.strip()
    if not content:
        raise ServiceError("invalid", "content must not be empty")
    if _CONTROL_CHARACTERS.search(content):
        # XML 1.0 cannot carry them, and the Atom feed must stay valid for everyone.
        raise ServiceError("invalid", "content must not contain control characters")
    try:
        content.encode()
    except UnicodeEncodeError:
        raise ServiceError("invalid", "content must be valid Unicode text") from None
    if len(content) > ALERT_MAX_LENGTH:
        raise ServiceError("too_long", f"content is longer than {ALERT_MAX_LENGTH} characters")
    return content


def clean_level(level: Any) -> str:
    if level is None:
        return Alert.Level.INFO
    if not isinstance(level, str) or level not in LEVELS:
        raise ServiceError("invalid", f"level must be one of {', '.join(LEVELS)}")
    return level


def alert_event(alert: Alert) -> dict[str, Any]:
    """One group event, its frame encoded once, for every socket that shows the alert."""
    frame = {"type": "alert", **alert_to_dict(alert)}
    return {"type": "alert.created", "id": alert.id, "text": dumps(frame)}


async def broadcast_alert(alert: Alert) -> None:
    alert_counted(level=alert.level)  # the operations dashboard (after commit)
    event = alert_event(alert)
    # The alert sockets (one room, or all of a user's rooms) and the room page's chat socket,
    # which carries alert frames too (docs/protocol.md).
    await group_send(alert_room_group(alert.room_id), event)
    await group_send(room_group(alert.room_id), event)


def _store_alert(
    room: Room, user: AbstractBaseUser, content: str, level: str
) -> tuple[Alert, bool]:
    """Insert in one short transaction. Returns (alert, broadcast_deferred): inside a caller's
    transaction (the admin's) the broadcast waits for the commit, so nobody hears of an alert
    that could still be rolled back."""
    if not Room.users.through.objects.filter(room_id=room.pk, user_id=user.pk).exists():
        raise ServiceError("forbidden", "the author is not a member of this room")
    alert = Alert.objects.create(room=room, user=user, content=content, level=level)
    alert.user = user  # serialized without another query
    deferred = connection.in_atomic_block
    if deferred:
        transaction.on_commit(lambda: async_to_sync(broadcast_alert)(alert))
    return alert, deferred


async def alert_create(
    *, room: Room, user: AbstractBaseUser, content: Any, level: Any = None
) -> Alert:
    """Validate, store (committed before anyone hears of it), then broadcast to the room's
    members. Raises ServiceError with the contract's code: `invalid`, `too_long`, `forbidden`."""
    content = clean_content(content)
    level = clean_level(level)
    alert, deferred = await sync_to_async(_store_alert)(room, user, content, level)
    if not deferred:
        await broadcast_alert(alert)
    return alert
