"""Edit, delete, reply and react over the room socket, catch-up by version (`?since=`), and
every bad input answered with its error frame, changing nothing, the socket staying open."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from chat.models import Message, MessageEdit, Reaction, Room
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def post(socket, body: str, **extra) -> dict:
    """Post and return this socket's own message as it comes back (others' may come first)."""
    await socket.send({"type": "message", "body": body, **extra})
    while True:
        frame = await socket.recv_type("message")
        if frame["body"] == body.strip():
            return frame


async def error_of(socket, frame: dict) -> dict:
    await socket.send(frame)
    return await socket.recv_type("error")


async def still_open(socket) -> None:
    """The socket takes frames after an error: a message goes through."""
    assert (await post(socket, "still here"))["body"] == "still here"


@pytest.fixture
async def chat(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    a, _, _ = await open_room_socket(alice, room)
    b, _, _ = await open_room_socket(bob, room)
    return room, alice, bob, a, b


async def test_edit_reaches_the_room_keeps_history_and_takes_a_version(chat):
    room, _, _, a, b = chat
    sent = await post(a, "hello")
    await b.recv_type("message")
    await a.send(
        {"type": "edit", "id": sent["id"], "body": "hello **there**", "version": sent["version"]}
    )
    for socket in (a, b):
        frame = await socket.recv_type("message_updated")
        message = frame["message"]
        assert message["body"] == "hello **there**"
        assert message["html"] == "<p>hello <strong>there</strong></p>"
        assert message["edited"] is not None and message["version"] == sent["version"] + 1
    assert [e.body async for e in MessageEdit.objects.filter(message_id=sent["id"])] == ["hello"]
    assert (await Room.objects.aget(pk=room.pk)).version == message["version"]


async def test_a_stale_version_is_a_conflict_carrying_the_newer_message(chat):
    _, _, _, a, _ = chat
    sent = await post(a, "one")
    await a.send({"type": "edit", "id": sent["id"], "body": "two"})
    await a.recv_type("message_updated")
    error = await error_of(
        a, {"type": "edit", "id": sent["id"], "body": "three", "version": sent["version"]}
    )
    assert error["code"] == "conflict" and error["message"]["body"] == "two"
    assert (await Message.objects.aget(pk=sent["id"])).body == "two"
    await still_open(a)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "edit", "body": "x"}, "invalid"),
        ({"type": "edit", "id": "1", "body": "x"}, "invalid"),
        ({"type": "edit", "id": True, "body": "x"}, "invalid"),
        ({"type": "edit", "id": 1.5, "body": "x"}, "invalid"),
        ({"type": "edit", "id": 999999, "body": "x"}, "not_found"),
        ({"type": "edit", "id": "OWN", "body": ""}, "invalid"),
        ({"type": "edit", "id": "OWN", "body": 5}, "invalid"),
        ({"type": "edit", "id": "OWN", "body": "x" * 2001}, "too_long"),
        ({"type": "edit", "id": "OWN", "body": "x", "version": "1"}, "invalid"),
        ({"type": "edit", "id": "OWN", "body": "x", "version": -1}, "invalid"),
        ({"type": "edit", "id": "THEIRS", "body": "x"}, "forbidden"),
        ({"type": "edit", "id": "OTHER_ROOM", "body": "x"}, "not_found"),
        ({"type": "delete", "id": "THEIRS"}, "forbidden"),
        ({"type": "delete", "id": "OTHER_ROOM"}, "not_found"),
        ({"type": "delete", "id": 999999}, "not_found"),
        ({"type": "delete", "id": None}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": "x", "on": True}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": "👍👍", "on": True}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": "👍" * 200, "on": True}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": 1, "on": True}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": "👍", "on": 1}, "invalid"),
        ({"type": "react", "id": "OWN", "emoji": "👍"}, "invalid"),
        ({"type": "react", "id": "OTHER_ROOM", "emoji": "👍", "on": True}, "not_found"),
        ({"type": "message", "body": "x", "reply_to": "OTHER_ROOM"}, "invalid"),
        ({"type": "message", "body": "x", "reply_to": 999999}, "invalid"),
        ({"type": "message", "body": "x", "reply_to": "1"}, "invalid"),
    ],
)
async def test_bad_input_gets_its_error_and_changes_nothing(chat, frame, code):
    room, alice, _bob, a, b = chat
    own = await post(a, "mine")
    theirs = await post(b, "theirs")
    elsewhere = await make_room("elsewhere", [alice])
    other = await Message.objects.acreate(room=elsewhere, author=alice, body="over there")
    ids = {"OWN": own["id"], "THEIRS": theirs["id"], "OTHER_ROOM": other.pk}
    frame = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in frame.items()}
    before = (await Room.objects.aget(pk=room.pk)).version
    error = await error_of(a, frame)
    assert error["code"] == code, error
    assert (await Room.objects.aget(pk=room.pk)).version == before
    assert await Reaction.objects.acount() == 0 and await MessageEdit.objects.acount() == 0
    await still_open(a)


async def test_editing_a_deleted_message_or_after_the_window_is_refused(chat):
    _, _, _, a, _ = chat
    gone, old = await post(a, "gone"), await post(a, "old")
    await a.send({"type": "delete", "id": gone["id"]})
    await a.recv_type("message_deleted")
    await Message.objects.filter(pk=old["id"]).aupdate(created=timezone.now() - timedelta(hours=2))
    assert (await error_of(a, {"type": "edit", "id": gone["id"], "body": "x"}))[
        "code"
    ] == "not_found"
    assert (await error_of(a, {"type": "edit", "id": old["id"], "body": "x"}))[
        "code"
    ] == "forbidden"
    await still_open(a)


async def test_delete_leaves_a_tombstone_for_everyone_and_staff_may_delete(chat, open_room_socket):
    room, _, bob, a, b = chat
    sent = await post(a, "secret @bob")
    await a.send({"type": "react", "id": sent["id"], "emoji": "👍", "on": True})
    await a.recv_type("reactions")
    await a.send({"type": "delete", "id": sent["id"]})
    for socket in (a, b):
        tomb = (await socket.recv_type("message_deleted"))["message"]
        assert tomb["deleted"] is True and tomb["body"] == tomb["html"] == ""
        assert tomb["reactions"] == tomb["mentions"] == tomb["attachments"] == []
        assert tomb["username"] == "alice" and tomb["id"] == sent["id"]
    staff = await make_user("root")
    staff.is_staff = True
    await staff.asave()
    await room.users.aadd(staff)
    s, _, _ = await open_room_socket(staff, room)
    theirs = await post(b, "rude")
    await s.send({"type": "delete", "id": theirs["id"]})
    assert (await s.recv_type("message_deleted"))["message"]["id"] == theirs["id"]
    _, history, _ = await open_room_socket(bob, room)
    shown = {m["id"]: m for m in history["messages"]}
    assert shown[sent["id"]]["deleted"] and shown[sent["id"]]["body"] == ""


async def test_reply_shows_the_quote_and_its_excerpt_empties_once_deleted(chat, open_room_socket):
    room, _, bob, a, b = chat
    quoted = await post(a, "q" * 150)
    reply = await post(b, "answer", reply_to=quoted["id"])
    assert reply["reply_to"] == {"id": quoted["id"], "username": "alice", "excerpt": "q" * 100}
    await a.send({"type": "delete", "id": quoted["id"]})
    await a.recv_type("message_deleted")
    _, history, _ = await open_room_socket(bob, room)
    shown = {m["id"]: m for m in history["messages"]}
    assert shown[reply["id"]]["reply_to"] == {
        "id": quoted["id"],
        "username": "alice",
        "excerpt": "",
    }


async def test_reactions_toggle_idempotently_and_count_who(chat):
    room, _, _, a, b = chat
    sent = await post(a, "react to me")
    for socket, on in ((a, True), (b, True)):
        await socket.send({"type": "react", "id": sent["id"], "emoji": "👍", "on": on})
        frame = await a.recv_type("reactions")
    assert frame["reactions"] == [{"emoji": "👍", "count": 2, "users": ["alice", "bob"]}]
    assert frame["id"] == sent["id"] and frame["room_id"] == room.pk
    version = (await Room.objects.aget(pk=room.pk)).version
    await b.send({"type": "react", "id": sent["id"], "emoji": "👍", "on": True})  # again
    assert await a.nothing_of("reactions")
    assert (await Room.objects.aget(pk=room.pk)).version == version
    await b.send({"type": "react", "id": sent["id"], "emoji": "👍", "on": False})
    frame = await a.recv_type("reactions")
    assert frame["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    assert frame["version"] == version + 1


@override_settings(CHAT_RATE_PER_SECOND=1000, CHAT_RATE_BURST=1000, CHAT_REQUEST_BURST=1000)
async def test_a_21st_different_emoji_is_invalid(chat):
    _, _, _, a, _ = chat
    sent = await post(a, "many")
    emoji = "😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩"
    for one in emoji[:20]:
        await a.send({"type": "react", "id": sent["id"], "emoji": one, "on": True})
        await a.recv_type("reactions")
    error = await error_of(a, {"type": "react", "id": sent["id"], "emoji": emoji[20], "on": True})
    assert error["code"] == "invalid"
    assert await Reaction.objects.acount() == 20


async def test_mentions_of_members_are_resolved_and_re_resolved_on_edit(chat):
    _, _, _, a, _ = chat
    sent = await post(a, "hi @BOB and @nobody")
    assert sent["mentions"] == ["bob"]
    assert '<span class="mention" data-username="bob">@bob</span>' in sent["html"]
    await a.send({"type": "edit", "id": sent["id"], "body": "hi @alice"})
    assert (await a.recv_type("message_updated"))["message"]["mentions"] == ["alice"]


async def test_since_opens_with_every_change_after_it_once_in_version_order(chat, open_room_socket):
    room, _, bob, a, _ = chat
    first = await post(a, "first")
    _, opening, _ = await open_room_socket(bob, room)
    since = opening["version"]
    assert since == first["version"]
    second = await post(a, "second")
    await a.send({"type": "edit", "id": first["id"], "body": "first, edited"})
    await a.recv_type("message_updated")
    await a.send({"type": "react", "id": second["id"], "emoji": "🎉", "on": True})
    await a.recv_type("reactions")
    _, caught_up, _ = await open_room_socket(bob, room, f"?since={since}")
    got = caught_up["messages"]
    assert [m["id"] for m in got] == [first["id"], second["id"]]
    assert got[0]["body"] == "first, edited" and got[1]["reactions"][0]["emoji"] == "🎉"
    assert [m["version"] for m in got] == sorted(m["version"] for m in got)
    assert caught_up["version"] == got[-1]["version"] and caught_up["has_more"] is False
