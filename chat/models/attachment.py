from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.models.message import Message
from chat.models.room import Room


class Attachment(models.Model):
    """A file uploaded to a room, then sent with one message (or purged, never attached).

    The bytes live in the default storage under random names (`storage_name`); the user's
    file name is kept only as text to show (`name`), never used as a path.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attachments")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    # Null until a message claims it; `purge_attachments` removes those left unclaimed.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    # Decided from the bytes, never from the name or the browser's claim.
    content_type = models.CharField(max_length=100)
    is_image = models.BooleanField(default=False)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    storage_name = models.CharField(max_length=255)
    thumbnail_name = models.CharField(max_length=255, blank=True)
    thumbnail_content_type = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["message"], name="chat_attachment_message_idx"),
            models.Index(fields=["uploader", "created"], name="chat_attachment_uploader_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes, room {self.room_id})"
