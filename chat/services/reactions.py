"""Reactions: one user's emoji on a message, toggled, with the message's summary kept in the
same transaction (so that history pages read it with the message, no query of their own)."""

from typing import Any

import emoji as emoji_data
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from chat.models import Message, Reaction, Room
from chat.services.errors import ServiceError
from chat.services.messages import (
    NoChange,
    after_commit,
    broadcast_change,
    message_for_change,
    recycle_connection,
    run_write,
)
from chat.services.validation import clean_id
from chat.services.versions import room_next_version

# The longest single emoji is a ZWJ family sequence of about a dozen code points.
MAX_EMOJI_LENGTH = 32


def clean_emoji(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_EMOJI_LENGTH
        or not emoji_data.is_emoji(value)
    ):
        raise ServiceError("invalid", "'emoji' must be one Unicode emoji")
    return value


def clean_on(value: Any) -> bool:
    if type(value) is not bool:
        raise ServiceError("invalid", "'on' must be true or false")
    return value


def reactions_summary(message: Message) -> list[dict[str, Any]]:
    """[{"emoji", "count", "users": sorted}], each emoji in the order it was first used."""
    rows = (
        Reaction.objects.filter(message=message)
        .order_by("id")
        .values_list("emoji", "user__username")
    )
    users_by_emoji: dict[str, list[str]] = {}
    for emoji, username in rows:
        users_by_emoji.setdefault(emoji, []).append(username)
    return [
        {"emoji": emoji, "count": len(users), "users": sorted(users)}
        for emoji, users in users_by_emoji.items()
    ]


def _check_room_for_another(message: Message, emoji: str) -> None:
    used = {entry["emoji"] for entry in message.reactions}
    if emoji not in used and len(used) >= settings.CHAT_REACTIONS_MAX:
        raise ServiceError(
            "invalid", f"a message takes at most {settings.CHAT_REACTIONS_MAX} different emoji"
        )


def _toggle(room_id: int, user: AbstractBaseUser, message_id: int, emoji: str, on: bool):
    with transaction.atomic():
        version = room_next_version(room_id, user.pk)
        if version is None:
            raise ServiceError("forbidden", "you are not a member of this room")
        message = message_for_change(room_id, message_id)
        mine = Reaction.objects.filter(message=message, user=user, emoji=emoji)
        if mine.exists() == on:
            raise NoChange(message)  # idempotent: already so
        if on:
            _check_room_for_another(message, emoji)
            Reaction.objects.create(message=message, user=user, emoji=emoji)
        else:
            mine.delete()
        message.reactions = reactions_summary(message)
        message.version = version
        message.save(update_fields=["reactions", "version"])
    return message


def reactions_frame(message: Message) -> dict[str, Any]:
    return {
        "type": "reactions",
        "id": message.id,
        "room_id": message.room_id,
        "version": message.version,
        "reactions": message.reactions,
    }


def _toggle_and_publish(room: Room, user: AbstractBaseUser, message_id: int, emoji: str, on):
    recycle_connection()
    try:
        message = _toggle(room.pk, user, message_id, emoji, on)
    except NoChange as unchanged:
        return unchanged.message, True
    frame = reactions_frame(message)
    return message, after_commit(broadcast_change, room.pk, frame)


async def reaction_set(
    *, room: Room, user: AbstractBaseUser, message_id: Any, emoji: Any, on: Any
) -> Message:
    """Add (`on` true) or remove this user's `emoji` on the message; doing it twice changes
    nothing the second time. The room hears the message's new reactions."""
    message_id = clean_id(message_id, "id", required=True)
    emoji = clean_emoji(emoji)
    on = clean_on(on)
    message, quiet = await run_write(_toggle_and_publish, room, user, message_id, emoji, on)
    if not quiet:
        await broadcast_change(room.pk, reactions_frame(message))
    return message
