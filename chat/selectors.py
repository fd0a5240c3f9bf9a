"""Reads: every query the views, the API and the consumers need, async."""

import functools
from dataclasses import dataclass, replace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from chat import asyncdb
from chat.models import Message, ReadMarker, Room
from chat.offthread import pooled, reads_pool


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    has_more: bool


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
def _room_access_sql(columns: str = "r.*") -> str:
    """The room's columns and whether the user is a member, last; params: user id, room id."""
    return (
        f"SELECT {columns}, EXISTS (SELECT 1 FROM {_MEMBERS} m"
        f" WHERE m.room_id = r.id AND m.user_id = %s) AS is_member"
        f" FROM {Room._meta.db_table} r WHERE r.id = %s"
    )


def _room_access(room_id: int, user_id: int) -> RoomAccess:
    rooms = Room.objects.raw(_room_access_sql(), [user_id, room_id])
    room = next(iter(rooms), None)
    if room is None:
        return RoomAccess(room=None, is_member=False)
    return RoomAccess(room=room, is_member=bool(room.is_member))


@functools.cache
def _history_sql(newest_first: bool, after: bool, columns: str = "m.*") -> str:
    users = get_user_model()
    pk, username = users._meta.pk.column, users._meta.get_field(users.USERNAME_FIELD).column
    return (
        f"SELECT {columns}, u.{username} AS author_username FROM {Message._meta.db_table} m"
        f" JOIN {users._meta.db_table} u ON u.{pk} = m.author_id"
        f" WHERE m.room_id = %s{' AND m.id > %s' if after else ''}"
        f" ORDER BY m.id {'DESC' if newest_first else 'ASC'} LIMIT %s"
    )


def _with_authors(messages: list[Message]) -> list[Message]:
    """Each message's author as a user holding its id and username (the rest is deferred):
    what the contract shows, without a query or a full user row per message."""
    users = get_user_model()
    fields = [users._meta.pk.attname, users.USERNAME_FIELD]
    authors: dict[int, AbstractBaseUser] = {}
    for message in messages:
        author = authors.get(message.author_id)
        if author is None:
            author = users.from_db(
                message._state.db, fields, [message.author_id, message.author_username]
            )
            authors[message.author_id] = author
        message.author = author
    return messages


def _history_page(rows: list[Message], limit: int, newest_first: bool) -> MessagePage:
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return MessagePage(messages=rows, has_more=has_more)


def _opening_history(room_id: int, after_id: int | None, limit: int) -> MessagePage:
    newest_first = after_id is None
    params = [room_id] + ([] if newest_first else [after_id]) + [limit + 1]
    sql = _history_sql(newest_first, after=not newest_first)
    rows = _with_authors(list(Message.objects.raw(sql, params)))
    return _history_page(rows, limit, newest_first)


# A socket opening is the hot path of a connect storm. Django's async ORM runs every query on
# one shared thread (thread_sensitive), one hop per query: these read in one hop each, on any
# pool thread (read-only, in no caller's transaction; chat/offthread.py), or on PostgreSQL
# with no hop at all, on the event loop (chat/asyncdb.py). What it bought is in
# docs/performance.md.
OPENING_READS = reads_pool("opening-reads")
_room_access_on_thread = pooled(_room_access, OPENING_READS)
_opening_history_on_thread = pooled(_opening_history, OPENING_READS)


async def room_access(room_id: int, user_id: int) -> RoomAccess:
    """The room (or None) and whether the user belongs to it: one query."""
    if not asyncdb.enabled():
        return await _room_access_on_thread(room_id, user_id)
    columns, names = asyncdb.select_list(Room, "r")
    found = await asyncdb.rows(_room_access_sql(columns), [user_id, room_id])
    if not found:
        return RoomAccess(room=None, is_member=False)
    *values, is_member = found[0]
    return RoomAccess(room=Room.from_db(asyncdb.ALIAS, names, values), is_member=is_member)


