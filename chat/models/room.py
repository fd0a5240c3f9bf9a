from django.conf import settings
from django.db import models
from django.utils import timezone


class Room(models.Model):
    name = models.CharField(max_length=60, unique=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="rooms_joined", blank=True
    )
    # Members of a private room are added only through the admin.
    is_public = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    # The room's latest change: every new, edited or deleted message and every change of a
    # message's reactions takes the next one, under this row's lock (chat/services/versions.py).
    version = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
