"""Messages: post, edit and delete. Each validates, stores (committed before anyone hears of
it, with the room's next version taken in the same transaction), then broadcasts."""

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import AsyncToSync, async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone
from redis.exceptions import RedisError

from chat import rendering
from chat.groups import room_activity_group, room_group
from chat.models import Message, MessageEdit, Room
from chat.selectors.attachments import attachments_load
from chat.selectors.members import member_usernames, moderates_room
from chat.selectors.notifications import recipients_of_inserted_sql
from chat.serializers import dumps, message_to_dict
from chat.services.attachments import (
    attachments_claim,
    attachments_remove,
    clean_attachment_ids,
)
from chat.services.broadcast import group_send
from chat.services.errors import ConflictError, ServiceError
from chat.services.notifications import is_direct, notify_events
from chat.services.validation import clean_body, clean_client_id, clean_id, clean_version
from chat.services.versions import room_next_version
from mychannels.dashboard.counters import message_counted
from mychannels.runtime import asyncdb

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageResult:
    message: Message
    created: bool


@dataclass(frozen=True)
class Stored:
    """A message just inserted, and who hears of it when the insert said (else None)."""

    recipients: list[int] | None


class NoChange(Exception):
    """Raised inside a write's transaction when the write would change nothing (the same body,
    a reaction already there): the transaction rolls back, so the room's version is not
    spent, and the caller gets `message` as it stands, with nothing broadcast."""

    def __init__(self, message: Message) -> None:
        super().__init__("no change")
        self.message = message


def message_event(message: Message) -> dict[str, Any]:
    frame = {"type": "message", **message_to_dict(message)}
    return {"type": "chat.message", "id": message.id, "text": dumps(frame)}


def change_event(frame: dict[str, Any]) -> dict[str, Any]:
    """A change to a message already shown (edit, deletion, reactions): forwarded as is."""
    return {"type": "chat.change", "text": dumps(frame)}


def message_activity_event(message: Message) -> dict[str, Any]:
    """What room-list sockets hear of a message: where, by whom and whom it mentions (for
    the mention counts), never the body."""
    return {
        "type": "rooms.message",
        "room_id": message.room_id,
        "id": message.id,
        "author_id": message.author_id,
        "mentions": list(message.mentions or []),
    }


