"""Demo users and rooms, idempotent: run it as often as you like."""

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.models import Room
from chat.services.messages import message_create

DEMO_PASSWORD = "chat-demo-2026"
DEMO_USERS = ["alice", "bob", "carol", "dave"]
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-demo-2026"
# name -> (is_public, members)
DEMO_ROOMS = {
    "general": (True, ["alice", "bob", "carol", "dave"]),
    "random": (True, ["alice", "bob"]),
    "ops": (False, ["alice", "carol"]),
}
# A little conversation for `make run`: (room, author, body). Posted through the message
# service like anything typed in a browser; each has a client_id, so a rerun stores nothing.
DEMO_CONVERSATION = [
    ("general", "alice", "Welcome to **MyChannels**! Open this room in a second browser."),
    ("general", "bob", "Hi @alice, it works: messages arrive live, and _Markdown_ too."),
    ("general", "carol", "Try a reply, a reaction, or editing your last message (Up arrow)."),
    ("random", "bob", "Files and images can be dropped onto the room or pasted."),
]


class Command(BaseCommand):
    help = "Create demo users and rooms (idempotent) and print how to log in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where to log in.")
        parser.add_argument(
            "--conversation",
            action="store_true",
            help="Also post a few demo messages (once; reruns add nothing).",
        )

    def handle(self, *args, **options) -> None:
        users = self._users_and_rooms()
        if options["conversation"]:
            self._converse(users)
        url = options["url"]
        self.stdout.write(f"Open {url} and log in as one of {', '.join(DEMO_USERS)}")
        self.stdout.write(f"  password for every demo user: {DEMO_PASSWORD}")
        self.stdout.write(
            f"  operator (Django admin at {url}admin/): {ADMIN_USER} / {ADMIN_PASSWORD}"
        )

    @transaction.atomic
    def _users_and_rooms(self) -> dict:
        users = {name: self._user(name, DEMO_PASSWORD) for name in DEMO_USERS}
        self._user(ADMIN_USER, ADMIN_PASSWORD, staff=True)
        for name, (is_public, members) in DEMO_ROOMS.items():
            room, _ = Room.objects.get_or_create(name=name, defaults={"is_public": is_public})
            room.users.add(*(users[m] for m in members))
        return users

    def _converse(self, users: dict) -> None:
        for number, (room_name, author, body) in enumerate(DEMO_CONVERSATION):
            async_to_sync(message_create)(
                room=Room.objects.get(name=room_name),
                author=users[author],
                body=body,
                client_id=f"demo-{number}",
            )

    def _user(self, username: str, password: str, staff: bool = False):
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.is_staff = user.is_superuser = staff
            user.save()
        return user
