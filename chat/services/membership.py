"""Joining and leaving rooms, and what a user's open sockets hear of it."""

from django.contrib.auth.models import AbstractBaseUser

from alert.groups import alert_user_group
from chat.groups import user_group, user_rooms_group
from chat.models import Room
from chat.services.broadcast import group_send
from chat.services.errors import ServiceError


async def room_join(*, room: Room, user: AbstractBaseUser) -> None:
    if not room.is_public:
        raise ServiceError("forbidden", "private rooms are joined through an operator")
    await room.users.aadd(user)
    await user_sockets_join_room(user_id=user.pk, room_id=room.pk)


async def user_sockets_join_room(*, user_id: int, room_id: int) -> None:
    """Tell this user's open all-rooms alert feeds (/ws/alerts/) to follow a room just joined,
    and their open room lists (/ws/rooms/) to count it."""
    await group_send(alert_user_group(user_id), {"type": "user.joined", "room_id": room_id})
    await group_send(user_rooms_group(user_id), {"type": "rooms.joined", "room_id": room_id})


async def room_leave(*, room: Room, user: AbstractBaseUser) -> None:
    await room.users.aremove(user)
    await user_sockets_leave_room(user_id=user.pk, room_id=room.pk)


async def user_sockets_leave_room(*, user_id: int, room_id: int) -> None:
    """Close this user's open sockets in a room they no longer belong to (their room lists
    stop counting it too: they are in the same per-user group)."""
    await group_send(user_group(user_id), {"type": "user.removed", "room_id": room_id})


async def user_sockets_close(*, user_id: int) -> None:
    """Close every open socket of a user (after logging out or a password change): room
    sockets and room lists alike."""
    await group_send(user_group(user_id), {"type": "user.logout"})
