from django.conf import settings
from django.db import models

from chat.models.room import Room


class Membership(models.Model):
    """A user in a room, with their role. It is the very table Django made for `Room.users`
    before roles existed, so `room.users.add(user)` (the admin's member list, joining a
    public room) still works and makes a plain `member`, and raw SQL on the join table
    (`Room.users.through._meta.db_table`) is unchanged."""

    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"
    ROLES = [(OWNER, "owner"), (MODERATOR, "moderator"), (MEMBER, "member")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE)
    # PROTECT: a cascade would empty rooms of members without a broadcast and could take a
    # room's last owner; a user who has joined rooms is deactivated instead (chat/admin.py).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    role = models.CharField(max_length=10, choices=ROLES, default=MEMBER)

    class Meta:
        db_table = "chat_room_users"
        unique_together = [("room", "user")]

    def __str__(self) -> str:
        return f"user {self.user_id} in room {self.room_id} ({self.role})"
