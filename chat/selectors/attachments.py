"""Attachments: the one a URL names, and those of a page of messages."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser

from chat.models import Attachment, Message
from chat.selectors.rooms import room_is_member


async def attachment_get(*, attachment_id: int) -> Attachment | None:
    return await Attachment.objects.filter(pk=attachment_id).afirst()


async def attachment_may_fetch(*, attachment: Attachment, user: AbstractBaseUser) -> bool:
    """Members of its room, once it is in a message; before that, only its uploader (a
    preview before sending), who must still be a member."""
    if attachment.message_id is None and attachment.uploader_id != user.pk:
        return False
    return await room_is_member(room_id=attachment.room_id, user_id=user.pk)


async def attachments_load(messages: Sequence[Message]) -> None:
    """Give each message its `attachment_list` (what the message object shows): one query
    for the whole page."""
    if not messages:
        return
    by_message: dict[int, list[Attachment]] = {m.pk: [] for m in messages}
    query = Attachment.objects.filter(message_id__in=list(by_message)).order_by("id")
    async for attachment in query:
        by_message[attachment.message_id].append(attachment)
    for message in messages:
        message.attachment_list = by_message[message.pk]
