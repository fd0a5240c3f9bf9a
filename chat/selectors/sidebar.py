"""What the sidebar shows of each of a user's rooms: unread and mention counts, and how many
people are in the room now."""

from django.contrib.auth import get_user_model

from chat.selectors.mentions import unread_mention_counts
from chat.selectors.read_state import unread_states
from chat.selectors.rooms import room_objects
from chat.services.presence import tracker


async def mention_counts(
    *, user_id: int, room_ids: list[int], username: str | None = None
) -> dict[int, int]:
    """Unread messages that mention the user, per room (chat/selectors/mentions.py); the
    API, the room list socket and the sidebar all read mention counts through it. Callers
    that hold the user pass `username` and save a read."""
    if not room_ids:
        return {}
    if username is None:
        username = await username_of(user_id=user_id)
    return await unread_mention_counts(user_id=user_id, username=username, room_ids=room_ids)


async def username_of(*, user_id: int) -> str:
    users = get_user_model()
    names = users.objects.filter(pk=user_id).values_list(users.USERNAME_FIELD, flat=True)
    return await names.afirst() or ""


async def active_counts(*, room_ids: list[int]) -> dict[int, int]:
    """Users present in each room now, across every server process (the presence tracker),
    read together: one round trip per Redis server, not one per room."""
    if not room_ids:
        return {}
    snapshots = await tracker().snapshots(room_ids)
    return {room_id: len(snapshot.usernames) for room_id, snapshot in snapshots.items()}


async def sidebar_rooms(*, user_id: int) -> list[dict]:
    """The user's room objects, each with "unread", "mentions" and "active"."""
    rooms = await room_objects(user_id=user_id)
    unread = {state.room_id: state.unread for state in await unread_states(user_id=user_id)}
    mentions = await mention_counts(user_id=user_id, room_ids=[room["id"] for room in rooms])
    active = await active_counts(room_ids=[room["id"] for room in rooms])
    for room in rooms:
        room["unread"] = unread.get(room["id"], 0)
        room["mentions"] = mentions.get(room["id"], 0)
        room["active"] = active[room["id"]]
    return rooms
