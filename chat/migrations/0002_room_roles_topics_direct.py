"""Roles on memberships, room topics and direct rooms.

`Room.users` gets a `through` model, `Membership`, on the join table Django already made for
it: the state learns of the model, the database keeps its table and gains a `role` column,
so every existing membership becomes a `member`.
"""

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "room",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, to="chat.room"
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "chat_room_users", "unique_together": {("room", "user")}},
                ),
                migrations.AlterField(
                    model_name="room",
                    name="users",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="rooms_joined",
                        through="chat.Membership",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[("owner", "owner"), ("moderator", "moderator"), ("member", "member")],
                default="member",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="room",
            name="topic",
            field=models.CharField(blank=True, default="", max_length=250),
        ),
        migrations.AddField(
            model_name="room",
            name="kind",
            field=models.CharField(
                choices=[("room", "room"), ("direct", "direct")], default="room", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="room",
            name="direct_key",
            field=models.CharField(
                blank=True, editable=False, max_length=200, null=True, unique=True
            ),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"), name="chat_room_name_ci_unique"
            ),
        ),
    ]
