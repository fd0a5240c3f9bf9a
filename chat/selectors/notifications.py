"""Who hears of a message as a notification, and each user's notification choices.

A member hears of a message by someone else, in a room they have not muted, when their
level is `all`, or it is `mentions` (the default) and the message mentions them or is in a
direct room; `none` hears nothing. One read per message, whoever many members are.
"""

import functools

from django.contrib.auth import get_user_model

from chat.models import NotificationSetting, Room, RoomMute
from mychannels.runtime.asyncdb import Reads

# On the event loop on PostgreSQL, like the socket's opening reads: every new message asks.
NOTIFY_READS = Reads("notify-reads")

_MEMBERS = Room.users.through


def _recipients_where(*, room: str, author: str, direct: str, named: str | None) -> str:
    """Which membership rows `m` (joined to their settings `s`) hear of a message: the rule of
    the module's docstring. Each argument is an SQL expression: the room's id, the author's,
    whether the room is direct, and a list of the usernames it mentions (or None)."""
    users = get_user_model()
    username = users._meta.get_field(users.USERNAME_FIELD).column
    mutes = RoomMute._meta.db_table
    mentioned = ""
    if named is not None:
        mentioned = (
            f" OR m.user_id IN (SELECT u.{users._meta.pk.column} FROM {users._meta.db_table} u"
            f" WHERE u.{username} IN {named})"
        )
    return (
        f"m.room_id = {room} AND m.user_id <> {author}"
        f" AND COALESCE(s.level, '{NotificationSetting.MENTIONS}') <> '{NotificationSetting.NONE}'"
        f" AND NOT EXISTS (SELECT 1 FROM {mutes} x"
        f" WHERE x.room_id = m.room_id AND x.user_id = m.user_id)"
        f" AND ({direct} OR s.level = '{NotificationSetting.ALL}'{mentioned})"
    )


def _members_with_settings() -> str:
    settings_table = NotificationSetting._meta.db_table
    return f"{_MEMBERS._meta.db_table} m LEFT JOIN {settings_table} s ON s.user_id = m.user_id"


@functools.cache
def _recipients_sql(mentioned: int, columns: str) -> str:
    """Members to notify; params: room id, author id, is direct, then `mentioned` usernames."""
    named = f"({', '.join(['%s'] * mentioned)})" if mentioned else None
    where = _recipients_where(room="%s", author="%s", direct="%s", named=named)
    return f"SELECT {columns} FROM {_members_with_settings()} WHERE {where}"


@functools.cache
def recipients_of_inserted_sql(message_table: str) -> str:
    """For the RETURNING of a message's INSERT: the ids of the users to notify of the row just
    inserted (the same rule as `notify_recipients`), as an array, so that storing a message
    and finding who hears of it are one round trip. `%(direct)s` is whether its room is
    direct; the mentions are the row's own."""
    where = _recipients_where(
        room=f"{message_table}.room_id",
        author=f"{message_table}.author_id",
        direct="%(direct)s",
        named=f"(SELECT jsonb_array_elements_text({message_table}.mentions))",
    )
    return f"ARRAY(SELECT m.user_id FROM {_members_with_settings()} WHERE {where})"


async def notify_recipients(
    *, room_id: int, author_id: int, mentions: list[str], direct: bool
) -> list[int]:
    """Ids of the users to notify of a new message (see the module's docstring)."""
    sql = functools.partial(_recipients_sql, len(mentions))
    params = [room_id, author_id, direct, *mentions]
    members = await NOTIFY_READS.instances(_MEMBERS, "m", sql, params)
    return [member.user_id for member in members]


async def notification_level(*, user_id: int) -> str:
    setting = await NotificationSetting.objects.filter(user_id=user_id).afirst()
    return setting.level if setting else NotificationSetting.MENTIONS


async def muted_room_ids(*, user_id: int) -> set[int]:
    mutes = RoomMute.objects.filter(user_id=user_id).values_list("room_id", flat=True)
    return {room_id async for room_id in mutes}


async def room_is_muted(*, user_id: int, room_id: int) -> bool:
    return await RoomMute.objects.filter(user_id=user_id, room_id=room_id).aexists()


async def rooms_with_mute(*, user_id: int) -> list[tuple[Room, bool]]:
    """The user's rooms by name, each with whether they muted it."""
    muted = await muted_room_ids(user_id=user_id)
    rooms = Room.objects.filter(users__id=user_id).order_by("name")
    return [(room, room.pk in muted) async for room in rooms]
