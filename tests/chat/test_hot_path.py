"""The socket's hot paths off Django's one shared ORM thread (docs/performance.md): opening
reads in one hop each, session + user in one hop, messages stored on any pool thread, while a
sync caller's transaction (the admin, management commands) still holds what it writes."""

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from chat import serializers
from chat.models import Message, Room
from chat.selectors.messages import opening_history
from chat.selectors.opening import OPENING_READS
from chat.selectors.room_opening import room_opening
from chat.selectors.rooms import room_access
from chat.services.errors import ServiceError
from chat.services.messages import _store_message
from mychannels.runtime import asyncdb, auth
from mychannels.runtime.auth import SessionAuthMiddlewareStack
from mychannels.runtime.offthread import pooled, reads_pool
from tests.conftest import (
    communicator,
    counted_statements,
    field_values,
    make_room,
    make_user,
    recorded_calls,
    session_cookie,
)


@dataclass(frozen=True)
class LatestPage:
    version: int


pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()


async def test_room_access_tells_missing_room_member_and_stranger_apart():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    member = await room_access(room.pk, alice.pk)
    assert member.room == room and member.is_member
    stranger = await room_access(room.pk, bob.pk)
    assert stranger.room == room and not stranger.is_member
    missing = await room_access(room.pk + 1000, alice.pk)
    assert missing.room is None and not missing.is_member


async def test_opening_history_reads_latest_or_catch_up_page_with_authors():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    ids = []
    for n in range(5):
        message = await Message.objects.acreate(room=room, author=alice, body=f"m{n}")
        ids.append(message.id)
    latest = await opening_history(room.pk, None, 3)
    assert [m.id for m in latest.messages] == ids[2:] and latest.has_more
    assert latest.messages[0].author.username == "alice"  # loaded in the same hop
    after = await opening_history(room.pk, ids[0], 2)
    assert [m.id for m in after.messages] == ids[1:3] and after.has_more
    tail = await opening_history(room.pk, ids[3], 10)
    assert [m.id for m in tail.messages] == ids[4:] and not tail.has_more


async def resolve_user(cookie: str | None):
    """Run a socket scope through the session + user middleware and return scope["user"]."""
    seen = {}

    async def inner(scope, receive, send):
        seen["user"] = scope["user"]
        seen["authenticated"] = await database_sync_to_async(
            lambda: scope["user"].is_authenticated
        )()

    app = SessionAuthMiddlewareStack(inner)
    headers = [(b"cookie", cookie.encode())] if cookie else []
    await app({"type": "websocket", "path": "/", "headers": headers}, None, None)
    return seen


async def test_socket_auth_resolves_the_logged_in_user():
    alice = await make_user("alice")
    seen = await resolve_user(await session_cookie(alice))
    assert seen["authenticated"] and seen["user"].pk == alice.pk


async def test_socket_auth_refuses_unknown_tampered_and_stale_sessions():
    alice = await make_user("alice")
    assert not (await resolve_user(None))["authenticated"]
    assert not (await resolve_user(f"{settings.SESSION_COOKIE_NAME}=nosuchsession"))[
        "authenticated"
    ]
    cookie = await session_cookie(alice)
    alice.set_password("a-new-password-2")  # the session's auth hash no longer matches
    await alice.asave()
    assert not (await resolve_user(cookie))["authenticated"]


async def test_socket_refusals_keep_their_close_codes():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    for path, cookie, code in [
        (f"/ws/chat/room/{room.pk}/", None, 4401),
        (f"/ws/chat/room/{room.pk}/", await session_cookie(bob), 4403),
        (f"/ws/chat/room/{room.pk + 1000}/", await session_cookie(alice), 4404),
    ]:
        comm = communicator(path, cookie)
        connected, _ = await comm.connect(timeout=5)
        assert connected  # accepted first, then closed with a code the browser can read
        assert (await comm.receive_output(timeout=5))["code"] == code
        await comm.disconnect()


def test_pooled_calls_hand_their_connections_back():
    """Each asyncio.run has a pool of new threads: a connection left checked out per thread
    would run the pool (DATABASE_POOL_MAX) dry well before 3x its size."""
    alice = get_user_model().objects.create_user("alice", password="pw-for-tests-1")
    for _ in range(3 * settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]):
        assert asyncio.run(room_access(1_000_000, alice.pk)).room is None


