"""The database failing during a send, on the real PostgreSQL: a statement that fails and a
connection killed mid-insert. The sender gets an error, nobody hears of the message, the
socket stays usable, and a resend after recovery stores exactly one row. A message with a
client_id whose connection is killed under it is sent once more on a new one (a second copy
is impossible), so it is stored once without an error."""

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, transaction
from django.test import AsyncClient

from chat.models import Message, Room
from chat.services.messages import _store_message
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)

FAULTS = {
    "statement_fails": "RAISE EXCEPTION 'injected fault: insert rejected'",
    "connection_killed": "PERFORM pg_terminate_backend(pg_backend_pid())",
}


@sync_to_async
def fail_next_message_insert(action: str) -> None:
    """A trigger that does `action` on the next insert into chat_message, once. (A sequence
    counts the inserts: unlike a table, it is not rolled back with the failed statement.)"""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE fault_once_seq")
        cursor.execute(
            f"""CREATE FUNCTION fault_once() RETURNS trigger AS $$
            BEGIN
                IF nextval('fault_once_seq') = 1 THEN {action}; END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql"""
        )
        cursor.execute(
            "CREATE TRIGGER fault_once BEFORE INSERT ON chat_message "
            "FOR EACH ROW EXECUTE FUNCTION fault_once()"
        )


@sync_to_async
def remove_fault() -> None:
    connection.close()  # it may be the one that was killed
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS fault_once ON chat_message")
        cursor.execute("DROP FUNCTION IF EXISTS fault_once()")
        cursor.execute("DROP SEQUENCE IF EXISTS fault_once_seq")


@pytest.fixture(params=sorted(FAULTS))
async def database_fault(request):
    if connection.vendor != "postgresql":
        pytest.fail("these tests need PostgreSQL (DATABASE_URL)")
    await fail_next_message_insert(FAULTS[request.param])
    yield request.param
    await remove_fault()


async def test_socket_send_during_a_database_fault(database_fault, open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    sender, _, _ = await open_room_socket(alice, room)
    listener, _, _ = await open_room_socket(bob, room)
    frame = {"type": "message", "body": "important", "client_id": "c-1"}
    if database_fault == "connection_killed":
        frame.pop("client_id")  # with one it is sent again at once: the next test
    await sender.send(frame)
    error = await sender.recv_type("error", timeout=10)
    assert error["code"] == "unavailable" and error["detail"]
    assert await listener.nothing_of("message")
    assert await sender.nothing_of("message")
    # The database is back: the same frame, resent, is stored once and heard by everyone.
    await sender.send(frame)
    stored = await sender.recv_type("message", timeout=10)
    assert (await listener.recv_type("message"))["id"] == stored["id"]
    if "client_id" in frame:  # without one a resend is a new message, by the contract
        await sender.send(frame)  # a second resend (the reply was lost, say) stores nothing
        await sender.send({"type": "typing"})  # a round trip behind it
        assert await listener.nothing_of("message")
    rows = [m async for m in Message.objects.filter(room=room).values_list("body", "client_id")]
    assert rows == [("important", frame.get("client_id"))]


async def test_a_killed_connection_under_a_message_with_a_client_id_is_replaced(open_room_socket):
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL)")
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    sender, _, _ = await open_room_socket(alice, room)
    listener, _, _ = await open_room_socket(bob, room)
    await fail_next_message_insert(FAULTS["connection_killed"])
    try:
        await sender.send({"type": "message", "body": "important", "client_id": "c-1"})
        stored = await sender.recv_type("message", timeout=10)
        assert (await listener.recv_type("message"))["id"] == stored["id"]
    finally:
        await remove_fault()
    assert await sender.nothing_of("error")
    rows = [m async for m in Message.objects.filter(room=room).values_list("body", "client_id")]
    assert rows == [("important", "c-1")]


async def test_api_post_during_a_database_fault(database_fault):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = AsyncClient()
    await client.aforce_login(alice)
    url = f"/api/rooms/{room.pk}/messages/"
    body = {"body": "from a bot", "client_id": "bot-1"}
    if database_fault == "connection_killed":
        body.pop("client_id")
    failed = await client.post(url, body, content_type="application/json")
    assert failed.status_code == 503
    assert failed.json()["error"] == "unavailable"
    stored = await client.post(url, body, content_type="application/json")
    assert stored.status_code == 201, stored.content
    if "client_id" not in body:
        assert await Message.objects.filter(room=room).acount() == 1
        return
    again = await client.post(url, body, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == stored.json()["id"]
    assert await Message.objects.filter(room=room).acount() == 1


@sync_to_async
def store_inside_a_transaction(room, author) -> tuple[str, bool, int]:
    """As the admin does: a message stored inside the caller's transaction, whose insert
    fails; the caller's connection must still be there for it to carry on."""
    with transaction.atomic():
        try:
            _store_message(room, author, "from the admin", None)
        except DatabaseError as error:
            failure = type(error).__name__
        still_open = connection.connection is not None and not connection.connection.closed
        Room.objects.create(name="made after the failure")  # the transaction goes on
    return failure, still_open, Room.objects.filter(name="made after the failure").count()


async def test_a_failed_store_inside_a_callers_transaction_leaves_it_its_connection():
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL)")
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    await fail_next_message_insert(FAULTS["statement_fails"])
    try:
        failure, still_open, made = await store_inside_a_transaction(room, alice)
    finally:
        await remove_fault()
    assert failure == "ProgrammingError"  # the trigger's RAISE EXCEPTION (SQLSTATE P0001)
    assert still_open and made == 1
    assert not await Message.objects.filter(room=room).aexists()
