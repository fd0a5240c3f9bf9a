"""Joining and leaving rooms, members added, removed and given roles by owners and
moderators, and what a user's open sockets hear of it."""

from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from alert.groups import alert_user_group
from chat.groups import user_group, user_rooms_group
from chat.models import Membership, Room
from chat.selectors.members import active_user_by_username, membership_role
from chat.services.broadcast import group_send
from chat.services.errors import ServiceError
from chat.services.room_events import room_updated_broadcast

ROLES = {Membership.OWNER, Membership.MODERATOR, Membership.MEMBER}
DIRECT_IS_FIXED = ServiceError(
    "forbidden", "a direct room keeps exactly the members it was made with"
)
LAST_OWNER = ServiceError(
    "forbidden", "the room's last owner cannot leave or step down while others remain"
)


async def room_join(*, room: Room, user: AbstractBaseUser) -> None:
    if not room.is_public or room.is_direct:
        raise ServiceError("forbidden", "private rooms are joined through an owner or operator")
    await room.users.aadd(user)
    await user_sockets_join_room(user_id=user.pk, room_id=room.pk)


async def user_sockets_join_room(*, user_id: int, room_id: int) -> None:
    """Tell this user's open all-rooms alert feeds (/ws/alerts/) to follow a room just joined,
    and their open room lists (/ws/rooms/) to show and count it."""
    await group_send(alert_user_group(user_id), {"type": "user.joined", "room_id": room_id})
    await group_send(user_rooms_group(user_id), {"type": "rooms.joined", "room_id": room_id})


def _locked_roles(room: Room) -> dict[int, str]:
    """Every member's role, with the room row locked until the transaction ends: two owners
    stepping down at once must not both see the other one still there."""
    Room.objects.select_for_update().filter(pk=room.pk).first()
    return dict(Membership.objects.filter(room=room).values_list("user_id", "role"))


def _keeps_an_owner(roles: dict[int, str], user_id: int) -> bool:
    """Whether the room still has an owner (or nobody left to own it) without this user's
    ownership."""
    others = {uid: role for uid, role in roles.items() if uid != user_id}
    return not others or Membership.OWNER in others.values()


@sync_to_async
def _delete_membership(room: Room, user_id: int, *, guard_owner: bool) -> bool:
    with transaction.atomic():
        roles = _locked_roles(room)
        if user_id not in roles:
            return False
        if (
            guard_owner
            and roles[user_id] == Membership.OWNER
            and not _keeps_an_owner(roles, user_id)
        ):
            raise LAST_OWNER
        Membership.objects.filter(room=room, user_id=user_id).delete()
        return True


async def room_leave(*, room: Room, user: AbstractBaseUser) -> None:
    """The user leaves; the last owner may not while other members remain."""
    if room.is_direct:
        raise DIRECT_IS_FIXED
    if await _delete_membership(room, user.pk, guard_owner=True):
        await _after_removal(room=room, user_id=user.pk)


async def _after_removal(*, room: Room, user_id: int) -> None:
    await user_sockets_leave_room(user_id=user_id, room_id=room.pk)
    await room_updated_broadcast(room=room)


async def user_sockets_leave_room(*, user_id: int, room_id: int) -> None:
    """Close this user's open sockets in a room they no longer belong to (their room lists
    stop counting it too: they are in the same per-user group)."""
    await group_send(user_group(user_id), {"type": "user.removed", "room_id": room_id})


async def user_sockets_close(*, user_id: int) -> None:
    """Close every open socket of a user (after logging out or a password change): room
    sockets and room lists alike."""
    await group_send(user_group(user_id), {"type": "user.logout"})


@dataclass(frozen=True)
class MemberResult:
    username: str
    role: str
    created: bool


def _clean_role(role: Any) -> str | None:
    if role is None:
        return None
    if role not in ROLES:
        raise ServiceError("invalid", "role must be owner, moderator or member")
    return role


