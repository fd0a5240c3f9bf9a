"""The contract's alert shape, built once for the API, the sockets, the pages and the feed."""

from typing import Any

from alert.models import Alert
from chat.serializers import iso


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "room_id": alert.room_id,
        "username": alert.user.get_username(),
        "content": alert.content,
        "level": alert.level,
        "created": iso(alert.create_at),
    }
