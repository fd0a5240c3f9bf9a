"""Channel-layer group names for alerts, built from integer ids only."""


def alert_room_group(room_id: int) -> str:
    """Every alert socket following one room (the per-room and the all-rooms feed)."""
    return f"alerts.room.{int(room_id)}"


def alert_user_group(user_id: int) -> str:
    """A user's all-rooms alert feeds, told when that user joins a room."""
    return f"alerts.user.{int(user_id)}"
