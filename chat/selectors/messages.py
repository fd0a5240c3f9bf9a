"""Message history: the opening page of a socket, older pages, the API's paging."""

import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from chat.models import Message
from chat.selectors.opening import OPENING_READS


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    has_more: bool


@functools.cache
def _history_sql(newest_first: bool, after: bool, columns: str) -> str:
    users = get_user_model()
    pk, username = users._meta.pk.column, users._meta.get_field(users.USERNAME_FIELD).column
    return (
        f"SELECT {columns}, u.{username} AS author_username FROM {Message._meta.db_table} m"
        f" JOIN {users._meta.db_table} u ON u.{pk} = m.author_id"
        f" WHERE m.room_id = %s{' AND m.id > %s' if after else ''}"
        f" ORDER BY m.id {'DESC' if newest_first else 'ASC'} LIMIT %s"
    )


def _with_authors(messages: list[Message]) -> list[Message]:
    """Each message's author as a user holding its id and username (the rest is deferred):
    what the contract shows, without a query or a full user row per message."""
    users = get_user_model()
    fields = [users._meta.pk.attname, users.USERNAME_FIELD]
    authors: dict[int, AbstractBaseUser] = {}
    for message in messages:
        author = authors.get(message.author_id)
        if author is None:
            author = users.from_db(
                message._state.db, fields, [message.author_id, message.author_username]
            )
            authors[message.author_id] = author
        message.author = author
    return messages


def _history_page(rows: list[Message], limit: int, newest_first: bool) -> MessagePage:
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return MessagePage(messages=rows, has_more=has_more)


async def opening_history(room_id: int, after_id: int | None, limit: int) -> MessagePage:
    """A socket's first history page: the latest `limit` messages, or with `after_id` the
    oldest `limit` above it (catch-up), ascending, in one query."""
    newest_first = after_id is None
    params = [room_id] + ([] if newest_first else [after_id]) + [limit + 1]
    sql = functools.partial(_history_sql, newest_first, not newest_first)
    rows = await OPENING_READS.instances(Message, "m", sql, params, extra=("author_username",))
    return _history_page(_with_authors(rows), limit, newest_first)


async def _page(queryset, limit: int, newest_first: bool) -> MessagePage:
    rows = [m async for m in queryset.select_related("author")[: limit + 1]]
    return _history_page(rows, limit, newest_first)


async def messages_latest(*, room_id: int, limit: int) -> MessagePage:
    """The newest `limit` messages, in ascending id order."""
    return await _page(Message.objects.filter(room_id=room_id).order_by("-id"), limit, True)


async def messages_after(*, room_id: int, after_id: int, limit: int) -> MessagePage:
    """The oldest `limit` messages with an id above `after_id`, ascending (catch-up)."""
    queryset = Message.objects.filter(room_id=room_id, id__gt=after_id).order_by("id")
    return await _page(queryset, limit, False)


async def messages_before(*, room_id: int, before_id: int, limit: int) -> MessagePage:
    """The newest `limit` messages with an id below `before_id`, ascending (older history)."""
    queryset = Message.objects.filter(room_id=room_id, id__lt=before_id).order_by("-id")
    return await _page(queryset, limit, True)


async def messages_page(
    *, room_id: int, after_id: int | None, before_id: int | None, limit: int
) -> MessagePage:
    """The API's paging: `after` reads forward, `before` backward, neither the latest."""
    queryset = Message.objects.filter(room_id=room_id)
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    if after_id is not None:
        return await _page(queryset.filter(id__gt=after_id).order_by("id"), limit, False)
    return await _page(queryset.order_by("-id"), limit, True)