async def opening_history(room_id: int, after_id: int | None, limit: int) -> MessagePage:
    """A socket's first history page: the latest `limit` messages, or with `after_id` the
    oldest `limit` above it (catch-up), ascending, in one query."""
    if not asyncdb.enabled():
        return await _opening_history_on_thread(room_id, after_id, limit)
    newest_first = after_id is None
    columns, names = asyncdb.select_list(Message, "m")
    params = [room_id] + ([] if newest_first else [after_id]) + [limit + 1]
    sql = _history_sql(newest_first, after=not newest_first, columns=columns)
    messages = []
    for *values, username in await asyncdb.rows(sql, params):
        message = Message.from_db(asyncdb.ALIAS, names, values)
        message.author_username = username
        messages.append(message)
    return _history_page(_with_authors(messages), limit, newest_first)


async def _page(queryset, limit: int, newest_first: bool) -> MessagePage:
    rows = [m async for m in queryset.select_related("author")[: limit + 1]]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return MessagePage(messages=rows, has_more=has_more)


async def messages_latest(*, room_id: int, limit: int) -> MessagePage:
    """The newest `limit` messages, in ascending id order."""
    return await _page(Message.objects.filter(room_id=room_id).order_by("-id"), limit, True)


async def messages_after(*, room_id: int, after_id: int, limit: int) -> MessagePage:
    """The oldest `limit` messages with an id above `after_id`, ascending (catch-up)."""
    queryset = Message.objects.filter(room_id=room_id, id__gt=after_id).order_by("id")
    return await _page(queryset, limit, False)


async def messages_before(*, room_id: int, before_id: int, limit: int) -> MessagePage:
    """The newest `limit` messages with an id below `before_id`, ascending (older history)."""
    queryset = Message.objects.filter(room_id=room_id, id__lt=before_id).order_by("-id")
    return await _page(queryset, limit, True)


async def messages_page(
    *, room_id: int, after_id: int | None, before_id: int | None, limit: int
) -> MessagePage:
    """The API's paging: `after` reads forward, `before` backward, neither the latest."""
    queryset = Message.objects.filter(room_id=room_id)
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    if after_id is not None:
        return await _page(queryset.filter(id__gt=after_id).order_by("id"), limit, False)
    return await _page(queryset.order_by("-id"), limit, True)


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


async def unread_count(*, room_id: int, user_id: int) -> int:
    marker = await ReadMarker.objects.filter(room_id=room_id, user_id=user_id).afirst()
    last_read = marker.last_read_id if marker else 0
    return (
        await Message.objects.filter(room_id=room_id, id__gt=last_read)
        .exclude(author_id=user_id)
        .acount()
    )


@dataclass(frozen=True)
class UnreadState:
    """A room's unread count for one user, as of message `latest_id`."""

    room_id: int
    unread: int
    latest_id: int
    last_read_id: int

    def after_message(self, message_id: int, *, counts: bool) -> "UnreadState":
        return replace(self, unread=self.unread + counts, latest_id=message_id)


async def room_ids_of_user(*, user_id: int) -> list[int]:
    through = Room.users.through.objects.filter(user_id=user_id)
    return [room_id async for room_id in through.values_list("room_id", flat=True)]


async def unread_states(*, user_id: int, room_id: int | None = None) -> list[UnreadState]:
    """Unread counts of the user's rooms (or one of them), each with the newest message id it
    covers, read in one statement so that the count and `latest_id` agree."""
    last_read = ReadMarker.objects.filter(room=OuterRef("pk"), user_id=user_id)
    queryset = Room.objects.filter(users__id=user_id)
    if room_id is not None:
        queryset = queryset.filter(pk=room_id)
    rows = (
        queryset.annotate(last_read=Coalesce(Subquery(last_read.values("last_read_id")[:1]), 0))
        .annotate(
            unread=Count(
                "messages",
                filter=Q(messages__id__gt=F("last_read")) & ~Q(messages__author_id=user_id),
            ),
            latest_id=Coalesce(Max("messages__id"), 0),
        )
        .order_by("name")
        .values_list("pk", "unread", "latest_id", "last_read")
    )
    return [UnreadState(*row) async for row in rows]
