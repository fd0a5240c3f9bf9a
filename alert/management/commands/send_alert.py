"""Post an alert from a script or cron: stored and broadcast like one from the browser."""

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from alert.services import LEVELS, ServiceError, alert_create
from chat.models import Room


class Command(BaseCommand):
    help = "Store an alert in a room and broadcast it to the room's connected members."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--room", type=int, required=True, help="The room's id.")
        parser.add_argument("--user", required=True, help="The author's username (a member).")
        parser.add_argument("--level", default="info", help=f"One of {', '.join(LEVELS)}.")
        parser.add_argument("content", help="The alert's text, 1 to 200 characters.")

    def handle(self, *args, **options) -> None:
        room = Room.objects.filter(pk=options["room"]).first()
        if room is None:
            raise CommandError(f"No room with id {options['room']}.")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        try:
            # async_to_sync: a bare group_send from sync code would silently do nothing.
            alert = async_to_sync(alert_create)(
                room=room, user=user, content=options["content"], level=options["level"]
            )
        except ServiceError as error:
            raise CommandError(f"Alert refused ({error.code}): {error.detail}.") from error
        self.stdout.write(f"Alert {alert.pk} [{alert.level}] sent to room {room.name!r}.")
