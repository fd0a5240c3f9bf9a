"""Attachments: the one a URL names, and those of a page of messages."""

import functools
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser

from chat.models import Attachment, Message
from chat.selectors.opening import OPENING_READS
from chat.selectors.rooms import room_is_member


async def attachment_get(*, attachment_id: int) -> Attachment | None:
    return await Attachment.objects.filter(pk=attachment_id).afirst()


async def attachment_may_fetch(*, attachment: Attachment, user: AbstractBaseUser) -> bool:
    """Members of its room, once it is in a message; before that, only its uploader (a
    preview before sending), who must still be a member."""
    if attachment.message_id is None and attachment.uploader_id != user.pk:
        return False
    return await room_is_member(room_id=attachment.room_id, user_id=user.pk)


@functools.cache
def _attachments_sql(count: int, columns: str) -> str:
    """The attachments of `count` messages (their ids are the params), in upload order."""
    ids = ", ".join(["%s"] * count)
    return (
        f"SELECT {columns} FROM {Attachment._meta.db_table} a"
        f" WHERE a.message_id IN ({ids}) ORDER BY a.id"
    )


async def attachments_load(messages: Sequence[Message]) -> None:
    """Give each message its `attachment_list` (what the message object shows): one query
    for the whole page, on the socket opening's reads (the event loop on PostgreSQL: no
    thread hop for every socket that opens on a room with history)."""
    if not messages:
        return
    by_message: dict[int, list[Attachment]] = {m.pk: [] for m in messages}
    ids = list(by_message)
    sql = functools.partial(_attachments_sql, len(ids))
    for attachment in await OPENING_READS.instances(Attachment, "a", sql, ids):
        by_message[attachment.message_id].append(attachment)
    for message in messages:
        message.attachment_list = by_message[message.pk]