def test_storing_a_message_is_one_statement_on_postgresql():
    """Lock, membership check, insert and who hears of it in one round trip
    (docs/performance.md); a resend and a stranger still get what they got before."""
    User = get_user_model()
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    room = Room.objects.create(name="general")
    room.users.add(alice)
    with CaptureQueriesContext(connection) as queries:
        message, created, deferred, recipients = _store_message(room, alice, "hello", "c-1")
    assert connection.vendor == "postgresql"
    assert len(queries) == 1 and "SET version = r.version + 1" in queries[0]["sql"]
    assert created and not deferred and message.pk
    assert recipients == []  # nobody else here, nobody mentioned
    stored = Message.objects.get(pk=message.pk)
    assert (stored.room_id, stored.author_id, stored.body, stored.client_id) == (
        room.pk,
        alice.pk,
        "hello",
        "c-1",
    )
    assert stored.created == message.created
    again, created, _, unknown = _store_message(room, alice, "hello", "c-1")
    assert again.pk == message.pk and not created and unknown is None
    with pytest.raises(ServiceError) as refused:
        _store_message(room, bob, "let me in", None)
    assert refused.value.code == "forbidden"
    assert Message.objects.count() == 1


async def test_opening_reads_are_one_query_each_and_authors_need_none(monkeypatch):
    """A socket's opening reads (docs/performance.md): room + membership in one query, the
    history page with its authors' names and replies in one, the page's attachments in one
    more (an empty page asks for none), and nothing more when it is serialized."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    ids = [
        (await Message.objects.acreate(room=room, author=author, body=f"m{n}")).id
        for n, author in enumerate([alice, bob, alice, alice])
    ]
    with counted_statements(monkeypatch) as sent:
        member = await room_access(room.pk, alice.pk)
    assert len(sent) == 1 and member.is_member and member.room.name == "general"
    with counted_statements(monkeypatch) as sent:
        page = await opening_history(room.pk, None, 3)
        frame = [serializers.message_to_dict(m) for m in page.messages]
    assert len(sent) == 2 and "chat_attachment" in sent[1]
    assert [m["id"] for m in frame] == ids[1:] and page.has_more
    assert [m["username"] for m in frame] == ["bob", "alice", "alice"]
    assert frame[0]["body"] == "m1" and frame[0]["room_id"] == room.pk
    stored = await Message.objects.select_related("author").aget(pk=ids[1])
    assert frame[0] == serializers.message_to_dict(stored)  # the same as the ORM's row
    assert page.messages[1].author is page.messages[2].author  # one user object per author
    empty = await make_room("empty", [alice])
    with counted_statements(monkeypatch) as sent:
        assert (await opening_history(empty.pk, None, 3)).messages == []
    assert len(sent) == 1


async def test_a_room_opening_is_one_statement_with_the_same_page(monkeypatch):
    """The room, the membership and the first page in one statement (chat/selectors/
    room_opening.py), plus the page's attachments: the same room and page as room_access and
    opening_history, the room's version from the same snapshot; no page for a non-member, no
    room for a missing one."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    for n in range(4):
        await Message.objects.acreate(room=room, author=alice, body=f"m{n}")
    await Room.objects.filter(pk=room.pk).aupdate(version=7)
    await Message.objects.filter(room=room).aupdate(version=F("id"))  # as the services leave them
    first = (await Message.objects.order_by("id").afirst()).id
    for after, since, limit in [(None, None, 3), (None, None, 50), (first, None, 2), (None, 0, 2)]:
        with counted_statements(monkeypatch) as sent:
            opening = await room_opening(
                room.pk, alice.pk, after_id=after, since=since, limit=limit
            )
        assert len(sent) == 2 and "chat_attachment" in sent[1]
        assert opening.is_member and opening.room.version == 7
        assert field_values(opening.room) == field_values(await Room.objects.aget(pk=room.pk))
        alone = await opening_history(room.pk, after, limit, since=since)
        as_frames = [serializers.message_to_dict(m) for m in opening.page.messages]
        assert as_frames == [serializers.message_to_dict(m) for m in alone.messages]
        assert opening.page.has_more == alone.has_more and as_frames
    empty = await make_room("empty", [alice])
    with counted_statements(monkeypatch) as sent:
        opening = await room_opening(empty.pk, alice.pk, after_id=None, since=None, limit=50)
    assert len(sent) == 1 and opening.page.messages == [] and not opening.page.has_more
    stranger = await room_opening(room.pk, bob.pk, after_id=None, since=None, limit=50)
    assert stranger.room.pk == room.pk and not stranger.is_member and stranger.page is None
    missing = await room_opening(room.pk + 1000, alice.pk, after_id=None, since=None, limit=50)
    assert missing.room is None and not missing.is_member and missing.page is None


