"""Unread counts: others' messages after a user's read marker."""

from dataclasses import dataclass, replace

from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from chat.models import Message, ReadMarker, Room


async def last_read_id(*, room_id: int, user_id: int) -> int:
    """The newest message the user has read in the room (0 if none): the room page marks
    where the unread ones begin."""
    marker = await ReadMarker.objects.filter(room_id=room_id, user_id=user_id).afirst()
    return marker.last_read_id if marker else 0


async def unread_count(*, room_id: int, user_id: int) -> int:
    marker = await ReadMarker.objects.filter(room_id=room_id, user_id=user_id).afirst()
    last_read = marker.last_read_id if marker else 0
    return (
        await Message.objects.filter(room_id=room_id, id__gt=last_read)
        .exclude(author_id=user_id)
        .acount()
    )


@dataclass(frozen=True)
class UnreadState:
    """A room's unread count for one user, as of message `latest_id`."""

    room_id: int
    unread: int
    latest_id: int
    last_read_id: int

    def after_message(self, message_id: int, *, counts: bool) -> "UnreadState":
        return replace(self, unread=self.unread + counts, latest_id=message_id)


async def unread_states(*, user_id: int, room_id: int | None = None) -> list[UnreadState]:
    """Unread counts of the user's rooms (or one of them), each with the newest message id it
    covers, read in one statement so that the count and `latest_id` agree."""
    last_read = ReadMarker.objects.filter(room=OuterRef("pk"), user_id=user_id)
    queryset = Room.objects.filter(users__id=user_id)
    if room_id is not None:
        queryset = queryset.filter(pk=room_id)
    rows = (
        queryset.annotate(last_read=Coalesce(Subquery(last_read.values("last_read_id")[:1]), 0))
        .annotate(
            unread=Count(
                "messages",
                filter=Q(messages__id__gt=F("last_read")) & ~Q(messages__author_id=user_id),
            ),
            latest_id=Coalesce(Max("messages__id"), 0),
        )
        .order_by("name")
        .values_list("pk", "unread", "latest_id", "last_read")
    )
    return [UnreadState(*row) async for row in rows]
