"""Direct rooms: one per set of people, made on first use, with exactly those members."""

import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from chat import ratelimit
from chat.models import Membership, Room
from chat.selectors.members import active_user_by_username
from chat.services.errors import ServiceError
from chat.services.membership import user_sockets_join_room

MAX_OTHERS = 8  # groups of up to 9 people, the caller included


def direct_key(user_ids: set[int]) -> str:
    return ",".join(str(user_id) for user_id in sorted(user_ids))


async def _others(creator: AbstractBaseUser, usernames: Any) -> list[AbstractBaseUser]:
    """The other members: 1..8 distinct active users, never only the caller."""
    if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
        raise ServiceError("invalid", "usernames must be a list of usernames")
    names = set(usernames) - {creator.get_username()}
    if not names:
        raise ServiceError("invalid", "name at least one other person")
    if len(names) > MAX_OTHERS:
        raise ServiceError("invalid", f"a direct room has at most {MAX_OTHERS} other people")
    others = []
    for name in sorted(names):
        user = await active_user_by_username(name)
        if user is None:
            raise ServiceError("invalid", f"no active user named {name[:40]!r}")
        others.append(user)
    return others


@sync_to_async
def _get_or_insert(key: str, user_ids: set[int]) -> tuple[Room, bool]:
    existing = Room.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            # The stored name only has to be unique: people see the other members' names. It
            # is random so that nobody can take it first with a room of that name.
            room = Room.objects.create(
                name=f"dm-{uuid.uuid4().hex[:24]}", kind=Room.KIND_DIRECT, direct_key=key
            )
            Membership.objects.bulk_create(
                Membership(room=room, user_id=user_id, role=Membership.MEMBER)
                for user_id in user_ids
            )
    except IntegrityError:
        # Someone made the same room a moment ago: the unique direct_key kept it to one.
        return Room.objects.get(direct_key=key), False
    return room, True


async def direct_room_open(*, creator: AbstractBaseUser, usernames: Any) -> tuple[Room, bool]:
    """The direct room of exactly these users and the creator, made if need be; returns
    (room, created). Every member's open pages hear of a new one."""
    others = await _others(creator, usernames)
    user_ids = {creator.pk, *(user.pk for user in others)}
    key = direct_key(user_ids)
    existing = await Room.objects.filter(direct_key=key).afirst()
    if existing is not None:
        return existing, False
    if not await ratelimit.allow_room_create(user_id=creator.pk):
        raise ServiceError("rate_limited", "too many new conversations; slow down")
    room, created = await _get_or_insert(key, user_ids)
    if created:
        for user_id in sorted(user_ids):
            await user_sockets_join_room(user_id=user_id, room_id=room.pk)
    return room, created
