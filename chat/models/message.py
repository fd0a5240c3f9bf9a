from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from chat.models.room import Room


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages"
    )
    body = models.TextField(max_length=2000)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Chosen by the client so that a resend after a lost reply stores nothing twice.
    client_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["room", "id"], name="chat_message_room_id_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_unique_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.author_id}@{self.room_id}: {self.body[:40]}"
