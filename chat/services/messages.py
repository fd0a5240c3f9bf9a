"""Posting a message: validate, store (committed before anyone hears of it), broadcast."""

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from redis.exceptions import RedisError

from chat.groups import room_activity_group, room_group
from chat.models import Message, Room
from chat.serializers import dumps, message_to_dict
from chat.services.broadcast import group_send
from chat.services.errors import ServiceError
from chat.services.validation import clean_body, clean_client_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageResult:
    message: Message
    created: bool


def message_event(message: Message) -> dict[str, Any]:
    frame = {"type": "message", **message_to_dict(message)}
    return {"type": "chat.message", "id": message.id, "text": dumps(frame)}


def message_activity_event(message: Message) -> dict[str, Any]:
    """What room-list sockets hear of a message: where and by whom, never the body."""
    return {
        "type": "rooms.message",
        "room_id": message.room_id,
        "id": message.id,
        "author_id": message.author_id,
    }


async def broadcast_message(message: Message) -> None:
    """Tell the room. The message is already committed: if the channel layer is down, the
    writer still succeeds and members get it when they catch up by id (the DB is the record)."""
    try:
        await group_send(room_group(message.room_id), message_event(message))
        await group_send(room_activity_group(message.room_id), message_activity_event(message))
    except (TimeoutError, RedisError, OSError):
        logger.warning(
            "message %s is stored but the channel layer is unreachable: members will get it "
            "when they catch up",
            message.pk,
            exc_info=True,
        )


def _store_message(
    room: Room, author: AbstractBaseUser, body: str, client_id: str | None
) -> tuple[Message, bool, bool]:
    """Insert (or find the earlier copy by client_id) in one short transaction.

    Returns (message, created, broadcast_deferred). Inside a caller's transaction (the admin
    wraps its saves in one) the broadcast waits for the commit, so nobody hears of a message
    that could still be rolled back.
    """
    if not connection.in_atomic_block:
        # What channels' pre-handler hop would do: room sockets skip it for message frames
        # (chat/consumers.py), so the connection is recycled here, in the store's own hop.
        close_old_connections()
    message = Message(room=room, author=author, body=body, client_id=client_id)
    try:
        # A savepoint only inside a caller's transaction: on its own the insert is one
        # statement, and so one transaction, already.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            stored = _insert_if_member(message)
    except IntegrityError:
        # A resend: the unique (room, author, client_id) refused the copy, and nothing was
        # stored or broadcast. Looking it up only then saves a read on every first send.
        earlier = _message_by_client_id(room, author, client_id)
        if earlier is None:
            raise
        return earlier, False, False
    if not stored:
        raise ServiceError("forbidden", "the author is not a member of this room")
    deferred = connection.in_atomic_block
    if deferred:
        transaction.on_commit(lambda: async_to_sync(broadcast_message)(message))
    return message, True, deferred


# One writer per room at a time: the room row is locked (for members only: the same read is
# the membership check) until the insert commits, so ids are committed in id order within a
# room and a client that has seen id N and asks for `after=N` can never miss a smaller id
# that was still uncommitted when N was broadcast. On PostgreSQL lock, check and insert are
# one statement, one round trip, with no query to build per message (measured in
# docs/performance.md); elsewhere (SQLite in development, which locks the whole database
# for a write anyway) the ORM does the same in three.
_ROOMS, _MESSAGES = Room._meta.db_table, Message._meta.db_table
_MEMBERS = Room.users.through._meta.db_table
_INSERT_IF_MEMBER_SQL = f"""
WITH member_room AS (
    SELECT r.id FROM {_ROOMS} r
    WHERE r.id = %(room_id)s
      AND EXISTS (SELECT 1 FROM {_MEMBERS} m WHERE m.room_id = r.id AND m.user_id = %(author_id)s)
    FOR UPDATE OF r
)
INSERT INTO {_MESSAGES} (room_id, author_id, body, created, client_id)
SELECT id, %(author_id)s, %(body)s, %(created)s, %(client_id)s FROM member_room
RETURNING id
"""


def _insert_if_member(message: Message) -> bool:
    """Store `message` if its author is a member of its room; False (nothing stored) if not."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            if not _lock_room_for_member(message.room, message.author):
                return False
            message.save(force_insert=True)
        return True
    params = {
        "room_id": message.room_id,
        "author_id": message.author_id,
        "body": message.body,
        "created": message.created,
        "client_id": message.client_id,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_IF_MEMBER_SQL, params)
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
    if row is None:
        return False
    message.id = row[0]
    message._state.adding = False
    message._state.db = connection.alias
    return True


def _lock_room_for_member(room: Room, author: AbstractBaseUser) -> bool:
    locked = (
        Room.objects.select_for_update(of=("self",))
        .filter(pk=room.pk, users=author.pk)
        .values_list("pk", flat=True)
    )
    return locked.first() is not None


def _message_by_client_id(room: Room, author: AbstractBaseUser, client_id: str | None):
    return (
        Message.objects.select_related("author")
        .filter(room=room, author=author, client_id=client_id)
        .first()
    )


async def message_create(
    *, room: Room, author: AbstractBaseUser, body: Any, client_id: Any = None
) -> MessageResult:
    """Validate, store (committed before anyone hears of it), then broadcast to the room.

    A repeated `client_id` from the same author in the same room returns the first message
    and stores and broadcasts nothing.
    """
    body = clean_body(body)
    client_id = clean_client_id(client_id)
    try:
        message, created, deferred = await sync_to_async(_store_message)(
            room, author, body, client_id
        )
    except DatabaseError:
        # Nothing was stored, so nothing is broadcast; the sender may resend (with the same
        # client_id, a resend can never store the message twice).
        logger.exception("storing a message in room %s failed", room.pk)
        raise ServiceError("unavailable", "the message was not stored; send it again") from None
    if created and not deferred:
        await broadcast_message(message)
    return MessageResult(message=message, created=created)
