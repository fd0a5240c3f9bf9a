"""Live room state on the real ASGI app: presence per user, typing, read markers, the room
list's live unread counts (`/ws/rooms/`), and sockets closed by logout, password change and
removal from a room (over real HTTP requests to allauth and the admin)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.groups import room_group
from chat.models import Message, ReadMarker
from chat.services.membership import room_join, room_leave
from chat.services.messages import message_create
from chat.services.presence import presence_frame, tracker
from tests.conftest import (
    Socket,
    admin_room_form,
    close_code,
    communicator,
    make_room,
    make_user,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def frames_within(socket: Socket, seconds: float) -> list[dict]:
    """Every frame that arrives within `seconds` (waits first, then drains: a receive that
    times out would cancel the application under test)."""
    await asyncio.sleep(seconds)
    frames = []
    while not await socket.comm.receive_nothing(timeout=0.05):
        frames.append(await socket.recv())
    return frames


async def presence_until(socket: Socket, users: list[str]) -> dict:
    """Presence frames until one lists exactly these users (fails after the timeout)."""
    while True:
        frame = await socket.recv_type("presence", timeout=5)
        if frame["users"] == users:
            return frame


def counts(frame: dict) -> dict[int, int]:
    return {room["room_id"]: room["unread"] for room in frame["rooms"]}


async def logged_in_client(user) -> tuple[AsyncClient, str]:
    """A Django test client with a real session, and that session as a socket cookie."""
    client = AsyncClient()
    await client.aforce_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return client, cookie


# Presence


async def test_two_tabs_of_one_user_count_once_until_the_last_tab_closes(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    watcher, _, _ = await open_room_socket(bob, room)
    tab_one, _, _ = await open_room_socket(alice, room)
    tab_two, _, presence = await open_room_socket(alice, room)
    assert presence == {
        "type": "presence",
        "room_id": room.pk,
        "users": ["alice", "bob"],
        "count": 2,
    }
    await presence_until(watcher, ["alice", "bob"])

    await tab_one.close()
    # Alice still has a tab open: whatever the room hears still lists her once.
    frames = [f for f in await frames_within(watcher, 0.6) if f["type"] == "presence"]
    assert all(f["users"] == ["alice", "bob"] and f["count"] == 2 for f in frames)
    assert await tracker().usernames(room.pk) == ["alice", "bob"]

    await tab_two.close()
    assert (await presence_until(watcher, ["bob"]))["count"] == 1


async def test_a_burst_of_arrivals_costs_a_couple_of_presence_frames(open_room_socket):
    """Each frame goes to every member with every name: per-arrival frames would cost
    members x arrivals in a connect storm. Frames are at least a second apart per room."""
    users = [await make_user(f"user{i}") for i in range(12)]
    room = await make_room("general", users)
    watcher, _, _ = await open_room_socket(users[0], room)
    await watcher.recv_type("presence")  # its own arrival's broadcast
    for user in users[1:]:
        await open_room_socket(user, room)
    names = sorted(u.username for u in users)
    frames = [f for f in await frames_within(watcher, 2.5) if f["type"] == "presence"]
    assert 1 <= len(frames) <= 3, [f["count"] for f in frames]
    assert frames[-1]["users"] == names and frames[-1]["count"] == 12


async def test_a_stale_presence_broadcast_never_overwrites_a_newer_one(open_room_socket):
    """Broadcasts from two processes can cross in the channel layer: the socket forwards
    only versions at least as new as the last it sent."""
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    await socket.recv_type("presence")  # the coalesced broadcast of alice's own arrival
    current = await tracker().snapshot(room.pk)
    layer = get_channel_layer()

    async def broadcast(version: int, users: list[str]) -> None:
        frame = presence_frame(room_id=room.pk, usernames=users)
        event = {"type": "chat.presence", "version": version, "text": json.dumps(frame)}
        await layer.group_send(room_group(room.pk), event)

    await broadcast(current.version - 1, ["alice", "ghost"])
    await broadcast(current.version + 1, ["alice", "newer"])
    frames = [f for f in await frames_within(socket, 0.3) if f["type"] == "presence"]
    assert [f["users"] for f in frames] == [["alice", "newer"]]
    await broadcast(current.version, ["alice"])  # older than the one just shown
    assert await socket.nothing_of("presence")


async def test_presence_versions_grow_with_every_change():
    store = tracker().store
    before, _ = await store.snapshot(4242)
    assert await store.add({4242: ["c1|1|alice"]}, expires=1e12) == [4242]
    assert await store.add({4242: ["c1|1|alice"]}, expires=1e12) == []  # a refresh only
    after_add, entries = await store.snapshot(4242)
    assert after_add > before and entries == ["c1|1|alice"]
    assert await store.remove(4242, "c1|1|alice") is True
    assert await store.remove(4242, "c1|1|alice") is False
    after_remove, entries = await store.snapshot(4242)
    assert after_remove > after_add and entries == []


# Typing


async def test_typing_skips_every_tab_of_the_typist_and_is_throttled(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    typist, _, _ = await open_room_socket(alice, room)
    typists_other_tab, _, _ = await open_room_socket(alice, room)
    other, _, _ = await open_room_socket(bob, room)
    for _ in range(5):  # a burst, as a hostile or broken client would send
        await typist.send({"type": "typing"})
    typing = [f for f in await frames_within(other, 0.5) if f["type"] == "typing"]
    assert typing == [{"type": "typing", "username": "alice"}]
    assert await typist.nothing_of("typing", timeout=0.1)
    assert await typists_other_tab.nothing_of("typing", timeout=0.1)
    await asyncio.sleep(1.1)  # past the server's minimum interval
    await typist.send({"type": "typing"})
    assert await other.recv_type("typing") == {"type": "typing", "username": "alice"}


# Read markers


async def test_read_of_a_message_outside_the_room_is_refused(open_room_socket):
    alice = await make_user("alice")
    room, elsewhere = await make_room("general", [alice]), await make_room("other", [alice])
    here = await Message.objects.acreate(room=room, author=alice, body="here")
    there = await Message.objects.acreate(room=elsewhere, author=alice, body="there")
    socket, _, _ = await open_room_socket(alice, room)
    for bad_id in (there.pk, there.pk + 1000, 2**63 - 1):
        await socket.send({"type": "read", "id": bad_id})
        error = await socket.recv_type("error")
        assert error["code"] == "invalid", error
    await socket.send({"type": "read", "id": here.pk})
    await socket.send({"type": "history", "before": 1})  # a round trip: the read is done
    await socket.recv_type("history")
    marker = await ReadMarker.objects.aget(user=alice, room=room)
    assert marker.last_read_id == here.pk


# The room list: `/ws/rooms/`


async def test_room_list_refuses_anonymous_with_4401():
    comm = communicator("/ws/rooms/", None)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    assert (await comm.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize("origin", [None, "null", "http://evil.example"])
async def test_room_list_refuses_foreign_origins_at_the_handshake(origin):
    alice = await make_user("alice")
    comm = communicator("/ws/rooms/", await session_cookie(alice), origin=origin)
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_room_list_opens_with_the_unread_count_of_each_room(open_room_list):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    quiet = await make_room("quiet", [alice])
    await make_room("secret", [bob])
    messages = await Message.objects.abulk_create(
        [Message(room=general, author=bob, body=f"m{i}") for i in range(4)]
        + [Message(room=general, author=alice, body="mine")]
    )
    await ReadMarker.objects.acreate(user=alice, room=general, last_read_id=messages[0].pk)
    _, opening = await open_room_list(alice)
    # Others' messages after the marker; alice's own do not count; bob's room is absent.
    assert counts(opening) == {general.pk: 3, quiet.pk: 0}


async def test_room_list_counts_live_and_resets_on_read(open_room_list, open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    room_list, opening = await open_room_list(alice)
    assert counts(opening) == {general.pk: 0}
    bob_socket, _, _ = await open_room_socket(bob, general)
    alice_tab, _, _ = await open_room_socket(alice, general)
    for i in range(1, 4):
        await bob_socket.send({"type": "message", "body": f"hi {i}"})
        frame = await room_list.recv_type("unread")
        assert frame == {"type": "unread", "room_id": general.pk, "unread": i, "mentions": 0}
    # Alice's own message does not count.
    await alice_tab.send({"type": "message", "body": "mine"})
    last = await alice_tab.recv_type("message", timeout=5)
    while last["body"] != "mine":
        last = await alice_tab.recv_type("message")
    assert await room_list.nothing_of("unread")
    # Reading in the room (another tab) puts the list at 0 at once.
    await alice_tab.send({"type": "read", "id": last["id"]})
    assert await room_list.recv_type("unread") == {
        "type": "unread",
        "room_id": general.pk,
        "unread": 0,
        "mentions": 0,
    }


async def test_room_list_counts_messages_from_the_api_admin_path_too(open_room_list):
    """Every writer goes through message_create, so the list hears of all of them."""
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    room_list, _ = await open_room_list(alice)
    await sync_to_async(_create_in_a_transaction)(general, bob)
    assert (await room_list.recv_type("unread"))["unread"] == 1


def _create_in_a_transaction(room, author) -> None:
    from asgiref.sync import async_to_sync
    from django.db import transaction

    with transaction.atomic():  # as the admin saves: broadcast after the commit
        async_to_sync(message_create)(room=room, author=author, body="from admin")


async def test_room_list_leaks_nothing_of_rooms_the_user_is_not_in(
    open_room_list, open_room_socket
):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    secret = await make_room("secret", [bob])
    room_list, opening = await open_room_list(alice)
    assert secret.pk not in counts(opening)
    bob_secret, _, _ = await open_room_socket(bob, secret)
    bob_general, _, _ = await open_room_socket(bob, general)
    await bob_secret.send({"type": "message", "body": "the launch code is 1234"})
    await bob_secret.recv_type("message")
    await bob_general.send({"type": "message", "body": "hello"})
    frames = await frames_within(room_list, 0.5)
    counted = [frame for frame in frames if frame["type"] == "unread"]
    assert counted == [{"type": "unread", "room_id": general.pk, "unread": 1, "mentions": 0}]
    # Bob is in both rooms now; only the one alice belongs to is told how many are there.
    assert {frame["room_id"] for frame in frames} == {general.pk}
    assert "launch" not in json.dumps(frames)


async def test_room_list_stops_counting_a_room_the_user_leaves(open_room_list, open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob], is_public=True)
    room_list, _ = await open_room_list(alice)
    await room_leave(room=general, user=alice)
    assert await room_list.recv() == {"type": "room_left", "room_id": general.pk}
    bob_socket, _, _ = await open_room_socket(bob, general)
    await bob_socket.send({"type": "message", "body": "alice is gone"})
    await bob_socket.recv_type("message")
    assert await frames_within(room_list, 0.5) == []
    # Joining again shows and counts the room again, live.
    await room_join(room=general, user=alice)
    joined = await room_list.recv_type("room_joined")
    assert joined["room"]["id"] == general.pk
    assert (joined["room"]["unread"], joined["room"]["role"]) == (1, "member")
    await bob_socket.send({"type": "message", "body": "welcome back"})
    assert (await room_list.recv_type("unread"))["unread"] == 2


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"type": "read", "id": 1}', "unknown_type"),
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"text"', "bad_frame"),
    ],
)
async def test_room_list_answers_any_client_frame_with_an_error_and_stays(
    open_room_list, raw, code
):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    room_list, _ = await open_room_list(alice)
    await room_list.comm.send_to(text_data=raw)
    error = await room_list.recv()
    assert error["type"] == "error" and error["code"] == code, error
    await room_list.comm.send_to(bytes_data=b"\x00\x01")
    assert (await room_list.recv())["code"] == "bad_frame"
    # Still open and counting.
    bob = await make_user("bob")
    await room.users.aadd(bob)
    await message_create(room=room, author=bob, body="still here?")
    assert (await room_list.recv_type("unread"))["unread"] == 1


async def test_room_list_closes_a_client_that_keeps_sending(open_room_list):
    alice = await make_user("alice")
    await make_room("general", [alice])
    room_list, _ = await open_room_list(alice)
    for _ in range(settings.CHAT_FLOOD_CLOSE_AFTER + 5):
        await room_list.comm.send_to(text_data="{}")
    assert await close_code(room_list) == 4429


async def test_room_list_sockets_count_against_the_per_user_socket_cap(open_room_list):
    from django.test import override_settings

    alice = await make_user("alice")
    await make_room("general", [alice])
    with override_settings(CHAT_MAX_SOCKETS_PER_USER=2):
        first, _ = await open_room_list(alice)
        await open_room_list(alice)
        comm = communicator("/ws/rooms/", await session_cookie(alice))
        assert (await comm.connect(timeout=5))[0]
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4409}
        # Closing one frees its place.
        await first.close()
        _, opening = await open_room_list(alice)
        assert opening["type"] == "rooms"


async def test_room_list_closes_1009_on_an_oversized_frame(open_room_list):
    alice = await make_user("alice")
    room_list, _ = await open_room_list(alice)
    await room_list.comm.send_to(text_data="x" * (settings.CHAT_MAX_FRAME_BYTES + 1))
    assert await close_code(room_list) == 1009


# Logging out, a new password, removal in the admin: real HTTP requests


async def test_logout_post_closes_every_room_socket_and_room_list_of_that_user(
    open_room_socket, open_room_list
):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    client, cookie = await logged_in_client(alice)
    tabs = []
    for _ in range(2):
        comm = communicator(f"/ws/chat/room/{room.pk}/", cookie)
        assert (await comm.connect(timeout=5))[0]
        tabs.append(Socket(comm))
        await tabs[-1].recv_type("presence")
    room_list, _ = await open_room_list(cookie=cookie)
    bobs_socket, _, _ = await open_room_socket(bob, room)

    response = await client.post("/accounts/logout/")
    assert response.status_code == 302
    for socket in (*tabs, room_list):
        assert await close_code(socket) == 4401
        await socket.close()  # the connection ends, as Daphne then tells the app
    await presence_until(bobs_socket, ["bob"])
    # Bob, who did not log out, keeps his socket.
    await bobs_socket.send({"type": "message", "body": "still here"})
    assert (await bobs_socket.recv_type("message"))["body"] == "still here"


async def test_logout_get_is_refused_and_closes_nothing(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client, cookie = await logged_in_client(alice)
    comm = communicator(f"/ws/chat/room/{room.pk}/", cookie)
    assert (await comm.connect(timeout=5))[0]
    socket = Socket(comm)
    await socket.recv_type("presence")
    response = await client.get("/accounts/logout/")  # a confirmation page, not a logout
    assert response.status_code == 200
    await socket.send({"type": "message", "body": "still logged in"})
    assert (await socket.recv_type("message"))["body"] == "still logged in"
    await socket.close()


async def test_password_change_post_closes_the_users_sockets():
    alice = await make_user("alice", password="old-pass-for-tests-1")
    room = await make_room("general", [alice])
    client, cookie = await logged_in_client(alice)
    comm = communicator(f"/ws/chat/room/{room.pk}/", cookie)
    assert (await comm.connect(timeout=5))[0]
    socket = Socket(comm)
    await socket.recv_type("presence")
    response = await client.post(
        "/accounts/password/change/",
        {
            "oldpassword": "old-pass-for-tests-1",
            "password1": "a-new-pass-for-tests-2",
            "password2": "a-new-pass-for-tests-2",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert await close_code(socket) == 4401


async def test_removing_a_member_in_the_admin_closes_their_sockets_in_that_room_only(
    open_room_socket, open_room_list
):
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="root-pass-for-tests-1"
    )
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    other = await make_room("other", [bob])
    bob_general, _, _ = await open_room_socket(bob, general)
    bob_other, _, _ = await open_room_socket(bob, other)
    bob_list, _ = await open_room_list(bob)
    alice_socket, _, _ = await open_room_socket(alice, general)
    client, _ = await logged_in_client(admin)
    response = await client.post(
        f"/admin/chat/room/{general.pk}/change/",
        await admin_room_form(general, {alice.pk: "member"}),
    )
    assert response.status_code == 302, response.content[:800]
    assert await general.users.filter(pk=bob.pk).aexists() is False
    assert await close_code(bob_general) == 4403
    await bob_general.close()
    assert await bob_list.recv_type("room_left") == {"type": "room_left", "room_id": general.pk}
    await presence_until(alice_socket, ["alice"])
    # Bob's other room is untouched.
    await bob_other.send({"type": "message", "body": "still in other"})
    assert (await bob_other.recv_type("message"))["body"] == "still in other"


async def test_adding_a_member_in_the_admin_starts_their_room_list_counting(open_room_list):
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="root-pass-for-tests-1"
    )
    alice, bob = await make_user("alice"), await make_user("bob")
    await make_room("lobby", [bob])
    general = await make_room("general", [alice])
    await Message.objects.acreate(room=general, author=alice, body="before bob")
    bob_list, opening = await open_room_list(bob)
    assert general.pk not in counts(opening)
    client, _ = await logged_in_client(admin)
    response = await client.post(
        f"/admin/chat/room/{general.pk}/change/",
        await admin_room_form(general, {alice.pk: "member", bob.pk: "member"}),
    )
    assert response.status_code == 302, response.content[:800]
    joined = await bob_list.recv_type("room_joined")
    assert (joined["room"]["id"], joined["room"]["unread"]) == (general.pk, 1)
    assert (joined["room"]["role"], joined["room"]["active"]) == ("member", 0)
