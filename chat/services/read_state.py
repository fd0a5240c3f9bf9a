"""How far each user has read in each room."""

from django.contrib.auth.models import AbstractBaseUser

from chat.groups import user_rooms_group
from chat.models import Message, ReadMarker
from chat.services.broadcast import group_send
from chat.services.errors import ServiceError


async def room_mark_read(*, room_id: int, user: AbstractBaseUser, message_id: int) -> int:
    """Move the user's read marker forward (never back) to a message of this room, and tell
    the user's room-list sockets. Returns the marker's position."""
    if not await Message.objects.filter(room_id=room_id, pk=message_id).aexists():
        # An id from another room or the future would mark messages not yet written as read.
        raise ServiceError("invalid", "'id' is not a message of this room")
    marker, _ = await ReadMarker.objects.aget_or_create(room_id=room_id, user=user)
    if message_id <= marker.last_read_id:
        return marker.last_read_id
    moved = await ReadMarker.objects.filter(pk=marker.pk, last_read_id__lt=message_id).aupdate(
        last_read_id=message_id
    )
    if not moved:  # another tab moved it further meanwhile
        return await ReadMarker.objects.values_list("last_read_id", flat=True).aget(pk=marker.pk)
    await group_send(
        user_rooms_group(user.pk),
        {"type": "rooms.read", "room_id": room_id, "last_read_id": message_id},
    )
    return message_id
