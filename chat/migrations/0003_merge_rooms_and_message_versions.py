"""Joins the two migrations made in parallel (room roles, topics and direct rooms; message
versions, edits and reactions): they touch different columns, so nothing needs reordering."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_message_versions_edits_reactions"),
        ("chat", "0002_room_roles_topics_direct"),
    ]

    operations = []
