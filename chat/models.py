from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Room(models.Model):
    name = models.CharField(max_length=60, unique=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="rooms_joined", blank=True
    )
    # Members of a private room are added only through the admin.
    is_public = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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


class ApiToken(models.Model):
    """A per-user API token. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=60, blank=True)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell it apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'token'})"
