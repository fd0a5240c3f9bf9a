"""A room's change counter: every write others must catch up on takes the room's next
version inside its own transaction.

The UPDATE's row lock is held until that transaction commits, so writers of one room go one
at a time and versions commit in order: a client that has seen version N and asks for
`since=N` can never miss a smaller version that was still uncommitted when N was sent.
"""

from django.db import connection

from chat.models import Room

_ROOMS = Room._meta.db_table
_MEMBERS = Room.users.through._meta.db_table

_BUMP_SQL = f"UPDATE {_ROOMS} SET version = version + 1 WHERE id = %s RETURNING version"
_BUMP_IF_MEMBER_SQL = (
    f"UPDATE {_ROOMS} SET version = version + 1 WHERE id = %s"
    f" AND EXISTS (SELECT 1 FROM {_MEMBERS} m WHERE m.room_id = {_ROOMS}.id AND m.user_id = %s)"
    " RETURNING version"
)


def room_next_version(room_id: int, member_id: int | None = None) -> int | None:
    """The room's next version (locking the room until commit); with `member_id`, None when
    that user is not a member (and nothing is locked). Call inside a transaction."""
    sql, params = (
        (_BUMP_SQL, [room_id]) if member_id is None else (_BUMP_IF_MEMBER_SQL, [room_id, member_id])
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]
