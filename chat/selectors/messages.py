"""Message history: the opening page of a socket, older pages, the API's paging, and
catch-up by version (`since`)."""

import functools
import json
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from chat.models import Message
from chat.selectors.attachments import attachments_load
from chat.selectors.opening import OPENING_READS
from chat.serializers import EXCERPT_LENGTH


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    has_more: bool


# The opening page's three shapes: (where, order) after `m.room_id = %s`.
LATEST, AFTER, SINCE = "latest", "after", "since"
_SHAPES = {
    LATEST: ("", "m.id DESC"),
    AFTER: (" AND m.id > %s", "m.id ASC"),
    SINCE: (" AND m.version > %s", "m.version ASC"),
}
REPLY_COLUMNS = ("author_username", "reply_username", "reply_body", "reply_deleted")


@functools.cache
def opening_sql(shape: str, columns: str, room: str = "%s") -> str:
    """One statement: the messages, their authors' names and what they reply to (author,
    excerpt, deleted) by LEFT JOIN, so that replies cost the opening no query of their own.
    `columns` is Message's select list (`m.column, ...`), REPLY_COLUMNS follow it; `room` is
    the SQL of the room's id (a placeholder, or a column of an outer query)."""
    users = get_user_model()
    pk, username = users._meta.pk.column, users._meta.get_field(users.USERNAME_FIELD).column
    messages, users_table = Message._meta.db_table, users._meta.db_table
    where, order = _SHAPES[shape]
    return (
        f"SELECT {columns}, u.{username} AS author_username, ru.{username} AS reply_username,"
        f" SUBSTR(rm.body, 1, {EXCERPT_LENGTH}) AS reply_body, rm.deleted AS reply_deleted"
        f" FROM {messages} m JOIN {users_table} u ON u.{pk} = m.author_id"
        f" LEFT JOIN {messages} rm ON rm.id = m.reply_to_id"
        f" LEFT JOIN {users_table} ru ON ru.{pk} = rm.author_id"
        f" WHERE m.room_id = {room}{where} ORDER BY {order} LIMIT %s"
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
        _decode_json(message)
    return messages


def _decode_json(message: Message) -> None:
    """Rows read on the loop come without Django's field converters: JSON arrives as text."""
    for name in ("reactions", "mentions"):
        value = getattr(message, name)
        if isinstance(value, str):
            # Most messages have neither: json.loads("[]") costs 0.87 us, the comparison 25 ns.
            setattr(message, name, [] if value == "[]" else json.loads(value))


def _history_page(rows: list[Message], limit: int, newest_first: bool) -> MessagePage:
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return MessagePage(messages=rows, has_more=has_more)


def opening_shape(after_id: int | None, since: int | None, limit: int) -> tuple[str, list]:
    """The opening page's shape and its parameters after the room's id: with `since` every
    message created or changed after that room version (by version); with `after_id` the
    oldest `limit` above it (by id); else the latest `limit`."""
    if since is not None:
        return SINCE, [since, limit + 1]
    if after_id is not None:
        return AFTER, [after_id, limit + 1]
    return LATEST, [limit + 1]


async def opening_page(rows: list[Message], shape: str, limit: int) -> MessagePage:
    """The page of the opening statement's messages (one more than `limit` read, to tell
    whether there are more), ascending, with their authors and attachments."""
    page = _history_page(_with_authors(rows), limit, shape == LATEST)
    await attachments_load(page.messages)
    return page


async def opening_history(
    room_id: int, after_id: int | None, limit: int, since: int | None = None
) -> MessagePage:
    """A socket's first history page, ascending, in one query (opening_shape)."""
    shape, params = opening_shape(after_id, since, limit)
    sql = functools.partial(opening_sql, shape)
    rows = await OPENING_READS.instances(Message, "m", sql, [room_id, *params], extra=REPLY_COLUMNS)
    return await opening_page(rows, shape, limit)


async def _page(queryset, limit: int, newest_first: bool) -> MessagePage:
    rows = [m async for m in queryset.select_related("author", "reply_to__author")[: limit + 1]]
    page = _history_page(rows, limit, newest_first)
    await attachments_load(page.messages)
    return page


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


async def messages_since(*, room_id: int, since: int, limit: int) -> MessagePage:
    """The first `limit` messages created or changed after room version `since`, by version."""
    queryset = Message.objects.filter(room_id=room_id, version__gt=since).order_by("version")
    return await _page(queryset, limit, False)


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


async def message_in_room(*, room_id: int, message_id: int) -> bool:
    """Whether this message id is one of the room's (deleted or not)."""
    return await Message.objects.filter(pk=message_id, room_id=room_id).aexists()
