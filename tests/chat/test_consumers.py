"""The room socket against the real ASGI application (origin check, session auth, routing)."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from chat import consumers
from chat.groups import room_group, user_group
from chat.latest_pages import latest_pages
from chat.models import Message
from chat.services.messages import message_create, message_delete, message_edit
from chat.services.reactions import reaction_set
from mychannels.runtime import asyncdb
from tests.conftest import (
    close_code,
    closed_with,
    communicator,
    counted_hops,
    make_room,
    make_user,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The contract's message object (docs/protocol.md, Version 2).
MESSAGE_KEYS = {
    "id", "room_id", "username", "body", "html", "created", "client_id", "edited", "deleted",
    "version", "reply_to", "reactions", "mentions", "attachments",
}  # fmt: skip


async def test_anonymous_is_closed_4401():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    assert await closed_with(f"/ws/chat/room/{room.pk}/", None) == 4401


async def test_non_member_is_closed_4403():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("general", [alice])
    assert await closed_with(f"/ws/chat/room/{room.pk}/", await session_cookie(mallory)) == 4403


@pytest.mark.parametrize("refused_as", ["non-member", "over the socket cap"])
async def test_a_refused_socket_hears_nothing_sent_while_it_opened_and_leaves_its_groups(
    monkeypatch, refused_as
):
    """A socket joins its groups before its opening read (so that nothing sent meanwhile is
    missed): one that is then refused must not forward what arrived, and must leave."""
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("general", [alice] + ([mallory] if refused_as != "non-member" else []))
    real_opening = consumers.room_opening

    async def opening_while_alice_talks(*args, **kwargs):
        await message_create(room=room, author=alice, body="not for mallory")
        return await real_opening(*args, **kwargs)

    async def no_room_for_more(**kwargs):
        return False

    monkeypatch.setattr(consumers, "room_opening", opening_while_alice_talks)
    if refused_as != "non-member":
        monkeypatch.setattr(consumers, "socket_admit", no_room_for_more)
    comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(mallory))
    assert (await comm.connect(timeout=5))[0]
    expected = 4403 if refused_as == "non-member" else 4409
    assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": expected}
    assert await comm.receive_nothing(timeout=0.3)
    layer = get_channel_layer()
    assert not any(layer.groups.get(name) for name in (room_group(room.pk), user_group(mallory.pk)))
    await comm.disconnect()
    assert await Message.objects.filter(body="not for mallory").acount() == 1  # it was sent


async def test_unknown_room_is_closed_4404():
    alice = await make_user("alice")
    assert await closed_with("/ws/chat/room/999999/", await session_cookie(alice)) == 4404


async def test_forged_session_cookie_counts_as_anonymous():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    assert await closed_with(f"/ws/chat/room/{room.pk}/", "sessionid=forged-value") == 4401


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "",
        "http://evil.example",
        "https://testserver",
        "http://testserver:8080",
        "http://testserver.evil.example",
        "http://eviltestserver",
    ],
)
@override_settings(CSRF_TRUSTED_ORIGINS=[])
async def test_foreign_origins_are_refused_at_the_handshake(origin):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(alice), origin=origin)
    connected, _ = await comm.connect(timeout=5)
    assert not connected


@override_settings(CSRF_TRUSTED_ORIGINS=["https://chat.example.com"])
async def test_own_origin_and_trusted_origins_get_in():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    for origin in ("http://testserver", "https://chat.example.com", "HTTP://TESTSERVER"):
        comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(alice), origin)
        connected, _ = await comm.connect(timeout=5)
        assert connected, origin
        assert (await comm.receive_json_from(timeout=3))["type"] == "history"
        await comm.disconnect()


async def test_open_sends_latest_history_then_presence(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    await Message.objects.abulk_create(
        [Message(room=room, author=alice, body=f"m{i}") for i in range(60)]
    )
    _, history, presence = await open_room_socket(alice, room)
    bodies = [m["body"] for m in history["messages"]]
    assert bodies == [f"m{i}" for i in range(10, 60)]
    assert history["has_more"] is True
    first = history["messages"][0]
    assert set(first) == MESSAGE_KEYS
    assert first["username"] == "alice" and first["room_id"] == room.pk
    assert first["created"].endswith("Z")
    assert presence == {"type": "presence", "room_id": room.pk, "users": ["alice"], "count": 1}


async def test_message_is_stored_then_broadcast_to_three_members_sender_included(
    open_room_socket,
):
    users = [await make_user(name) for name in ("alice", "bob", "carol")]
    room = await make_room("general", users)
    sockets = [(await open_room_socket(user, room))[0] for user in users]
    await sockets[0].send({"type": "message", "body": "  hello room  ", "client_id": "c-1"})
    frames = [await socket.recv_type("message") for socket in sockets]
    stored = await Message.objects.aget(room=room)
    for frame in frames:
        assert frame == {
            "type": "message",
            "id": stored.id,
            "room_id": room.pk,
            "username": "alice",
            "body": "hello room",
            "created": frame["created"],
            "client_id": "c-1",
            "html": "<p>hello room</p>",
            "edited": None,
            "deleted": False,
            "version": stored.version,
            "reply_to": None,
            "reactions": [],
            "mentions": [],
            "attachments": [],
        }
    assert stored.body == "hello room" and stored.version == 1


async def test_message_is_persisted_before_anyone_hears_of_it(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    sender, _, _ = await open_room_socket(alice, room)
    listener, _, _ = await open_room_socket(bob, room)
    await sender.send({"type": "message", "body": "durable"})
    frame = await listener.recv_type("message")
    # The moment the frame is seen, the row is already committed and readable.
    assert await Message.objects.filter(pk=frame["id"], body="durable").aexists()


async def test_resent_client_id_stores_one_row_and_broadcasts_once(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "once", "client_id": "same"})
    await socket.recv_type("message")
    await socket.send({"type": "message", "body": "once", "client_id": "same"})
    assert await socket.nothing_of("message")
    assert await Message.objects.filter(room=room).acount() == 1


async def test_typing_reaches_others_but_not_the_typist(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    typist, _, _ = await open_room_socket(alice, room)
    other, _, _ = await open_room_socket(bob, room)
    await typist.send({"type": "typing"})
    assert await other.recv_type("typing") == {"type": "typing", "username": "alice"}
    assert await typist.nothing_of("typing")


async def test_after_catch_up_returns_exactly_the_missed_messages(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    old = await Message.objects.acreate(room=room, author=alice, body="seen")
    await Message.objects.abulk_create(
        [Message(room=room, author=alice, body=f"missed {i}") for i in range(5)]
    )
    _, history, _ = await open_room_socket(alice, room, f"?after={old.pk}")
    assert [m["body"] for m in history["messages"]] == [f"missed {i}" for i in range(5)]
    assert history["has_more"] is False


async def test_after_catch_up_is_capped_at_200_with_has_more(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    await Message.objects.abulk_create(
        [Message(room=room, author=alice, body=f"m{i}") for i in range(250)]
    )
    _, history, _ = await open_room_socket(alice, room, "?after=0")
    assert len(history["messages"]) == 200
    assert history["messages"][0]["body"] == "m0"
    assert history["has_more"] is True


async def test_history_paging_walks_back_without_gaps(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    await Message.objects.abulk_create(
        [Message(room=room, author=alice, body=f"m{i}") for i in range(120)]
    )
    socket, history, _ = await open_room_socket(alice, room)
    collected = history["messages"]
    while True:
        await socket.send({"type": "history", "before": collected[0]["id"], "limit": 30})
        page = await socket.recv_type("history")
        collected = page["messages"] + collected
        if not page["has_more"]:
            break
    assert [m["body"] for m in collected] == [f"m{i}" for i in range(120)]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"text"', "bad_frame"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "message"}', "invalid"),
        ('{"type": "message", "body": "   "}', "invalid"),
        ('{"type": "message", "body": 42}', "invalid"),
        ('{"type": "message", "body": "x", "client_id": {"a": 1}}', "invalid"),
        ('{"type": "message", "body": "x", "client_id": "' + "c" * 65 + '"}', "invalid"),
        ('{"type": "message", "body": "' + "x" * 2001 + '"}', "too_long"),
        ('{"type": "history"}', "invalid"),
        ('{"type": "history", "before": "10"}', "invalid"),
        ('{"type": "history", "before": 10, "limit": 1000}', "invalid"),
        ('{"type": "history", "before": true}', "invalid"),
        ('{"type": "read", "id": -1}', "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(open_room_socket, raw, code):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.comm.send_to(text_data=raw)
    error = await socket.recv_type("error")
    assert error["code"] == code and isinstance(error["detail"], str) and error["detail"]
    await socket.send({"type": "message", "body": "still here"})
    assert (await socket.recv_type("message"))["body"] == "still here"
    assert await Message.objects.filter(room=room).acount() == 1


async def test_binary_frame_gets_bad_frame_and_the_socket_stays(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.comm.send_to(bytes_data=b"\x00\x01binary")
    assert (await socket.recv_type("error"))["code"] == "bad_frame"
    await socket.send({"type": "typing"})
    await socket.send({"type": "message", "body": "ok"})
    assert (await socket.recv_type("message"))["body"] == "ok"


async def test_a_body_of_exactly_2000_characters_is_taken(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "y" * 2000})
    assert len((await socket.recv_type("message"))["body"]) == 2000


async def test_hostile_markup_is_stored_and_sent_verbatim_as_data(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    body = "<img src=x onerror=alert(1)>"
    await socket.send({"type": "message", "body": body})
    assert (await socket.recv_type("message"))["body"] == body


@override_settings(CHAT_RATE_BURST=5, CHAT_RATE_PER_SECOND=1, CHAT_FLOOD_CLOSE_AFTER=3)
async def test_flooding_gets_rate_limited_then_closed_4429(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    for i in range(5):
        await socket.send({"type": "message", "body": f"burst {i}"})
        await socket.recv_type("message")
    await socket.send({"type": "message", "body": "one too many"})
    assert (await socket.recv_type("error"))["code"] == "rate_limited"
    for _ in range(3):
        await socket.send({"type": "message", "body": "flood"})
    output = None
    for _ in range(10):
        output = await socket.comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
    assert output == {"type": "websocket.close", "code": 4429}
    assert await Message.objects.filter(room=room).acount() == 5


@override_settings(CHAT_RATE_BURST=2, CHAT_RATE_PER_SECOND=0.01)
async def test_a_refused_message_names_its_client_id_and_only_one_a_page_could_send(
    open_room_socket,
):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "x" * 2001, "client_id": "long-one"})
    too_long = await socket.recv_type("error")
    assert (too_long["code"], too_long["client_id"]) == ("too_long", "long-one")
    await socket.send({"type": "message", "body": "first", "client_id": "c1"})
    assert (await socket.recv_type("message"))["client_id"] == "c1"
    await socket.send({"type": "message", "body": "second", "client_id": "c2"})
    refused = await socket.recv_type("error")
    assert (refused["code"], refused["client_id"]) == ("rate_limited", "c2")
    for hostile in ("x" * 65, 7, ["c3"], "nul\x00"):
        await socket.send({"type": "message", "body": "again", "client_id": hostile})
        error = await socket.recv_type("error")
        assert error["code"] == "rate_limited" and "client_id" not in error
    await socket.send({"type": "typing", "client_id": "not-a-message"})
    await socket.send({"type": "history", "before": "x", "client_id": "not-a-message"})
    assert "client_id" not in await socket.recv_type("error")
    assert [m.client_id async for m in Message.objects.filter(room=room)] == ["c1"]


@override_settings(CHAT_RATE_BURST=3, CHAT_RATE_PER_SECOND=0.01)
async def test_the_limit_is_per_user_across_tabs(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    tab_one, _, _ = await open_room_socket(alice, room)
    tab_two, _, _ = await open_room_socket(alice, room)
    for tab in (tab_one, tab_two, tab_one):
        await tab.send({"type": "message", "body": "hi"})
        await tab.recv_type("message")
    await tab_two.send({"type": "message", "body": "fourth"})
    assert (await tab_two.recv_type("error"))["code"] == "rate_limited"


async def test_read_frame_moves_the_marker_forward_only(open_room_socket):
    from chat.models import ReadMarker

    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    messages = await Message.objects.abulk_create(
        [Message(room=room, author=bob, body=f"m{i}") for i in range(3)]
    )
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "read", "id": messages[2].pk})
    await socket.send({"type": "read", "id": messages[0].pk})
    await socket.send({"type": "typing"})  # a round trip so the reads are done
    await asyncio.sleep(0.2)
    marker = await ReadMarker.objects.aget(user=alice, room=room)
    assert marker.last_read_id == messages[2].pk


async def test_frames_over_the_size_limit_close_1009(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.comm.send_to(text_data=json.dumps({"type": "message", "body": "x" * 70000}))
    output = await socket.comm.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 1009}


async def test_disconnect_leaves_presence(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    watcher, _, _ = await open_room_socket(alice, room)
    visitor, _, presence = await open_room_socket(bob, room)
    assert presence["users"] == ["alice", "bob"]
    await visitor.close()
    while True:
        frame = await watcher.recv_type("presence")
        if frame["users"] == ["alice"]:
            break
    assert frame["count"] == 1


async def test_logout_service_closes_every_socket_of_that_user(open_room_socket):
    from chat.services.membership import user_sockets_close

    alice = await make_user("alice")
    room = await make_room("general", [alice])
    tab_one, _, _ = await open_room_socket(alice, room)
    tab_two, _, _ = await open_room_socket(alice, room)
    await user_sockets_close(user_id=alice.pk)
    for tab in (tab_one, tab_two):
        assert await close_code(tab) == 4401


async def test_only_frames_that_use_the_async_orm_take_the_db_connection_hop(
    open_room_socket, monkeypatch
):
    """Broadcasts reach every member without a thread-pool hop each (DESIGN.md, trap 2); a
    message is stored from the loop or in a hop that recycles the connection itself, so it
    takes no hop of its own; a typing frame touches no database; history and read frames,
    which use the async ORM, still get a stale connection closed first."""
    import chat.consumers
    import chat.services.messages

    hops = counted_hops(monkeypatch, chat.consumers)
    recycled_in_store: list[str] = []
    real_store_close = chat.services.messages.close_old_connections

    def counting_store_close() -> None:
        recycled_in_store.append("store")
        real_store_close()

    monkeypatch.setattr(chat.services.messages, "close_old_connections", counting_store_close)
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    alice_socket, _, _ = await open_room_socket(alice, room)
    bob_socket, _, _ = await open_room_socket(bob, room)
    hops.clear()
    await alice_socket.send({"type": "message", "body": "no hop for the broadcast"})
    for socket in (alice_socket, bob_socket):
        message = await socket.recv_type("message")
        assert message["body"] == "no hop for the broadcast"
    # On PostgreSQL a plain message is stored from the loop, with no thread at all.
    assert hops == [] and recycled_in_store == ([] if asyncdb.enabled() else ["store"])
    recycled_in_store.clear()
    await alice_socket.send({"type": "message", "body": "a reply", "reply_to": message["id"]})
    assert (await bob_socket.recv_type("message"))["reply_to"]["id"] == message["id"]
    assert hops == [] and recycled_in_store == ["store"]  # a reply reads the quoted message
    await alice_socket.send({"type": "typing"})
    assert (await bob_socket.recv_type("typing"))["username"] == "alice"
    assert hops == []
    await alice_socket.send({"type": "read", "id": message["id"]})
    await alice_socket.send({"type": "history", "before": message["id"]})
    assert (await alice_socket.recv_type("history"))["messages"] == []
    assert hops == ["hop", "hop"]
    assert await Message.objects.filter(body="no hop for the broadcast").acount() == 1
    await bob_socket.close()  # closing takes none either
    assert (await alice_socket.recv_type("presence"))["users"] == ["alice"]
    assert hops == ["hop", "hop"]


async def test_a_kept_opening_page_follows_every_change_of_the_room(open_room_socket):
    """Openings on the latest page share the room's kept frame (chat/latest_pages.py) while
    the room is at its version; an edit, a reaction, a deletion or a new message each move
    the version, and the next opening shows it. A catch-up opening neither uses nor keeps it."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    first = (await message_create(room=room, author=alice, body="first")).message
    _, seen_by_alice, _ = await open_room_socket(alice, room)
    _, seen_by_bob, _ = await open_room_socket(bob, room)
    assert seen_by_bob == seen_by_alice and latest_pages().held(room.pk) is not None
    assert [m["body"] for m in seen_by_bob["messages"]] == ["first"]

    changes = [
        (message_edit(room=room, user=alice, message_id=first.pk, body="first, edited"),
         lambda m: m[0]["body"] == "first, edited" and m[0]["edited"]),
        (reaction_set(room=room, user=bob, message_id=first.pk, emoji="👍", on=True),
         lambda m: m[0]["reactions"] == [{"emoji": "👍", "count": 1, "users": ["bob"]}]),
        (message_create(room=room, author=bob, body="second"),
         lambda m: [x["body"] for x in m] == ["first, edited", "second"]),
        (message_delete(room=room, user=alice, message_id=first.pk),
         lambda m: m[0]["deleted"] and m[0]["body"] == "" and m[0]["reactions"] == []),
    ]  # fmt: skip
    version = seen_by_bob["version"]
    for change, shows in changes:
        await change
        _, opened, _ = await open_room_socket(bob, room)
        assert opened["version"] > version and shows(opened["messages"]), opened
        version = opened["version"]
        assert latest_pages().held(room.pk).version == version

    latest_pages().clear()
    _, caught_up, _ = await open_room_socket(bob, room, f"?since={version - 1}")
    assert caught_up["messages"] and latest_pages().held(room.pk) is None


async def test_a_room_opened_by_many_at_once_builds_its_page_once(open_room_socket, monkeypatch):
    """A reconnect storm: every member opens at the same moment, and one of them builds the
    page the others wait for. A stranger opening first builds nothing (refused 4403) and
    holds no one up."""
    members = [await make_user(f"member{n}") for n in range(8)]
    stranger = await make_user("stranger")
    room = await make_room("general", members)
    for n in range(3):
        await message_create(room=room, author=members[n], body=f"message {n}")
    built = []
    real_history_frame = consumers.history_frame
    monkeypatch.setattr(
        consumers, "history_frame", lambda *args: built.append(1) or real_history_frame(*args)
    )
    refused = asyncio.ensure_future(
        closed_with(f"/ws/chat/room/{room.pk}/", await session_cookie(stranger))
    )
    opened = await asyncio.gather(*(open_room_socket(member, room) for member in members))
    histories = [history for _, history, _ in opened]
    assert await refused == 4403
    assert all(history == histories[0] for history in histories)
    assert [m["body"] for m in histories[0]["messages"]] == ["message 0", "message 1", "message 2"]
    assert len(built) == 1
