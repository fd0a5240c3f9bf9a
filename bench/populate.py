"""Benchmark data, written straight into the service's database: users that are already
logged in (a session row each, exactly what the login form would store) and the rooms of
every scenario. Run inside the service's environment: `python -m bench.populate <plan.json>`;
prints {"rooms": {name: id}, "sessions": [session key per user]} as JSON."""

import json
import os
import sys
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")

import django

django.setup()

from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from chat.models import Message, Room  # noqa: E402
from mychannels.models import LoginSession  # noqa: E402
from mychannels.runtime.sessions import SessionStore  # noqa: E402


def populate(
    user_count: int,
    rooms: dict[str, list[int]],
    histories: dict[str, int] | None = None,
    staff: bool = False,
) -> dict:
    """`rooms` maps a room name to the indices of its members among the users, `histories` a
    room name to how many messages it already holds. With `staff`, one more user, staff and
    in no room, for the dashboard (`python -m bench --dashboard`)."""
    User = get_user_model()
    password = make_password("bench-password")  # hashed once: hashing 10,000 times takes minutes
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"u{i:05d}", password=password) for i in range(user_count)]
            + ([User(username="bench-staff", password=password, is_staff=True)] if staff else []),
            batch_size=2000,
        )
        store = SessionStore()
        expires = timezone.now() + timedelta(days=1)
        backend = "django.contrib.auth.backends.ModelBackend"
        sessions = [
            LoginSession(
                session_key=store._get_new_session_key(),
                user_id=user.pk,
                session_data=store.encode(
                    {
                        SESSION_KEY: str(user.pk),
                        BACKEND_SESSION_KEY: backend,
                        HASH_SESSION_KEY: user.get_session_auth_hash(),
                    }
                ),
                expire_date=expires,
            )
            for user in users
        ]
        LoginSession.objects.bulk_create(sessions, batch_size=2000)
        room_ids = {}
        Membership = Room.users.through
        for name, members in rooms.items():
            room = Room.objects.create(name=name, is_public=True)
            room_ids[name] = room.pk
            Membership.objects.bulk_create(
                [Membership(room_id=room.pk, user_id=users[i].pk) for i in members],
                batch_size=5000,
            )
            count = (histories or {}).get(name, 0)
            if count:
                write_history(room, [users[i] for i in members], count)
    keys = [s.session_key for s in sessions]
    staff_session = keys[user_count] if staff else None
    return {"rooms": room_ids, "sessions": keys[:user_count], "staff_session": staff_session}


def write_history(room: Room, members: list, count: int) -> None:
    """`count` messages by the members in turn, versions 1..count as the service gives them,
    every fifth one a reply to the one before and every seventh with a reaction: what a page
    of a room people have used carries."""
    start = timezone.now() - timedelta(hours=1)
    rows = []
    for k in range(count):
        body = f"Message {k + 1} of the history, about the release and who reviews what next."
        author = members[k % len(members)]
        reactions = []
        if k % 7 == 6:
            reactor = members[(k + 1) % len(members)]
            reactions = [{"emoji": "👍", "count": 1, "users": [reactor.username]}]
        rows.append(
            Message(
                room=room,
                author=author,
                body=body,
                html=f"<p>{body}</p>",
                created=start + timedelta(seconds=k),
                version=k + 1,
                reactions=reactions,
            )
        )
    stored = Message.objects.bulk_create(rows)
    for k, message in enumerate(stored):
        if k % 5 == 4:
            message.reply_to_id = stored[k - 1].pk
    Message.objects.bulk_update([m for m in stored if m.reply_to_id], ["reply_to"])
    Room.objects.filter(pk=room.pk).update(version=count)


if __name__ == "__main__":
    with open(sys.argv[1]) as plan_file:
        plan = json.load(plan_file)
    found = populate(plan["users"], plan["rooms"], plan.get("histories"), plan.get("staff", False))
    print(json.dumps(found))
