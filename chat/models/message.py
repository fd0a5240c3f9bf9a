from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from chat.models.room import Room

# The text search configuration of the index and of every query on it. 'simple' lowercases
# and splits words without stemming or stop words: messages come in any language (the pages
# are in English and Spanish, user text never translated), and names, code identifiers and
# URL fragments are found as typed. A query must use the same configuration as the index.
SEARCH_CONFIG = "simple"


class BodySearchVector(models.GeneratedField):
    """The body's tsvector, computed and stored by PostgreSQL itself on every insert and
    update, whoever writes (the services' raw SQL, the ORM, the admin, bulk imports), and
    indexed by GIN (chat_message_search_gin, migration 0005). Never written by Django.
    Elsewhere (SQLite in development) the column stays NULL: search there matches words
    in the body (chat/selectors/search.py)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(
            expression=SearchVector("body", config=SEARCH_CONFIG),
            output_field=SearchVectorField(),
            db_persist=True,
        )
        super().__init__(**kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("expression", "output_field", "db_persist"):
            kwargs.pop(fixed, None)
        return name, path, args, kwargs

    def generated_sql(self, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if connection.vendor == "postgresql":
            return super().generated_sql(connection)
        return "NULL", ()


class MessageManager(models.Manager):
    """Reads leave the search vector out: only the database's search uses it, and it is
    about as long as the body."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().defer("search_vector")


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    # PROTECT: deleting an author would drop their messages from every room with no version
    # bump and no broadcast; such a user is deactivated instead (chat/admin.py).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    body = models.TextField(max_length=2000, blank=True)
    # `body` rendered and sanitized at write time (chat/rendering.py): readers never render.
    html = models.TextField(blank=True, default="")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Chosen by the client so that a resend after a lost reply stores nothing twice.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    edited = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    # The room's version this message took at its latest change (chat/services/versions.py):
    # `?since=` catch-up reads by it.
    version = models.BigIntegerField(default=0)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # Denormalized from Reaction rows in the same transaction that changes them, so that a
    # history page shows reactions without a query of its own:
    # [{"emoji": str, "count": int, "users": [usernames, sorted]}], in order of first use.
    reactions = models.JSONField(default=list, blank=True)
    # Usernames of the room members the body mentions, resolved at write (and edit) time.
    mentions = models.JSONField(default=list, blank=True)
    search_vector = BodySearchVector()

    objects = MessageManager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["room", "id"], name="chat_message_room_id_idx"),
            models.Index(fields=["room", "version"], name="chat_message_room_version_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_unique_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.author_id}@{self.room_id}: {self.body[:40]}"


class MessageEdit(models.Model):
    """A body a message had before an edit (or its deletion): the history staff can read."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    body = models.TextField(blank=True)
    version = models.BigIntegerField(help_text="The message's version while it had this body.")
    replaced = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "version"]

    def __str__(self) -> str:
        return f"edit of {self.message_id} at version {self.version}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reaction_rows")
    # PROTECT, like Message.author: a cascade would leave the message's denormalized
    # `reactions` naming a user whose row is gone.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reactions"
    )
    emoji = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"
