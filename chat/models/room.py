from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

NAME_MAX_LENGTH = 60
TOPIC_MAX_LENGTH = 250


class Room(models.Model):
    KIND_ROOM = "room"
    KIND_DIRECT = "direct"
    KINDS = [(KIND_ROOM, "room"), (KIND_DIRECT, "direct")]

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH, blank=True, default="")
    kind = models.CharField(max_length=10, choices=KINDS, default=KIND_ROOM)
    # The sorted member ids of a direct room: the same set of people always finds the same
    # room, and the unique index makes two concurrent creations end in one row.
    direct_key = models.CharField(
        max_length=200, null=True, blank=True, unique=True, editable=False
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="rooms_joined",
        blank=True,
        through="chat.Membership",
    )
    # Members of a private room are added only by its owners and moderators, or the admin.
    is_public = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    # The room's latest change: every new, edited or deleted message and every change of a
    # message's reactions takes the next one, under this row's lock (chat/services/versions.py).
    version = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            # `unique=True` alone lets "General" and "general" both exist.
            models.UniqueConstraint(Lower("name"), name="chat_room_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_direct(self) -> bool:
        return self.kind == self.KIND_DIRECT
