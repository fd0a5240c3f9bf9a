"""The opening's reads on the event loop (mychannels/runtime/asyncdb.py), on the real
PostgreSQL: the same model objects as Django's ORM and as the thread path (SQLite's),
PostgreSQL's errors as Django's, a connection that died replaced, the wait for a connection
bounded, and every connection closed with its loop."""

import asyncio
import datetime

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection

from chat import serializers
from chat.models import Message, Room
from chat.selectors.messages import messages_after, messages_latest, opening_history
from chat.selectors.rooms import room_access, room_access_sql
from mychannels.models import LoginSession
from mychannels.runtime import asyncdb, auth
from mychannels.runtime.sessions import SessionStore
from tests.conftest import make_room, make_user, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgresql")]
User = get_user_model()


async def test_rows_and_errors_come_back_as_django_reads_them():
    assert await asyncdb.rows("SELECT %s::int + 1, 'x'", [41]) == [(42, "x")]
    with pytest.raises(DatabaseError):
        await asyncdb.rows("SELECT * FROM no_such_table", [])
    assert await asyncdb.rows("SELECT 1", []) == [(1,)]  # the connection is still usable


async def test_a_kept_connection_that_died_is_replaced_on_the_next_read():
    (pid,) = (await asyncdb.rows("SELECT pg_backend_pid()", []))[0]

    @sync_to_async
    def kill(backend: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])

    await kill(pid)
    (new_pid,) = (await asyncdb.rows("SELECT pg_backend_pid()", []))[0]
    assert new_pid != pid


async def test_waiting_for_a_connection_is_bounded():
    few = asyncdb.LoopConnections(size=1, wait=0.2)
    slow = asyncio.ensure_future(few.rows("SELECT pg_sleep(1)", []))
    await asyncio.sleep(0.1)
    with pytest.raises(OperationalError):
        await few.rows("SELECT 1", [])
    await slow
    assert await few.rows("SELECT 2", []) == [(2,)]
    await few.close()


async def test_a_read_cancelled_mid_statement_does_not_return_its_connection():
    few = asyncdb.LoopConnections(size=1, wait=1)
    slow = asyncio.ensure_future(few.rows("SELECT pg_sleep(5)", []))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert few._idle == []  # closed, not kept with a statement still running
    assert await few.rows("SELECT 3", []) == [(3,)]
    await few.close()


def test_a_loops_connections_are_closed_with_the_loop():
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(asyncdb.rows("SELECT 4", [])) == [(4,)]
    (kept,) = asyncdb._per_loop._objects[loop]._idle
    loop.close()
    assert kept.connection.closed and loop not in asyncdb._per_loop._objects


def fields(instance) -> dict | None:
    """A model object's field values (not Django's state, nor a raw query's extra column)."""
    if instance is None:
        return None
    return {k: v for k, v in vars(instance).items() if k not in ("_state", "is_member")}


async def test_opening_reads_equal_the_orms_and_the_thread_path():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    for n, author in enumerate([alice, bob, alice]):
        await Message.objects.acreate(room=room, author=author, body=f"m{n}", client_id=f"c{n}")
    for room_id, user_id in [(room.pk, alice.pk), (room.pk, bob.pk), (room.pk + 99, alice.pk)]:
        access = await room_access(room_id, user_id)
        stored = await Room.objects.filter(pk=room_id).afirst()
        assert fields(access.room) == fields(stored)
        assert (
            access.is_member
            == await Room.users.through.objects.filter(room_id=room_id, user_id=user_id).aexists()
        )
        # SQLite's path: the same statement as Django's raw query, on a thread.
        on_thread = await sync_to_async(asyncdb._raw_on_thread)(
            Room, room_access_sql("r.*"), [user_id, room_id]
        )
        assert [fields(r) for r in on_thread] == ([fields(access.room)] if stored else [])
        assert all(bool(r.is_member) == access.is_member for r in on_thread)
    first = (await Message.objects.order_by("id").afirst()).id
    for after, limit in [(None, 2), (None, 50), (first, 1), (first, 50)]:
        page = await opening_history(room.pk, after, limit)
        if after is None:
            orm = await messages_latest(room_id=room.pk, limit=limit)
        else:
            orm = await messages_after(room_id=room.pk, after_id=after, limit=limit)
        assert page.has_more == orm.has_more
        frames = [serializers.message_to_dict(m) for m in page.messages]
        assert frames == [serializers.message_to_dict(m) for m in orm.messages]
        assert frames and all(f["username"] in ("alice", "bob") for f in frames)


async def test_session_and_user_equal_djangos_and_stale_sessions_are_flushed():
    alice = await make_user("alice")
    key = (await session_cookie(alice)).split("=", 1)[1]
    session, user = await auth.session_and_user(key)
    assert user.is_authenticated and fields(user) == fields(await User.objects.aget(pk=alice.pk))
    assert session.session_key == key
    assert dict(session.items()) == (await sync_to_async(SessionStore(key).load)())
    for garbage in [None, "", "x" * 40, "abcdefgh\x00abcdefgh"]:
        assert not (await auth.session_and_user(garbage))[1].is_authenticated
    alice.set_password("a-new-password-2026")
    await alice.asave()
    assert not (await auth.session_and_user(key))[1].is_authenticated
    # As channels does: the stale session is flushed (deleted), not left to be tried again.
    assert not await LoginSession.objects.filter(session_key=key).aexists()
    assert settings.SESSION_COOKIE_NAME  # the cookie name the socket reads is configured


@pytest.fixture
def server_time_zone_not_utc():
    """The database's default time zone set as on a server installed in New York: the loop's
    connections must still read times in UTC, as Django's own do (it sets the time
    zone on each connection it opens)."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" SET timezone TO %s', ["America/New_York"])
    yield
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" RESET timezone')


async def test_reads_are_in_utc_whatever_the_servers_time_zone(server_time_zone_not_utc):
    (zone,) = (await asyncdb.rows("SELECT current_setting('TimeZone')", []))[0]
    assert zone == "UTC"
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    stored = await Message.objects.acreate(room=room, author=alice, body="m", client_id="c")
    (read,) = (await opening_history(room.pk, None, 50)).messages
    assert read.created == stored.created
    assert read.created.tzinfo is stored.created.tzinfo is datetime.UTC  # as Django labels it
    # The user joined to the socket's session row: its times too.
    _, user = await auth.session_and_user((await session_cookie(alice)).split("=", 1)[1])
    assert (user.pk, user.date_joined) == (alice.pk, alice.date_joined)


@pytest.fixture
def assumed_role():
    """A role the service's login assumes (Django's OPTIONS["assume_role"], DATABASE_ROLE),
    with a space in its name, which libpq's startup options must escape."""
    role = "chat app probe"
    options = connection.settings_dict["OPTIONS"]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
    options["assume_role"] = role
    yield role
    del options["assume_role"]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE "{role}"')


async def test_the_loops_connections_take_the_role_django_assumes(assumed_role):
    fresh = asyncdb.LoopConnections(size=1, wait=1)
    try:
        (row,) = await fresh.rows("SELECT current_user, session_user", [])
    finally:
        await fresh.close()
    current_user, login = row
    assert (current_user, login) == (assumed_role, connection.settings_dict["USER"])
