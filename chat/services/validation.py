"""Checks on what every write takes from outside (bodies, client ids, ids, versions)."""

from typing import Any

from django.conf import settings

from chat.services.errors import ServiceError


def storable_text(value: str) -> bool:
    """Text PostgreSQL can store and UTF-8 can carry: no NUL, no lone surrogate (JSON's
    "\\u0000" and "\\ud800" escapes produce both)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_body(body: Any, *, allow_empty: bool = False) -> str:
    """`allow_empty`: a message that carries attachments needs no text."""
    if allow_empty and body is None:
        body = ""
    if not isinstance(body, str) or not storable_text(body):
        raise ServiceError("invalid", "body must be a string of text")
    body = body.strip()
    if not body and not allow_empty:
        raise ServiceError("invalid", "body must not be empty")
    if len(body) > settings.CHAT_MESSAGE_MAX_LENGTH:
        raise ServiceError(
            "too_long", f"body is longer than {settings.CHAT_MESSAGE_MAX_LENGTH} characters"
        )
    return body


def clean_client_id(client_id: Any) -> str | None:
    if client_id is None or client_id == "":
        return None
    if not isinstance(client_id, str) or len(client_id) > 64 or not storable_text(client_id):
        raise ServiceError("invalid", "client_id must be a string of at most 64 characters")
    return client_id


MAX_ID = 2**63 - 1


def clean_id(value: Any, name: str, *, required: bool) -> int | None:
    """A row id: an integer (not a bool, not a float) from 1; None when optional and absent."""
    if value is None and not required:
        return None
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise ServiceError("invalid", f"'{name}' must be an integer id")
    return value


def clean_version(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise ServiceError("invalid", "'version' must be a non-negative integer")
    return value
