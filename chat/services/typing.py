"""Who is typing: a frame to the room's other members, never stored."""

from django.contrib.auth.models import AbstractBaseUser

from chat.groups import room_group
from chat.serializers import dumps
from chat.services.broadcast import group_send


async def typing_notify(*, room_id: int, user: AbstractBaseUser) -> None:
    frame = {"type": "typing", "username": user.get_username()}
    await group_send(
        room_group(room_id), {"type": "chat.typing", "user_id": user.pk, "text": dumps(frame)}
    )
