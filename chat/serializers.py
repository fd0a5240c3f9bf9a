"""The contract's JSON shapes, built in one place for the API, the socket and the services."""

import json
from datetime import datetime
from typing import Any

from chat.models import Message


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def message_to_dict(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "room_id": message.room_id,
        "username": message.author.get_username(),
        "body": message.body,
        "created": iso(message.created),
        "client_id": message.client_id,
    }


def dumps(data: Any) -> str:
    """Compact JSON, encoded once per broadcast rather than once per member."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
