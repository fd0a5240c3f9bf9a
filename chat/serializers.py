"""The contract's JSON shapes, built in one place for the API, the socket and the services."""

import json
from datetime import datetime
from typing import Any

from chat.models import Attachment, Message

EXCERPT_LENGTH = 100


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _reply_to(message: Message) -> dict[str, Any] | None:
    """The quoted message's id, author and excerpt. History rows bring them from their LEFT
    JOIN (`reply_username`, `reply_body`, `reply_deleted`: chat/selectors/messages.py); the
    ORM's from `select_related("reply_to__author")`."""
    if message.reply_to_id is None:
        return None
    if hasattr(message, "reply_username"):
        username, body, deleted = message.reply_username, message.reply_body, message.reply_deleted
    else:
        quoted = message.reply_to
        username, body, deleted = quoted.author.get_username(), quoted.body, quoted.deleted
    excerpt = "" if deleted else (body or "")[:EXCERPT_LENGTH]
    return {"id": message.reply_to_id, "username": username or "", "excerpt": excerpt}


def message_to_dict(message: Message) -> dict[str, Any]:
    """The contract's message object. Everything is stored ready to show (html, reactions,
    mentions), so this only copies fields: it runs once per broadcast and per history row."""
    return {
        "id": message.id,
        "room_id": message.room_id,
        "username": message.author.get_username(),
        "body": message.body,
        "html": message.html,
        "created": iso(message.created),
        "client_id": message.client_id,
        "edited": iso(message.edited) if message.edited else None,
        "deleted": bool(message.deleted),
        "version": message.version,
        "reply_to": _reply_to(message),
        "reactions": message.reactions or [],
        "mentions": message.mentions or [],
        "attachments": attachments_of(message),
    }


def dumps(data: Any) -> str:
    """Compact JSON, encoded once per broadcast rather than once per member."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def room_to_dict(
    room: Any, *, role: str | None, members: int, name: str | None = None
) -> dict[str, Any]:
    """The contract's room object as one user sees it: their `role`, and for a direct room
    the `name` shown (the other members' usernames)."""
    return {
        "id": room.pk,
        "name": room.name if name is None else name,
        "topic": room.topic,
        "kind": room.kind,
        "is_public": room.is_public,
        "role": role,
        "members": members,
    }


def attachment_to_dict(attachment: Attachment) -> dict[str, Any]:
    """The contract's attachment object; the URLs answer members of the room only."""
    thumbnail = f"/attachments/{attachment.id}/thumbnail/" if attachment.thumbnail_name else None
    return {
        "id": attachment.id,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": f"/attachments/{attachment.id}/",
        "thumbnail_url": thumbnail,
        "width": attachment.width,
        "height": attachment.height,
    }


def attachments_of(message: Message) -> list[dict[str, Any]]:
    """Set by the selector that read the page, or by the service that stored the message;
    a tombstone shows none (its files are deleted with it)."""
    if message.deleted:
        return []
    return [attachment_to_dict(a) for a in getattr(message, "attachment_list", ())]
