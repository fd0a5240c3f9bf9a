"""Rooms: which exist, who belongs, and a user's list of them."""

import functools
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from chat.models import Membership, ReadMarker, Room
from chat.selectors.opening import OPENING_READS
from chat.serializers import room_to_dict


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
def room_access_sql(columns: str, user: str = "%s", room: str = "%s") -> str:
    """The room's columns and whether the user is a member, last; params: user id, room id
    (or, for `user` and `room`, the SQL of each: columns of an outer query)."""
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {_MEMBERS} m"
        f" WHERE m.room_id = r.id AND m.user_id = {user}) AS is_member"
        f" FROM {Room._meta.db_table} r WHERE r.id = {room}"
    )


async def room_access(room_id: int, user_id: int) -> RoomAccess:
    """The room (or None) and whether the user belongs to it: one query."""
    found = await OPENING_READS.instances(
        Room, "r", room_access_sql, [user_id, room_id], extra=("is_member",)
    )
    if not found:
        return RoomAccess(room=None, is_member=False)
    return RoomAccess(room=found[0], is_member=bool(found[0].is_member))


async def rooms_of_user(*, user: AbstractBaseUser) -> list[Room]:
    """The user's rooms, each annotated with `unread` (others' messages after the marker)."""
    last_read = ReadMarker.objects.filter(room=OuterRef("pk"), user=user).values("last_read_id")
    queryset = (
        Room.objects.filter(users=user, kind=Room.KIND_ROOM)  # direct rooms: the sidebar's
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
    queryset = Room.objects.filter(is_public=True, kind=Room.KIND_ROOM).exclude(users=user)
    return [room async for room in queryset.order_by("name")]


async def room_ids_of_user(*, user_id: int) -> list[int]:
    through = Room.users.through.objects.filter(user_id=user_id)
    return [room_id async for room_id in through.values_list("room_id", flat=True)]


async def _direct_names(*, user_id: int, room_ids: list[int]) -> dict[int, str]:
    """A direct room is named by its other members, as each member sees it."""
    if not room_ids:
        return {}
    rows = (
        Membership.objects.filter(room_id__in=room_ids)
        .exclude(user_id=user_id)
        .order_by("user__username")
        .values_list("room_id", "user__username")
    )
    others: dict[int, list[str]] = {}
    async for room_id, username in rows:
        others.setdefault(room_id, []).append(username)
    return {room_id: ", ".join(names) for room_id, names in others.items()}


async def room_objects(*, user_id: int, room_ids: list[int] | None = None) -> list[dict]:
    """The contract's room object of each of the user's rooms (or of those named), rooms
    by name, then direct rooms by the names shown."""
    memberships = Membership.objects.filter(user_id=user_id).select_related("room")
    if room_ids is not None:
        memberships = memberships.filter(room_id__in=room_ids)
    memberships = memberships.annotate(member_total=Count("room__membership"))
    rows = [m async for m in memberships]
    direct = [m.room_id for m in rows if m.room.is_direct]
    names = await _direct_names(user_id=user_id, room_ids=direct)
    objects = [
        room_to_dict(m.room, role=m.role, members=m.member_total, name=names.get(m.room_id))
        for m in rows
    ]
    return sorted(objects, key=lambda room: (room["kind"] != "room", room["name"].lower()))


async def public_room_objects(*, user_id: int, query: str = "") -> list[dict]:
    """Public rooms the user may join, optionally those whose name contains `query`."""
    rooms = Room.objects.filter(is_public=True, kind=Room.KIND_ROOM).exclude(users__id=user_id)
    if query:
        rooms = rooms.filter(name__icontains=query)
    rooms = rooms.annotate(member_total=Count("membership")).order_by("name")
    return [room_to_dict(r, role=None, members=r.member_total) async for r in rooms]


async def room_object(*, room_id: int, user_id: int) -> dict | None:
    found = await room_objects(user_id=user_id, room_ids=[room_id])
    return found[0] if found else None
