"""A room list socket's opening reads (`/ws/rooms/`): the user's rooms, then each room's
unread count, newest message, read marker and unread mentions.

Every tab opens one beside its room socket, so a reconnect storm opens as many lists as
rooms. Through the async ORM each list's three reads ran one after another on Django's one
ORM thread, waiting on PostgreSQL there: 2,000 tabs took 10 s (docs/performance.md,
"2026-12-07"). On PostgreSQL they are two statements on the event loop: the rooms first,
so that the socket joins their groups before it counts (a message posted meanwhile is then
either in the count or heard after it, and `latest_id` tells which), then the counts, with
the same rules as `unread_states` and `unread_mention_counts`, which stay the readers
elsewhere (SQLite, for development). Lists opening at the same time read theirs together,
one statement each for all of them (mychannels/runtime/keyedreads.py).
"""

import functools

from chat.models import Membership, Message, ReadMarker, Room
from chat.selectors.mentions import unread_mention_counts
from chat.selectors.read_state import UnreadState, unread_states
from chat.selectors.rooms import room_ids_of_user
from mychannels.runtime import asyncdb
from mychannels.runtime.keyedreads import KeyedReads


@functools.cache
def _room_ids_sql() -> str:
    """Per user of the array: the user's id, then the id of a room of theirs."""
    return f"SELECT user_id, room_id FROM {Membership._meta.db_table} WHERE user_id = ANY(%s)"


@functools.cache
def _counts_sql() -> str:
    """Per user of the arrays (ids, usernames) and room of theirs, by name: the user's id and
    username, then the room's id, read marker, unread (others' messages after the marker,
    as `unread_states` counts them), newest message id and unread mentions (not deleted, as
    `unread_mention_counts`)."""
    messages, rooms = Message._meta.db_table, Room._meta.db_table
    members, markers = Membership._meta.db_table, ReadMarker._meta.db_table
    read = "COALESCE(rm.last_read_id, 0)"
    return (
        f"SELECT q.user_id, q.username, r.id, {read},"
        f" (SELECT count(*) FROM {messages} m WHERE m.room_id = r.id AND m.id > {read}"
        "   AND m.author_id <> q.user_id),"
        f" COALESCE((SELECT max(m.id) FROM {messages} m WHERE m.room_id = r.id), 0),"
        f" (SELECT count(*) FROM {messages} m WHERE m.room_id = r.id AND m.id > {read}"
        "   AND m.author_id <> q.user_id AND NOT m.deleted"
        "   AND m.mentions @> jsonb_build_array(q.username))"
        " FROM unnest(%s::bigint[], %s::text[]) AS q(user_id, username)"
        f" JOIN {members} mb ON mb.user_id = q.user_id"
        f" JOIN {rooms} r ON r.id = mb.room_id"
        f" LEFT JOIN {markers} rm ON rm.room_id = r.id AND rm.user_id = q.user_id"
        " ORDER BY q.user_id, r.name, r.id"
    )


# Every tab's room list reads these on opening: a storm's lists read theirs together.
ROOM_IDS = KeyedReads(_room_ids_sql)
COUNTS = KeyedReads(_counts_sql, width=2)


async def room_list_room_ids(*, user_id: int) -> list[int]:
    """The ids of the rooms the user belongs to."""
    if not asyncdb.enabled():
        return await room_ids_of_user(user_id=user_id)
    return [row[0] for row in await ROOM_IDS.rows(user_id)]


async def room_list_counts(
    *, user_id: int, username: str
) -> tuple[list[UnreadState], dict[int, int]]:
    """Each of the user's rooms' unread state (by room name), and its unread mentions."""
    if not asyncdb.enabled():
        states = await unread_states(user_id=user_id)
        room_ids = [state.room_id for state in states]
        mentions = await unread_mention_counts(
            user_id=user_id, username=username, room_ids=room_ids
        )
        return states, mentions
    found = await COUNTS.rows((user_id, username))
    states = [
        UnreadState(room_id, unread, latest, marker) for room_id, marker, unread, latest, _ in found
    ]
    return states, {row[0]: row[4] for row in found}