async def test_a_room_still_at_the_held_pages_version_builds_no_page(monkeypatch):
    """An opening that holds the room's latest page (chat/latest_pages.py) reads only the
    room and the membership: one statement, no page rows and no attachments query while the
    room is unchanged. A page held only by the time the rows are back (an opening beside it
    in a storm) is reused too; one that went meanwhile is read again; a room that moved on,
    or a non-member, get what they always did."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    await Message.objects.acreate(room=room, author=alice, body="first")
    await Room.objects.filter(pk=room.pk).aupdate(version=3)
    at_3 = LatestPage(version=3)

    def open_as(user, *held_in_turn):
        answers = iter(held_in_turn)
        return room_opening(
            room.pk, user.pk, after_id=None, since=None, limit=50, held=lambda: next(answers)
        )

    with counted_statements(monkeypatch) as sent:
        held = await open_as(alice, at_3, at_3)
    assert len(sent) == 1 and "chat_attachment" not in sent[0]
    assert (held.is_member, held.reused, held.page, held.room.version) == (True, at_3, None, 3)
    with counted_statements(monkeypatch) as sent:
        beside = await open_as(alice, None, at_3)  # kept while this opening's rows came
    assert len(sent) == 1 and (beside.reused, beside.page) == (at_3, None)
    with counted_statements(monkeypatch) as sent:
        went = await open_as(alice, at_3, None, None, None)  # dropped meanwhile
    assert len(sent) == 3 and went.reused is None
    assert [m.body for m in went.page.messages] == ["first"]
    await Room.objects.filter(pk=room.pk).aupdate(version=4)
    moved = await open_as(alice, at_3, at_3, at_3)
    assert moved.reused is None and [m.body for m in moved.page.messages] == ["first"]
    stranger = await open_as(bob, LatestPage(version=4), LatestPage(version=4))
    assert not stranger.is_member and stranger.reused is None and stranger.page is None


async def test_session_and_user_are_one_plain_query_that_keeps_djangos_checks(monkeypatch):
    """The socket's session + user read (mychannels/runtime/auth.py) in one query, the user
    joined by the session row's user id: the same user row as the ORM's, and still refused
    when inactive or logged in through a backend that is no longer configured."""
    alice = await make_user("alice")
    key = (await session_cookie(alice)).split("=", 1)[1]
    with counted_statements(monkeypatch) as sent:
        session, user = await auth.session_and_user(key)
    assert len(sent) == 1
    stored = await User.objects.aget(pk=alice.pk)
    assert user == stored and user.is_authenticated
    assert (user.password, user.last_login, user.email) == (
        stored.password,
        stored.last_login,
        stored.email,
    )
    await User.objects.filter(pk=alice.pk).aupdate(is_active=False)
    assert not (await auth.session_and_user(key))[1].is_authenticated
    await User.objects.filter(pk=alice.pk).aupdate(is_active=True)
    session[BACKEND_SESSION_KEY] = "removed.backends.Backend"
    await sync_to_async(session.save)()
    assert not (await auth.session_and_user(key))[1].is_authenticated


async def test_each_stage_of_an_opening_has_threads_of_its_own():
    """On the thread path (SQLite; PostgreSQL reads on the loop, mychannels/runtime/asyncdb.py):
    in a connect storm the session reads of later arrivals must not queue ahead of the room and
    history reads of sockets that already have their session (mychannels/runtime/offthread.py)."""
    stage = reads_pool("stage-test", threads=1)
    where = await pooled(lambda: threading.current_thread().name, stage)()
    assert where.startswith("stage-test")
    assert OPENING_READS is not auth.SESSION_READS
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    assert (await room_access(room.pk, alice.pk)).is_member
    assert (await opening_history(room.pk, None, 5)).messages == []
    stage.shutdown()


@contextlib.contextmanager
def writes_on_the_loop(monkeypatch) -> Iterator[list[str]]:
    """Every writing statement sent on the event loop, and the name of each write that hops
    to a thread (`run_write`)."""
    from chat.services import messages

    sent = recorded_calls(monkeypatch, asyncdb, "write", lambda sql, params: sql)
    hops = recorded_calls(monkeypatch, messages, "run_write", lambda fn, *_: fn.__name__)
    yield sent, hops


async def test_a_plain_message_is_stored_from_the_loop_in_one_statement(monkeypatch):
    """No thread hop for the message most are (docs/performance.md): the same statement as
    the thread's, and the same row, html and answers (resend, stranger) as before."""
    from chat.services.messages import message_create

    if not asyncdb.enabled():
        pytest.fail("this test needs PostgreSQL (DATABASE_URL)")
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await make_room("general", [alice, bob])
    with writes_on_the_loop(monkeypatch) as (sent, hops):
        body = "**hi** <b>there</b> https://example.com/x"
        result = await message_create(room=room, author=alice, body=body, client_id="c-1")
        assert len(sent) == 1 and "SET version = r.version + 1" in sent[0] and hops == []
        again = await message_create(room=room, author=alice, body=body, client_id="c-1")
        assert not again.created and again.message.pk == result.message.pk
        assert hops == ["_earlier_copy"]  # the unique constraint refused it; the lookup
        with pytest.raises(ServiceError) as refused:
            await message_create(room=room, author=carol, body="let me in")
        assert refused.value.code == "forbidden"
    stored = await Message.objects.select_related("author").aget(pk=result.message.pk)
    on_thread, *_ = await sync_to_async(_store_message)(room, alice, body, None)
    assert result.created and stored.html == on_thread.html
    assert "<strong>hi</strong>" in stored.html and "<b>" not in stored.html
    assert serializers.message_to_dict(stored) == serializers.message_to_dict(result.message)
    assert stored.version == result.message.version and stored.mentions == []
    assert await Message.objects.filter(room=room).acount() == 2


