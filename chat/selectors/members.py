"""Who belongs to a room and with which role, finding users to add, and the members a
write needs (mentions)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models.functions import Lower

from chat.models import Membership

USER_SEARCH_LIMIT = 10
# A body of 2000 characters could name hundreds of `@names`; past this many distinct ones the
# rest are not looked up (and the contract resolves at most CHAT_MENTIONS_MAX anyway).
MAX_CANDIDATES = 200


async def membership_role(room_id: int, user_id: int) -> str | None:
    """The user's role in the room (`owner`, `moderator`, `member`), or None for a
    non-member. Permission checks elsewhere (who may delete a message) ask this."""
    rows = Membership.objects.filter(room_id=room_id, user_id=user_id).values_list(
        "role", flat=True
    )
    return await rows.afirst()


def moderates_room(room_id: int, user_id: int) -> bool:
    """Whether the user is an owner or moderator of the room (sync: the message writes that
    ask it run in a thread, inside their transaction)."""
    roles = (Membership.OWNER, Membership.MODERATOR)
    return Membership.objects.filter(room_id=room_id, user_id=user_id, role__in=roles).exists()


async def room_members(*, room_id: int) -> list[dict[str, str]]:
    """`[{"username", "role"}]` sorted by username."""
    rows = (
        Membership.objects.filter(room_id=room_id)
        .order_by("user__username")
        .values_list("user__username", "role")
    )
    return [{"username": username, "role": role} async for username, role in rows]


async def room_roles(*, room_id: int) -> dict[int, str]:
    """The room's owners and moderators by user id; everyone else is a plain member."""
    rows = (
        Membership.objects.filter(room_id=room_id)
        .exclude(role=Membership.MEMBER)
        .values_list("user_id", "role")
    )
    return {user_id: role async for user_id, role in rows}


async def active_user_by_username(
    username: object, *, active_only: bool = True
) -> AbstractBaseUser | None:
    """The user of that exact username (an active one unless told otherwise), or None."""
    if not isinstance(username, str) or not username or len(username) > 150:
        return None
    users = get_user_model()
    lookup: dict[str, object] = {users.USERNAME_FIELD: username}
    if active_only:
        lookup["is_active"] = True
    return await users.objects.filter(**lookup).afirst()


async def usernames_by_prefix(*, prefix: str) -> list[str]:
    """At most USER_SEARCH_LIMIT active usernames starting with `prefix` (ignoring case)."""
    users = get_user_model()
    field = users.USERNAME_FIELD
    rows = (
        users.objects.filter(is_active=True, **{f"{field}__istartswith": prefix})
        .order_by(field)
        .values_list(field, flat=True)[:USER_SEARCH_LIMIT]
    )
    return [name async for name in rows]


def member_usernames(room_id: int, lowercase_names: list[str]) -> list[str]:
    """The usernames of the room's members among `lowercase_names` (compared ignoring case)."""
    users = get_user_model()
    field = users.USERNAME_FIELD
    return list(
        users.objects.filter(rooms_joined=room_id)
        .annotate(name_lower=Lower(field))
        .filter(name_lower__in=lowercase_names[:MAX_CANDIDATES])
        .values_list(field, flat=True)
    )


async def room_member_names(*, room_id: int) -> list[str]:
    """Every member's username, sorted (the composer's @ autocomplete)."""
    users = get_user_model()
    field = users.USERNAME_FIELD
    names = users.objects.filter(rooms_joined=room_id).order_by(field).values_list(field, flat=True)
    return [name async for name in names]
