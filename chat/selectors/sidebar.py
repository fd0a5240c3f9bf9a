"""What the sidebar shows of each of a user's rooms: unread and mention counts, and how many
people are in the room now."""

from chat.selectors.read_state import unread_states
from chat.selectors.rooms import room_objects
from chat.services.presence import tracker


async def mention_counts(*, user_id: int, room_ids: list[int]) -> dict[int, int]:
    """Unread messages that mention the user, per room.

    Mentions are being built separately: until a mentions relation exists every count is 0.
    This is the one function that work fills in; the API, the room list socket and the
    sidebar all read mention counts through it."""
    return dict.fromkeys(room_ids, 0)


async def active_count(*, room_id: int) -> int:
    """Users present in the room now, across every server process (the presence tracker)."""
    return len((await tracker().snapshot(room_id)).usernames)


async def sidebar_rooms(*, user_id: int) -> list[dict]:
    """The user's room objects, each with "unread", "mentions" and "active"."""
    rooms = await room_objects(user_id=user_id)
    unread = {state.room_id: state.unread for state in await unread_states(user_id=user_id)}
    mentions = await mention_counts(user_id=user_id, room_ids=[room["id"] for room in rooms])
    for room in rooms:
        room["unread"] = unread.get(room["id"], 0)
        room["mentions"] = mentions.get(room["id"], 0)
        room["active"] = await active_count(room_id=room["id"])
    return rooms
