"""Creating rooms and changing their name, topic and visibility."""

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from chat import ratelimit
from chat.models import Membership, Room
from chat.models.room import NAME_MAX_LENGTH, TOPIC_MAX_LENGTH
from chat.selectors.members import membership_role
from chat.services.errors import ServiceError
from chat.services.membership import user_sockets_join_room
from chat.services.room_events import room_updated_broadcast
from chat.services.validation import storable_text

# Who may change what: moderators set the topic only.
CHANGES_ALLOWED = {
    Membership.OWNER: {"name", "topic", "is_public"},
    Membership.MODERATOR: {"topic"},
}


def clean_room_name(name: Any) -> str:
    """Whitespace runs become one space; 1..60 characters after that."""
    if not isinstance(name, str) or not storable_text(name):
        raise ServiceError("invalid", "name must be a string of text")
    name = " ".join(name.split())
    if not name:
        raise ServiceError("invalid", "name must not be empty")
    if len(name) > NAME_MAX_LENGTH:
        raise ServiceError("invalid", f"name is longer than {NAME_MAX_LENGTH} characters")
    return name


def clean_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not storable_text(topic):
        raise ServiceError("invalid", "topic must be a string of text")
    topic = " ".join(topic.split())
    if len(topic) > TOPIC_MAX_LENGTH:
        raise ServiceError("invalid", f"topic is longer than {TOPIC_MAX_LENGTH} characters")
    return topic


def clean_is_public(value: Any) -> bool:
    if type(value) is not bool:
        raise ServiceError("invalid", "is_public must be true or false")
    return value


NAME_TAKEN = ServiceError("invalid", "a room with that name exists already")


def _name_taken(name: str, *, other_than: int | None = None) -> bool:
    rooms = Room.objects.filter(name__iexact=name)
    if other_than is not None:
        rooms = rooms.exclude(pk=other_than)
    return rooms.exists()


@sync_to_async
def _insert_room(creator: AbstractBaseUser, name: str, topic: str, is_public: bool) -> Room:
    # The case-insensitive unique index decides between concurrent creators; the check before
    # it only spares the usual case an exception.
    if _name_taken(name):
        raise NAME_TAKEN
    try:
        with transaction.atomic():
            room = Room.objects.create(name=name, topic=topic, is_public=is_public)
            Membership.objects.create(room=room, user=creator, role=Membership.OWNER)
    except IntegrityError:
        raise NAME_TAKEN from None
    return room


async def room_create(
    *, creator: AbstractBaseUser, name: Any, topic: Any = "", is_public: Any = False
) -> Room:
    """A new room whose creator is its owner; their open pages hear of it."""
    name, topic, is_public = clean_room_name(name), clean_topic(topic), clean_is_public(is_public)
    if not await ratelimit.allow_room_create(user_id=creator.pk):
        raise ServiceError("rate_limited", "too many new rooms; slow down")
    room = await _insert_room(creator, name, topic, is_public)
    await user_sockets_join_room(user_id=creator.pk, room_id=room.pk)
    return room


def _cleaned_changes(changes: dict[str, Any]) -> dict[str, Any]:
    cleaners = {"name": clean_room_name, "topic": clean_topic, "is_public": clean_is_public}
    unknown = set(changes) - set(cleaners)
    if unknown:
        raise ServiceError("invalid", f"unknown field: {sorted(unknown)[0][:40]!r}")
    return {field: cleaners[field](value) for field, value in changes.items()}


def _check_may_change(room: Room, role: str | None, fields: set[str]) -> None:
    if room.is_direct:
        raise ServiceError("forbidden", "a direct room cannot be renamed or changed")
    refused = fields - CHANGES_ALLOWED.get(role, set())
    if refused:
        raise ServiceError("forbidden", f"your role may not change {sorted(refused)[0]}")


@sync_to_async
def _save_changes(room: Room, changes: dict[str, Any]) -> None:
    if "name" in changes and _name_taken(changes["name"], other_than=room.pk):
        raise NAME_TAKEN
    try:
        with transaction.atomic():
            Room.objects.filter(pk=room.pk).update(**changes)
    except IntegrityError:
        raise NAME_TAKEN from None
    for field, value in changes.items():
        setattr(room, field, value)


async def room_update(*, room: Room, actor: AbstractBaseUser, changes: dict[str, Any]) -> Room:
    """Rename, set the topic or the visibility, as the actor's role allows; the room's
    sockets and its members' sidebars hear `room_updated`."""
    cleaned = _cleaned_changes(changes)
    _check_may_change(room, await membership_role(room.pk, actor.pk), set(cleaned))
    if cleaned:
        await _save_changes(room, cleaned)
        await room_updated_broadcast(room=room)
    return room
