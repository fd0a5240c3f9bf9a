"""A room list socket's opening reads (`/ws/rooms/`): the user's rooms, then each room's
unread count, newest message, read marker and unread mentions.

Every tab opens one beside its room socket, so a reconnect storm opens as many lists as
rooms. Through the async ORM each list's three reads ran one after another on Django's one
ORM thread, waiting on PostgreSQL there: 2,000 tabs took 10 s (docs/performance.md,
"2026-12-07"). On PostgreSQL they are two statements on the event loop: the rooms first,
so that the socket joins their groups before it counts (a message posted meanwhile is then
either in the count or heard after it, and `latest_id` tells which), then the counts, with
the same rules as `unread_states` and `unread_mention_counts`, which stay the readers
elsewhere (SQLite, for development).
"""

import functools
import json

from chat.models import Membership, Message, ReadMarker, Room
from chat.selectors.mentions import unread_mention_counts
from chat.selectors.read_state import UnreadState, unread_states
from chat.selectors.rooms import room_ids_of_user
from mychannels.runtime import asyncdb


@functools.cache
def _room_ids_sql() -> str:
    return f"SELECT room_id FROM {Membership._meta.db_table} WHERE user_id = %s"


@functools.cache
def _counts_sql() -> str:
    """Per room of the user, by name: id, unread (others' messages after the marker, as
    `unread_states` counts them), newest message id, marker, unread mentions (not deleted,
    as `unread_mention_counts`). Params: user id x 4, the username as a JSON array."""
    messages, rooms = Message._meta.db_table, Room._meta.db_table
    members, markers = Membership._meta.db_table, ReadMarker._meta.db_table
    read = "COALESCE(rm.last_read_id, 0)"
    return (
        f"SELECT r.id, {read},"
        f" (SELECT count(*) FROM {messages} m WHERE m.room_id = r.id AND m.id > {read}"
        "   AND m.author_id <> %s),"
        f" COALESCE((SELECT max(m.id) FROM {messages} m WHERE m.room_id = r.id), 0),"
        f" (SELECT count(*) FROM {messages} m WHERE m.room_id = r.id AND m.id > {read}"
        "   AND m.author_id <> %s AND NOT m.deleted AND m.mentions @> %s::jsonb)"
        f" FROM {rooms} r JOIN {members} mb ON mb.room_id = r.id AND mb.user_id = %s"
        f" LEFT JOIN {markers} rm ON rm.room_id = r.id AND rm.user_id = %s"
        " ORDER BY r.name, r.id"
    )


async def room_list_room_ids(*, user_id: int) -> list[int]:
    """The ids of the rooms the user belongs to."""
    if not asyncdb.enabled():
        return await room_ids_of_user(user_id=user_id)
    return [row[0] for row in await asyncdb.rows(_room_ids_sql(), [user_id])]


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
    mentioned = json.dumps([username])
    params = [user_id, user_id, mentioned, user_id, user_id]
    found = await asyncdb.rows(_counts_sql(), params)
    states = [
        UnreadState(room_id, unread, latest, marker) for room_id, marker, unread, latest, _ in found
    ]
    return states, {row[0]: row[4] for row in found}
