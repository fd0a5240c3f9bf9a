"""What a room's sockets and its members' sidebars hear when the room itself changes."""

from chat.groups import room_activity_group, room_group
from chat.models import Membership, Room
from chat.selectors.members import room_roles
from chat.serializers import room_to_dict
from chat.services.broadcast import group_send


async def room_updated_broadcast(*, room: Room) -> None:
    """`room_updated` to the room's sockets and its members' room lists. The frame is built
    once; each socket fills in its own user's role from `roles` (owners and moderators by
    user id, everyone else a member)."""
    members = await Membership.objects.filter(room_id=room.pk).acount()
    roles = {str(user_id): role for user_id, role in (await room_roles(room_id=room.pk)).items()}
    event = {"room": room_to_dict(room, role=None, members=members), "roles": roles}
    await group_send(room_group(room.pk), {"type": "chat.room_updated", **event})
    await group_send(room_activity_group(room.pk), {"type": "rooms.updated", **event})
