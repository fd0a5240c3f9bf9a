from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.models import Room


class Alert(models.Model):
    """A short notice posted to a room (docs/protocol.md): shown apart from chat, by level."""

    class Level(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        CRITICAL = "critical"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="alerts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    content = models.CharField(max_length=200)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    create_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["room", "id"], name="alert_alert_room_id_idx")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.room_id}: {self.content[:40]}"


class FeedKey(models.Model):
    """The secret behind a user's Atom feed URL. The URL is an HMAC of the user and this nonce
    (keyed by SECRET_KEY), so the database never holds the URL itself; rotating the nonce
    revokes every copy of the old URL at once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_feed_key"
    )
    nonce = models.CharField(max_length=64, editable=False)
    rotated = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"feed key of user {self.user_id} (rotated {self.rotated:%Y-%m-%d %H:%M})"
