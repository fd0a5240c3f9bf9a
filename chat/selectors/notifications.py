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


@functools.cache
def _recipients_sql(mentioned: int, columns: str) -> str:
    """Members to notify; params: room id, author id, is direct, then `mentioned` usernames."""
    users = get_user_model()
    username = users._meta.get_field(users.USERNAME_FIELD).column
    settings_table, mutes = NotificationSetting._meta.db_table, RoomMute._meta.db_table
    named = ""
    if mentioned:
        placeholders = ", ".join(["%s"] * mentioned)
        named = (
            f" OR m.user_id IN (SELECT u.{users._meta.pk.column} FROM {users._meta.db_table} u"
            f" WHERE u.{username} IN ({placeholders}))"
        )
    return (
        f"SELECT {columns} FROM {_MEMBERS._meta.db_table} m"
        f" LEFT JOIN {settings_table} s ON s.user_id = m.user_id"
        f" WHERE m.room_id = %s AND m.user_id <> %s"
        f" AND COALESCE(s.level, '{NotificationSetting.MENTIONS}') <> '{NotificationSetting.NONE}'"
        f" AND NOT EXISTS (SELECT 1 FROM {mutes} x"
        f" WHERE x.room_id = m.room_id AND x.user_id = m.user_id)"
        f" AND (%s OR s.level = '{NotificationSetting.ALL}'{named})"
    )


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
