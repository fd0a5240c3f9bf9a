"""Channel-layer group names, built from integer ids only (never from user text)."""


def room_group(room_id: int) -> str:
    """Every socket open on a room: messages, presence, typing."""
    return f"room.{int(room_id)}"


def user_group(user_id: int) -> str:
    """Every socket of one user, so that logging out can close them all."""
    return f"user.{int(user_id)}"


def room_activity_group(room_id: int) -> str:
    """Room-list sockets of the room's members: a bodiless note per new message, for counts."""
    return f"activity.room.{int(room_id)}"


def user_rooms_group(user_id: int) -> str:
    """Room-list sockets of one user: their read markers moving, rooms joined or left."""
    return f"activity.user.{int(user_id)}"
