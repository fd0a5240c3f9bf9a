from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chat.models.room import Room


class NotificationSetting(models.Model):
    """Which messages a user's pages turn into browser notifications; a user without a row
    has the default, mentions and direct rooms."""

    ALL = "all"
    MENTIONS = "mentions"
    NONE = "none"
    LEVELS = [(ALL, _("all messages")), (MENTIONS, _("mentions and direct")), (NONE, _("none"))]

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_setting"
    )
    level = models.CharField(max_length=10, choices=LEVELS, default=MENTIONS)

    def __str__(self) -> str:
        return f"user {self.user_id}: {self.level}"


class RoomMute(models.Model):
    """A room whose messages never notify this user (its counts still show)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_mutes"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="mutes")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="chat_roommute_unique")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} muted room {self.room_id}"
