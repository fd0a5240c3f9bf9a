"""A room socket's opening read: the room, whether the user belongs to it, and the first
history page, in one statement on PostgreSQL.

Every socket opening pays for it, and each statement costs PostgreSQL and the server about as
much again as one more (docs/performance.md, connect storm): the room, the membership and
the page come from one snapshot, so the room's version is exactly the page's. The page is
read only for a member. An opening that holds the room's latest page (chat/latest_pages.py)
reads only the room and the membership, with the other such openings of the moment in one
statement (mychannels/runtime/keyedreads.py): in a storm, every opening of a room but the
first. Elsewhere (SQLite, for development) the same two reads as before, on the opening's
threads.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chat.models import Message, Room
from chat.selectors.messages import (
    REPLY_COLUMNS,
    MessagePage,
    opening_history,
    opening_page,
    opening_shape,
    opening_sql,
)
from chat.selectors.rooms import room_access, room_access_sql
from mychannels.runtime import asyncdb
from mychannels.runtime.keyedreads import KeyedReads


class HeldPage(Protocol):
    """A page the caller keeps from an earlier opening (chat/latest_pages.py)."""

    version: int  # the room's version it was read at


@dataclass(frozen=True)
class RoomOpening:
    room: Room | None  # None: no such room
    is_member: bool
    page: MessagePage | None  # the first history page; None unless a member, or reused
    # The caller's held page, when the room is still at its version: no page was built.
    reused: HeldPage | None = None


@functools.cache
def _room_opening_sql(shape: str) -> str:
    """`room_access`'s statement, then the page's message and reply columns on each row
    (NULLs on the one row of an empty page; the page is read only for a member); no row
    without the room. Params: the user's id, the room's id, the page's (opening_shape)."""
    access = room_access_sql(asyncdb.select_list(Room, "r")[0])
    page = opening_sql(shape, asyncdb.select_list(Message, "m")[0], room="a.id AND a.is_member")
    return f"SELECT a.*, h.* FROM ({access}) a LEFT JOIN LATERAL ({page}) h ON true"


async def room_opening(
    room_id: int,
    user_id: int,
    *,
    after_id: int | None,
    since: int | None,
    limit: int,
    held: Callable[[], HeldPage | None] | None = None,
) -> RoomOpening:
    """What a socket opening shows: the room, the membership, and (for a member) the first
    page, as `room_access` and `opening_history` read them. With `held`, which gives the
    page the caller holds (if any), a room still at that page's version builds no page
    (`reused`): held before the read, only the room and membership are read; held by the
    time the rows are back (an opening beside it in a storm), it is reused too."""
    if not asyncdb.enabled():
        access = await room_access(room_id, user_id)
        if not access.is_member:
            return RoomOpening(room=access.room, is_member=False, page=None)
        if reused := _still_held(held, access.room.version):
            return RoomOpening(room=access.room, is_member=True, page=None, reused=reused)
        page = await opening_history(room_id, after_id, limit, since=since)
        return RoomOpening(room=access.room, is_member=True, page=page)
    if held is not None and held() is not None:
        opening = await _opening_of_held_page(room_id, user_id, held)
        if opening is not None:
            return opening  # else the room moved on from the held page, or it went meanwhile
    shape, page_params = opening_shape(after_id, since, limit)
    found = await asyncdb.rows(_room_opening_sql(shape), [user_id, room_id, *page_params])
    room, decided = _decided_without_page(found, held)
    if decided is not None:
        return decided
    messages = _page_messages(found, len(asyncdb.select_list(Room, "r")[1]) + 1)
    return RoomOpening(room=room, is_member=True, page=await opening_page(messages, shape, limit))


def _decided_without_page(
    found: list[tuple], held: Callable[[], HeldPage | None] | None
) -> tuple[Room | None, RoomOpening | None]:
    """The room of rows that start with the room's columns and the membership, and the
    opening when no page is needed (no room, not a member, the held page still current)."""
    if not found:
        return None, RoomOpening(room=None, is_member=False, page=None)
    room_names = asyncdb.select_list(Room, "r")[1]
    room = asyncdb.model_instance(Room, room_names, found[0][: len(room_names)], ())
    if not found[0][len(room_names)]:
        return room, RoomOpening(room=room, is_member=False, page=None)
    if reused := _still_held(held, room.version):
        return room, RoomOpening(room=room, is_member=True, page=None, reused=reused)
    return room, None


@functools.cache
def _accesses_sql() -> str:
    """Per (room id, user id) of the arrays whose room exists: the two ids, then
    `room_access`'s columns (the room's, and whether the user is a member)."""
    access = room_access_sql(asyncdb.select_list(Room, "r")[0], user="q.user_id", room="q.room_id")
    return (
        "SELECT q.room_id, q.user_id, a.*"
        " FROM unnest(%s::bigint[], %s::bigint[]) AS q(room_id, user_id)"
        f" CROSS JOIN LATERAL ({access}) a"
    )


# The room and membership of openings that hold the room's page: in a storm, all but the
# first of each room's, read together.
_ACCESSES = KeyedReads(_accesses_sql, width=2)


async def _opening_of_held_page(
    room_id: int, user_id: int, held: Callable[[], HeldPage | None]
) -> RoomOpening | None:
    """The opening, read without a page, when the room is still at the held page's version
    or the user may not open it; None when the page must be read."""
    return _decided_without_page(await _ACCESSES.rows((room_id, user_id)), held)[1]


def _still_held(held: Callable[[], HeldPage | None] | None, version: int) -> HeldPage | None:
    page = held() if held else None
    return page if page is not None and page.version == version else None


def _page_messages(found: list[tuple], start: int) -> list[Message]:
    """The messages of the rows' columns from `start` on; an empty page's one row has none."""
    names = asyncdb.select_list(Message, "m")[1]
    return [
        asyncdb.model_instance(Message, names, row[start:], REPLY_COLUMNS)
        for row in found
        if row[start] is not None  # a message's id is never NULL
    ]
