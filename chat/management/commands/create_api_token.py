"""Make an API token for a user; the token alone is printed on the last line (for scripts)."""

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.services.errors import ServiceError
from chat.tokens import token_create


class Command(BaseCommand):
    help = "Create a new API token for a user and print it (it is stored only as a hash)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell the token apart.")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {options['username']!r} is inactive; tokens would not work.")
        try:
            row, token = async_to_sync(token_create)(user=user, name=options["name"][:60])
        except ServiceError as error:
            raise CommandError(f"No token made: {error.detail}.") from None
        self.stderr.write(f"API token {row.prefix}… for {user.get_username()}; shown only once:")
        self.stdout.write(token)