async def test_messages_that_need_more_reads_keep_the_thread(monkeypatch):
    """A mention (its members are read), a reply (the quoted message) and files (their
    claim, in the insert's transaction) are stored on a thread as before."""
    from chat.services.messages import message_create

    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    first = await message_create(room=room, author=alice, body="first")
    with writes_on_the_loop(monkeypatch) as (sent, hops):
        named = await message_create(room=room, author=alice, body="hi @bob")
        reply = await message_create(room=room, author=bob, body="yes", reply_to=first.message.pk)
    assert sent == [] and hops == ["_store_message", "_store_message"]
    assert named.message.mentions == ["bob"] and reply.message.reply_to_id == first.message.pk


async def test_a_message_from_sync_code_stays_in_the_callers_transaction(monkeypatch):
    """The admin posts through `async_to_sync(message_create)` inside its transaction: the
    store goes back to its thread (not the loop's own connection, which would commit at
    once), so a rollback stores and broadcasts nothing."""
    from asgiref.sync import async_to_sync
    from django.db import transaction

    from chat.services.messages import message_create

    alice = await make_user("alice")
    room = await make_room("general", [alice])

    @sync_to_async
    def post_then_roll_back() -> None:
        with transaction.atomic():
            async_to_sync(message_create)(room=room, author=alice, body="undone")
            transaction.set_rollback(True)

    with writes_on_the_loop(monkeypatch) as (sent, hops):
        await post_then_roll_back()
        await message_create(room=room, author=alice, body="from a socket")
    assert sent and hops == ["_store_message"]  # the admin's on its thread, the socket's not
    bodies = [b async for b in Message.objects.filter(room=room).values_list("body", flat=True)]
    assert bodies == ["from a socket"]