async def _send_quietly(room_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
    """The write is already committed: if the channel layer is down, the writer still
    succeeds and members get it when they catch up (the DB is the record). Each group on
    its own: with several Redis servers (REDIS_URL) a group whose server is away must not
    keep the event from the groups on the others. Sent together, so that the PUBLISHes go
    to a server in one write and their replies come back in one read
    (mychannels/runtime/redisline.py), not one round trip after another."""
    if len(events) == 1:
        await _send_one(room_id, *events[0])
        return
    await asyncio.gather(*(_send_one(room_id, group, event) for group, event in events))


async def _send_one(room_id: int, group: str, event: dict[str, Any]) -> None:
    try:
        await group_send(group, event)
    except (TimeoutError, RedisError, OSError):
        logger.warning(
            "a change in room %s is stored but the channel layer is unreachable for %s: "
            "its members will get it when they catch up",
            room_id,
            group,
            exc_info=True,
        )


async def broadcast_message(message: Message, recipients: list[int] | None = None) -> None:
    """To the room's sockets and room lists first; then, once per message, the `notify`
    frame to those who should hear of it: `recipients`, when the insert returned them, else
    a read of its own, which the room does not wait for."""
    message_counted(room_id=message.room_id)  # the operations dashboard (after commit)
    await _send_quietly(
        message.room_id,
        [
            (room_group(message.room_id), message_event(message)),
            (room_activity_group(message.room_id), message_activity_event(message)),
        ],
    )
    await _send_quietly(message.room_id, await notify_events(message, recipients))


async def broadcast_change(room_id: int, frame: dict[str, Any]) -> None:
    await _send_quietly(room_id, [(room_group(room_id), change_event(frame))])


def after_commit(broadcast: Callable[..., Any], *args: Any) -> bool:
    """Inside a caller's transaction (the admin wraps its saves in one) the broadcast waits
    for the commit, so nobody hears of a write that could still be rolled back. True when
    it was deferred so; otherwise the async caller broadcasts itself."""
    if not connection.in_atomic_block:
        return False
    transaction.on_commit(lambda: async_to_sync(broadcast)(*args))
    return True


def rendered(room_id: int, body: str) -> tuple[str, list[str]]:
    """The body's html and the members it mentions (a query only when it names someone)."""
    html = rendering.plain_text_html(body)  # no "@" in it: nobody is mentioned
    if html is not None:
        return html, []
    tokens = rendering.parse(body)
    candidates = rendering.mention_candidates(tokens)
    members = member_usernames(room_id, candidates) if candidates else []
    mentions = _in_body_order(candidates, members)[: settings.CHAT_MENTIONS_MAX]
    return rendering.render(tokens, mentions), mentions


def _in_body_order(candidates: list[str], members: list[str]) -> list[str]:
    by_lower = {name.lower(): name for name in members}
    return [by_lower[c] for c in candidates if c in by_lower]


def recycle_connection() -> None:
    """What channels' pre-handler hop would do, in the write's own hop (room sockets skip
    that hop: chat/consumers.py); not inside a caller's transaction, whose connection it is."""
    if not connection.in_atomic_block:
        close_old_connections()


# ---- posting ---------------------------------------------------------------------------


def _store_message(
    room: Room,
    author: AbstractBaseUser,
    body: str,
    client_id: str | None,
    reply_to: int | None = None,
    attachment_ids: Sequence[int] = (),
) -> tuple[Message, bool, bool]:
    """Insert (or find the earlier copy by client_id) in one short transaction.

    Returns (message, created, broadcast_deferred, recipients): `recipients`, who hears of
    it, when the insert said (chat/selectors/notifications.py), else None.
    """
    recycle_connection()
    html, mentions = rendered(room.pk, body)
    message = Message(
        room=room, author=author, body=body, html=html, client_id=client_id, mentions=mentions
    )
    if reply_to is not None:
        message.reply_to = _quoted_message(room.pk, reply_to)
    try:
        # A savepoint only inside a caller's transaction: on its own the insert is one
        # statement, and so one transaction, already. With attachments the insert and the
        # claim are one transaction, so that a refused claim stores no message.
        in_transaction = connection.in_atomic_block or attachment_ids
        with transaction.atomic() if in_transaction else nullcontext():
            stored = _insert_if_member(message)
            if stored is not None:
                attachments_claim(message=message, ids=list(attachment_ids))
    except IntegrityError:
        # A resend: the unique (room, author, client_id) refused the copy, and nothing was
        # stored or broadcast. Looking it up only then saves a read on every first send.
        earlier = _message_by_client_id(room, author, client_id)
        if earlier is None:
            raise
        return earlier, False, False, None
    if stored is None:
        raise ServiceError("forbidden", "the author is not a member of this room")
    deferred = after_commit(broadcast_message, message, stored.recipients)
    return message, True, deferred, stored.recipients


def _quoted_message(room_id: int, message_id: int) -> Message:
    quoted = Message.objects.select_related("author").filter(pk=message_id, room_id=room_id).first()
    if quoted is None:
        raise ServiceError("invalid", "reply_to must be a message of this room")
    return quoted


# Taking the room's next version locks its row (for members only: the same statement is the
# membership check) until the insert commits, so versions and ids commit in order within a
# room (chat/services/versions.py). On PostgreSQL bump, check and insert are one statement,
# one round trip, with no query to build per message (measured in docs/performance.md);
# elsewhere (SQLite in development, which locks the whole database for a write anyway) the
# ORM does the same in a few.
_ROOMS, _MESSAGES = Room._meta.db_table, Message._meta.db_table
_MEMBERS = Room.users.through._meta.db_table


@functools.cache
def _insert_if_member_sql() -> str:
    """Bump, check and insert in one statement; it also returns who hears of the message
    (chat/selectors/notifications.py), which the broadcast would otherwise read after it."""
    return f"""
WITH bumped AS (
    UPDATE {_ROOMS} r SET version = r.version + 1
    WHERE r.id = %(room_id)s
      AND EXISTS (SELECT 1 FROM {_MEMBERS} m WHERE m.room_id = r.id AND m.user_id = %(author_id)s)
    RETURNING r.id, r.version
)
INSERT INTO {_MESSAGES}
    (room_id, author_id, body, html, created, client_id, deleted, version, reply_to_id,
     reactions, mentions)
SELECT id, %(author_id)s, %(body)s, %(html)s, %(created)s, %(client_id)s, false, version,
       %(reply_to_id)s, '[]'::jsonb, %(mentions)s::jsonb
FROM bumped
RETURNING id, version, {recipients_of_inserted_sql(_MESSAGES)}
"""


def _insert_if_member(message: Message) -> Stored | None:
    """Store `message` if its author is a member of its room; None (nothing stored) if not."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            version = room_next_version(message.room_id, message.author_id)
            if version is None:
                return None
            message.version = version
            message.save(force_insert=True)
        return Stored(recipients=None)
    try:
        with connection.cursor() as cursor:
            cursor.execute(_insert_if_member_sql(), _insert_params(message))
            row = cursor.fetchone()
    except IntegrityError:
        raise  # the connection is fine: a resend, handled by the caller
    except DatabaseError:
        # What a transaction block does on its way out: a connection that broke under the
        # statement is dropped, so that the resend that follows gets a working one. Inside a
        # caller's transaction its own block does that, and the connection is its to keep.
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        raise
    return None if row is None else _stored_row(message, row)


def _stored_row(message: Message, row: Sequence[Any]) -> Stored:
    """What the insert returned, onto the message it stored."""
    message.id, message.version, recipients = row
    message._state.adding = False
    # Not `connection.alias`: reaching Django's connection from a socket's task makes a
    # connection object for that task (mychannels/runtime/asyncdb.py, `operations`).
    message._state.db = asyncdb.ALIAS
    return Stored(recipients=list(recipients))


def _insert_params(message: Message) -> dict[str, Any]:
    return {
        "room_id": message.room_id,
        "author_id": message.author_id,
        "body": message.body,
        "html": message.html,
        "created": message.created,
        "client_id": message.client_id,
        "reply_to_id": message.reply_to_id,
        "mentions": dumps(message.mentions),
        "direct": is_direct(message.room),
    }


def _message_by_client_id(room: Room, author: AbstractBaseUser, client_id: str | None):
    return (
        Message.objects.select_related("author", "reply_to__author")
        .filter(room=room, author=author, client_id=client_id)
        .first()
    )


@contextmanager
def _unavailable_on_failure(room_id: Any) -> Iterator[None]:
    try:
        yield
    except DatabaseError:
        # Nothing was stored, so nothing is broadcast; the writer may try again (with the
        # same client_id, a resent message can never be stored twice).
        logger.exception("a write in room %s failed", room_id)
        raise ServiceError("unavailable", "nothing was stored; try again") from None


async def run_write(function: Callable[..., Any], *args: Any) -> Any:
    with _unavailable_on_failure(getattr(args[0], "pk", args[0])):
        return await sync_to_async(function)(*args)


async def _store(
    room: Room,
    author: AbstractBaseUser,
    body: str,
    client_id: str | None,
    reply_to: int | None,
    attachment_ids: Sequence[int],
) -> tuple[Message, bool, bool, list[int] | None]:
    """`_store_message`, on the event loop for the message most are (PostgreSQL, no reply,
    no files, no "@" that could name someone): its one statement needs no thread, and the
    hop to one and back was a large part of a message's CPU (docs/performance.md). The rest
    keep the thread, where their extra reads and their transaction live."""
    # No "@", no mention: the body is parsed once, here or on the thread.
    plain = reply_to is None and not attachment_ids and "@" not in body
    if plain and asyncdb.enabled() and not _for_sync_code():
        html = rendering.render_body(body)
        return await _store_on_loop(room, author, body, html, client_id)
    return await run_write(_store_message, room, author, body, client_id, reply_to, attachment_ids)


def _for_sync_code() -> bool:
    """Whether this coroutine runs for sync code (`async_to_sync`: the admin, management
    commands), whose thread `run_write` goes back to, with the caller's transaction, which a
    connection of the loop's would not be in. asgiref's own test, in `sync_to_async`."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return True
    return asyncio.get_running_loop() in AsyncToSync.loop_thread_executors


async def _store_on_loop(
    room: Room, author: AbstractBaseUser, body: str, html: str, client_id: str | None
) -> tuple[Message, bool, bool, list[int] | None]:
    message = Message(
        room=room, author=author, body=body, html=html, client_id=client_id, mentions=[]
    )
    with _unavailable_on_failure(room.pk):
        try:
            found = await _insert_on_loop(message)
        except IntegrityError:
            # A resend, as on the thread (_store_message): its first copy, else a failure.
            earlier = await run_write(_earlier_copy, room, author, client_id)
            if earlier is None:
                raise
            return earlier, False, False, None
    if not found:
        raise ServiceError("forbidden", "the author is not a member of this room")
    return message, True, False, _stored_row(message, found[0]).recipients


async def _insert_on_loop(message: Message) -> list[tuple]:
    """The insert, sent once more on a new connection if its connection fails under it
    (PostgreSQL restarted, a backend killed), when a client_id makes a second copy
    impossible: the connection may have died after the commit, and then the unique
    (room, author, client_id) refuses the copy and the resend path finds the first."""
    params = _insert_params(message)
    try:
        return await asyncdb.write(_insert_if_member_sql(), params)
    except OperationalError:
        if message.client_id is None:
            raise
        return await asyncdb.write(_insert_if_member_sql(), params)


def _earlier_copy(room: Room, author: AbstractBaseUser, client_id: str | None) -> Message | None:
    """A resend's first copy (the unique (room, author, client_id) refused the new one)."""
    recycle_connection()
    return _message_by_client_id(room, author, client_id)


async def message_create(
    *,
    room: Room,
    author: AbstractBaseUser,
    body: Any,
    client_id: Any = None,
    reply_to: Any = None,
    attachments: Any = None,
) -> MessageResult:
    """Validate, store (committed before anyone hears of it), then broadcast to the room.

    A repeated `client_id` from the same author in the same room returns the first message
    and stores and broadcasts nothing. `reply_to` must be a message of this room.
    `attachments`: ids of the author's unsent uploads to this room
    (chat/services/attachments.py); with them the body may be empty.
    """
    attachment_ids = clean_attachment_ids(attachments)
    body = clean_body(body, allow_empty=bool(attachment_ids))
    client_id = clean_client_id(client_id)
    reply_to = clean_id(reply_to, "reply_to", required=False)
    message, created, deferred, recipients = await _store(
        room, author, body, client_id, reply_to, attachment_ids
    )
    if not created:
        await attachments_load([message])  # the first send's files, as it was answered
    if created and not deferred:
        await broadcast_message(message, recipients)
    return MessageResult(message=message, created=created)


# ---- changing a message ----------------------------------------------------------------


def message_for_change(room_id: int, message_id: int) -> Message:
    """The live (not deleted) message of this room, for a write that holds the room's lock."""
    message = (
        Message.objects.select_related("author", "reply_to__author")
        .filter(pk=message_id, room_id=room_id, deleted=False)
        .first()
    )
    if message is None:
        raise ServiceError("not_found", "no such message in this room")
    return message


def can_delete(user: AbstractBaseUser, message: Message) -> bool:
    """Who may delete a message: its author, staff, and the room's moderators and owners;
    this is the one place that decides."""
    if user.is_staff or message.author_id == user.pk:
        return True
    return moderates_room(message.room_id, user.pk)


def _check_editable(user: AbstractBaseUser, message: Message, version: int | None) -> None:
    if message.author_id != user.pk:
        raise ServiceError("forbidden", "only its author can edit a message")
    window = timedelta(seconds=settings.CHAT_EDIT_WINDOW_SECONDS)
    if timezone.now() - message.created > window:
        raise ServiceError("forbidden", "the edit window of this message has closed")
    if version is not None and version != message.version:
        raise ConflictError(message_to_dict(message))


def _keep_earlier_body(message: Message) -> None:
    MessageEdit.objects.create(message=message, body=message.body, version=message.version)


def _edit(room_id: int, user: AbstractBaseUser, message_id: int, body: str, version: int | None):
    with transaction.atomic():
        new_version = room_next_version(room_id, user.pk)
        if new_version is None:
            raise ServiceError("forbidden", "you are not a member of this room")
        message = message_for_change(room_id, message_id)
        _check_editable(user, message, version)
        if body == message.body:
            raise NoChange(message)
        _keep_earlier_body(message)
        message.body = body
        message.html, message.mentions = rendered(room_id, body)
        message.edited = timezone.now()
        message.version = new_version
        message.save(update_fields=["body", "html", "mentions", "edited", "version"])
    return message


def _edit_and_publish(room: Room, user: AbstractBaseUser, message_id: int, body: str, version):
    recycle_connection()
    try:
        message = _edit(room.pk, user, message_id, body, version)
    except NoChange as unchanged:
        return unchanged.message, True
    frame = {"type": "message_updated", "message": message_to_dict(message)}
    return message, after_commit(broadcast_change, room.pk, frame)


async def message_edit(
    *, room: Room, user: AbstractBaseUser, message_id: Any, body: Any, version: Any = None
) -> Message:
    """The author's new body, within the edit window; the earlier one goes to the message's
    history. With `version`, refused `conflict` if the message changed after it."""
    message_id = clean_id(message_id, "id", required=True)
    body = clean_body(body)
    version = clean_version(version)
    message, quiet = await run_write(_edit_and_publish, room, user, message_id, body, version)
    if not quiet:
        await broadcast_change(
            room.pk, {"type": "message_updated", "message": message_to_dict(message)}
        )
    return message


def tombstone(message: Message, version: int) -> None:
    """What stays of a deleted message (the contract): its place, author, time and version."""
    message.body = message.html = ""
    message.reactions, message.mentions = [], []
    message.reply_to = None
    message.deleted = True
    message.version = version


def _delete(room_id: int, user: AbstractBaseUser, message_id: int) -> Message:
    with transaction.atomic():
        new_version = room_next_version(room_id)  # staff may delete in rooms they are not in
        message = message_for_change(room_id, message_id)
        if not can_delete(user, message):
            raise ServiceError("forbidden", "you may not delete this message")
        # Kept for moderation: staff can still read, in the admin, what was removed.
        _keep_earlier_body(message)
        message.reaction_rows.all().delete()
        attachments_remove(message)  # the files go once this commits
        tombstone(message, new_version)
        message.save(
            update_fields=[
                "body",
                "html",
                "reactions",
                "mentions",
                "reply_to",
                "deleted",
                "version",
            ]
        )
    return message


def _delete_and_publish(room: Room, user: AbstractBaseUser, message_id: int):
    recycle_connection()
    message = _delete(room.pk, user, message_id)
    frame = {"type": "message_deleted", "message": message_to_dict(message)}
    return message, after_commit(broadcast_change, room.pk, frame)


async def message_delete(*, room: Room, user: AbstractBaseUser, message_id: Any) -> Message:
    """The message becomes a tombstone (see `tombstone`), broadcast to the room."""
    message_id = clean_id(message_id, "id", required=True)
    message, deferred = await run_write(_delete_and_publish, room, user, message_id)
    if not deferred:
        await broadcast_change(
            room.pk, {"type": "message_deleted", "message": message_to_dict(message)}
        )
    return message
