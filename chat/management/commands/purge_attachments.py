"""Remove uploads never sent with a message, older than CHAT_ATTACHMENT_ORPHAN_HOURS."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from chat.services.attachments import attachments_purge_orphans


class Command(BaseCommand):
    help = "Delete uploads (files and rows) that no message claimed within the orphan window."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--hours",
            type=int,
            default=None,
            help="Age in hours past which an unsent upload goes "
            "(default: CHAT_ATTACHMENT_ORPHAN_HOURS).",
        )

    def handle(self, *args, **options) -> None:
        hours = options["hours"]
        if hours is None:
            hours = settings.CHAT_ATTACHMENT_ORPHAN_HOURS
        removed = attachments_purge_orphans(older_than=timedelta(hours=hours))
        self.stdout.write(f"Removed {removed} unsent upload(s) older than {hours} h.")
