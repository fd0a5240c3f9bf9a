"""A room socket's opening read: the room, whether the user belongs to it, and the first
history page, in one statement on PostgreSQL.

Every socket opening pays for it, and each statement costs PostgreSQL and the server about as
much again as one more (docs/performance.md, connect storm): the room, the membership and
the page come from one snapshot, so the room's version is exactly the page's. The page is
read only for a member. Elsewhere (SQLite, for development) the same two reads as before,
on the opening's threads.
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

NO_VERSION = -1  # below every room's version: the page is read


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
    (NULLs on the one row of an empty page; the page is read only for a member, and only
    when the room's version is not the one whose page the caller holds); no row without
    the room. Params: the user's id, the room's id, the version held (NO_VERSION for none),
    the page's (opening_shape)."""
    access = room_access_sql(asyncdb.select_list(Room, "r")[0])
    read_page = "a.id AND a.is_member AND a.version <> %s"
    page = opening_sql(shape, asyncdb.select_list(Message, "m")[0], room=read_page)
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
    (`reused`): the statement reads no rows when the page was held before it was sent, and
    one held by the time its rows are back (an opening beside it in a storm) is reused too."""
    if not asyncdb.enabled():
        access = await room_access(room_id, user_id)
        if not access.is_member:
            return RoomOpening(room=access.room, is_member=False, page=None)
        if reused := _still_held(held, access.room.version):
            return RoomOpening(room=access.room, is_member=True, page=None, reused=reused)
        page = await opening_history(room_id, after_id, limit, since=since)
        return RoomOpening(room=access.room, is_member=True, page=page)
    shape, page_params = opening_shape(after_id, since, limit)
    before = held() if held else None
    held_version = before.version if before else NO_VERSION
    found = await asyncdb.rows(
        _room_opening_sql(shape), [user_id, room_id, held_version, *page_params]
    )
    if not found:
        return RoomOpening(room=None, is_member=False, page=None)
    room_names = asyncdb.select_list(Room, "r")[1]
    room = asyncdb.model_instance(Room, room_names, found[0][: len(room_names)], ())
    if not found[0][len(room_names)]:
        return RoomOpening(room=room, is_member=False, page=None)
    if reused := _still_held(held, room.version):
        return RoomOpening(room=room, is_member=True, page=None, reused=reused)
    if room.version == held_version:  # no rows came, and the held page went meanwhile
        return await room_opening(room_id, user_id, after_id=after_id, since=since, limit=limit)
    messages = _page_messages(found, len(room_names) + 1)
    return RoomOpening(room=room, is_member=True, page=await opening_page(messages, shape, limit))


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
