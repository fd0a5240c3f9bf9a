"""Channel-layer group names, built from integer ids only (never from user text)."""


def room_group(room_id: int) -> str:
    return f"room.{int(room_id)}"


def user_group(user_id: int) -> str:
    """Every socket of one user, so that logging out can close them all."""
    return f"user.{int(user_id)}"
