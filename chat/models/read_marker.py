from django.conf import settings
from django.db import models

from chat.models.room import Room


class ReadMarker(models.Model):
    """How far a user has read a room; unread counts are the messages after it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_markers"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_markers")
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="chat_readmarker_unique")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} read room {self.room_id} up to {self.last_read_id}"
