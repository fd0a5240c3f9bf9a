"""Rooms: which exist, who belongs, and a user's list of them."""

import functools
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from chat.models import ReadMarker, Room
from chat.selectors.opening import OPENING_READS


async def room_get(*, room_id: int) -> Room | None:
    return await Room.objects.filter(pk=room_id).afirst()


async def room_is_member(*, room_id: int, user_id: int) -> bool:
    return await Room.users.through.objects.filter(room_id=room_id, user_id=user_id).aexists()


@dataclass(frozen=True)
class RoomAccess:
    room: Room | None  # None: no such room
    is_member: bool


# A socket's opening reads are written out once: on this machine Django spent about 1 ms of
# CPU building each of these queries, several times the time PostgreSQL takes to answer them,
# and every socket opening pays for them (docs/performance.md). Plain SQL that both SQLite and
# PostgreSQL speak; the rows still become model instances.
_MEMBERS = Room.users.through._meta.db_table


@functools.cache
def _room_access_sql(columns: str) -> str:
    """The room's columns and whether the user is a member, last; params: user id, room id."""
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {_MEMBERS} m"
        f" WHERE m.room_id = r.id AND m.user_id = %s) AS is_member"
        f" FROM {Room._meta.db_table} r WHERE r.id = %s"
    )


async def room_access(room_id: int, user_id: int) -> RoomAccess:
    """The room (or None) and whether the user belongs to it: one query."""
    found = await OPENING_READS.instances(
        Room, "r", _room_access_sql, [user_id, room_id], extra=("is_member",)
    )
    if not found:
        return RoomAccess(room=None, is_member=False)
    return RoomAccess(room=found[0], is_member=bool(found[0].is_member))


async def rooms_of_user(*, user: AbstractBaseUser) -> list[Room]:
    """The user's rooms, each annotated with `unread` (others' messages after the marker)."""
    last_read = ReadMarker.objects.filter(room=OuterRef("pk"), user=user).values("last_read_id")
    queryset = (
        Room.objects.filter(users=user)
        .annotate(last_read=Coalesce(Subquery(last_read[:1]), 0))
        .annotate(
            unread=Count(
                "messages",
                filter=Q(messages__id__gt=F("last_read")) & ~Q(messages__author=user),
            )
        )
        .order_by("name")
    )
    return [room async for room in queryset]


async def public_rooms_to_join(*, user: AbstractBaseUser) -> list[Room]:
    queryset = Room.objects.filter(is_public=True).exclude(users=user).order_by("name")
    return [room async for room in queryset]


async def room_ids_of_user(*, user_id: int) -> list[int]:
    through = Room.users.through.objects.filter(user_id=user_id)
    return [room_id async for room_id in through.values_list("room_id", flat=True)]
