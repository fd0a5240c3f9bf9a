"""The opening's reads on the event loop (chat/asyncdb.py), on the real PostgreSQL: the same
rows and model objects as the thread path, PostgreSQL's errors as Django's, a connection that
died replaced, the wait for a connection bounded, and every connection closed with its loop."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import DatabaseError, OperationalError, connection

from chat import asyncdb, selectors, serializers
from chat.models import Message
from mychannels import auth
from tests.conftest import make_room, make_user, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def on_postgresql():
    if not asyncdb.enabled():
        pytest.fail("these tests need PostgreSQL (DATABASE_URL)")


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
    assert kept.closed and loop not in asyncdb._per_loop._objects


def fields(instance) -> dict | None:
    """A model object's field values (not Django's state, nor a raw query's extra column)."""
    if instance is None:
        return None
    return {k: v for k, v in vars(instance).items() if k not in ("_state", "is_member")}


async def test_opening_reads_on_the_loop_equal_the_thread_path():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice])
    for n, author in enumerate([alice, bob, alice]):
        await Message.objects.acreate(room=room, author=author, body=f"m{n}", client_id=f"c{n}")
    for room_id, user_id in [(room.pk, alice.pk), (room.pk, bob.pk), (room.pk + 99, alice.pk)]:
        on_loop = await selectors.room_access(room_id, user_id)
        on_thread = await sync_to_async(selectors._room_access)(room_id, user_id)
        assert on_loop.is_member == on_thread.is_member
        assert fields(on_loop.room) == fields(on_thread.room)
    first = (await Message.objects.order_by("id").afirst()).id
    for after, limit in [(None, 2), (None, 50), (first, 1), (first, 50)]:
        on_loop = await selectors.opening_history(room.pk, after, limit)
        on_thread = await sync_to_async(selectors._opening_history)(room.pk, after, limit)
        assert on_loop.has_more == on_thread.has_more
        frames = [serializers.message_to_dict(m) for m in on_loop.messages]
        assert frames == [serializers.message_to_dict(m) for m in on_thread.messages]
        assert frames and all(f["username"] in ("alice", "bob") for f in frames)


async def test_session_and_user_on_the_loop_equal_the_thread_path_and_flush_stale_sessions():
    alice = await make_user("alice")
    key = (await session_cookie(alice)).split("=", 1)[1]
    session, user = await auth._load_session_and_user(key)
    _, on_thread = await sync_to_async(auth._session_and_user)(key)
    assert user.is_authenticated and fields(user) == fields(on_thread)
    assert session.session_key == key
    for garbage in [None, "", "x" * 40, "abcdefgh\x00abcdefgh"]:
        assert not (await auth._load_session_and_user(garbage))[1].is_authenticated
    alice.set_password("a-new-password-2026")
    await alice.asave()
    assert not (await auth._load_session_and_user(key))[1].is_authenticated
    # As channels does: the stale session is flushed (deleted), not left to be tried again.
    assert not await Session.objects.filter(session_key=key).aexists()
    assert settings.SESSION_COOKIE_NAME  # the cookie name the socket reads is configured