async def _manager_role(room: Room, actor: AbstractBaseUser) -> str:
    """The actor's role if they may manage members here, else a refusal."""
    if room.is_direct:
        raise DIRECT_IS_FIXED
    role = await membership_role(room.pk, actor.pk)
    if role not in (Membership.OWNER, Membership.MODERATOR):
        raise ServiceError("forbidden", "only owners and moderators manage members")
    return role


async def _target_user(username: Any) -> AbstractBaseUser:
    user = await active_user_by_username(username)
    if user is None:
        raise ServiceError("invalid", "no active user with that username")
    return user


async def member_add(
    *, room: Room, actor: AbstractBaseUser, username: Any, role: Any = None
) -> MemberResult:
    """Add a user (owners may give any role, moderators add members only); for someone
    already a member, an owner's `role` sets their role. Their open pages hear of the room."""
    actor_role = await _manager_role(room, actor)
    role = _clean_role(role)
    if actor_role == Membership.MODERATOR and role not in (None, Membership.MEMBER):
        raise ServiceError("forbidden", "moderators add members only; owners set roles")
    user = await _target_user(username)
    current = await membership_role(room.pk, user.pk)
    if current is not None:
        if role is not None and role != current and actor_role == Membership.OWNER:
            current = await _set_role(room=room, actor=actor, user=user, role=role)
        return MemberResult(user.get_username(), current, created=False)
    role = role or Membership.MEMBER
    _, created = await Membership.objects.aget_or_create(
        room=room, user=user, defaults={"role": role}
    )
    if created:
        await user_sockets_join_room(user_id=user.pk, room_id=room.pk)
        await room_updated_broadcast(room=room)
    return MemberResult(user.get_username(), role, created=created)


@sync_to_async
def _store_role(room: Room, user_id: int, role: str) -> None:
    with transaction.atomic():
        roles = _locked_roles(room)
        if user_id not in roles:
            raise ServiceError("not_found", "that user is not a member of this room")
        stepping_down = roles[user_id] == Membership.OWNER and role != Membership.OWNER
        if stepping_down and not _keeps_an_owner(roles, user_id):
            raise LAST_OWNER
        Membership.objects.filter(room=room, user_id=user_id).update(role=role)


async def _set_role(
    *, room: Room, actor: AbstractBaseUser, user: AbstractBaseUser, role: str
) -> str:
    target_role = await membership_role(room.pk, user.pk)
    if target_role == Membership.OWNER and user.pk != actor.pk:
        raise ServiceError("forbidden", "owners cannot change another owner's role")
    await _store_role(room, user.pk, role)
    await room_updated_broadcast(room=room)
    return role


async def member_set_role(*, room: Room, actor: AbstractBaseUser, username: Any, role: Any) -> str:
    """Owners set a member's role; the last owner cannot step down while others remain."""
    if await _manager_role(room, actor) != Membership.OWNER:
        raise ServiceError("forbidden", "only owners set roles")
    role = _clean_role(role)
    if role is None:
        raise ServiceError("invalid", "role must be owner, moderator or member")
    user = await _target_user(username)
    return await _set_role(room=room, actor=actor, user=user, role=role)


async def member_remove(*, room: Room, actor: AbstractBaseUser, username: Any) -> None:
    """Remove a member (owners: anyone but other owners; moderators: plain members), or
    leave when it is the actor themselves. Their sockets of the room close at once."""
    # A deactivated member can still be removed.
    user = await active_user_by_username(username, active_only=False)
    if user is not None and user.pk == actor.pk:
        await room_leave(room=room, user=actor)
        return
    actor_role = await _manager_role(room, actor)
    if user is None:
        raise ServiceError("not_found", "that user is not a member of this room")
    target_role = await membership_role(room.pk, user.pk)
    if target_role is None:
        raise ServiceError("not_found", "that user is not a member of this room")
    if target_role == Membership.OWNER:
        raise ServiceError("forbidden", "an owner cannot be removed by others")
    if actor_role == Membership.MODERATOR and target_role != Membership.MEMBER:
        raise ServiceError("forbidden", "moderators remove plain members only")
    if await _delete_membership(room, user.pk, guard_owner=False):
        await _after_removal(room=room, user_id=user.pk)
