"""Mention counts: a user's unread messages (by others, after their read marker, not deleted)
that mention them, per room."""

import json

from django.db import connection
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast, Coalesce

from chat.models import Message, ReadMarker


def _mentioning(messages: QuerySet, username: str) -> QuerySet:
    """Messages whose `mentions` hold this username. PostgreSQL asks jsonb containment;
    SQLite (development), which has no JSON containment in Django, matches the stored text."""
    if connection.vendor == "postgresql":
        return messages.filter(mentions__contains=[username])
    as_text = Cast("mentions", TextField())
    return messages.annotate(mentions_text=as_text).filter(
        mentions_text__contains=json.dumps(username)
    )


def _unread_for(user_id: int) -> QuerySet:
    last_read = ReadMarker.objects.filter(room_id=OuterRef("room_id"), user_id=user_id)
    return (
        Message.objects.filter(deleted=False)
        .exclude(author_id=user_id)
        .annotate(last_read=Coalesce(Subquery(last_read.values("last_read_id")[:1]), 0))
        .filter(id__gt=F("last_read"))
    )


async def unread_mention_counts(
    *, user_id: int, username: str, room_ids: list[int]
) -> dict[int, int]:
    """Unread messages that mention the user, for each of `room_ids` (0 where none)."""
    counts = dict.fromkeys(room_ids, 0)
    if not room_ids:
        return counts
    messages = _mentioning(_unread_for(user_id).filter(room_id__in=room_ids), username)
    rows = messages.order_by().values("room_id").annotate(count=Count("id"))
    async for row in rows.values_list("room_id", "count"):
        counts[row[0]] = row[1]
    return counts
