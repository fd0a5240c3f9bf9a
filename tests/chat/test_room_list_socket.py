"""`/ws/rooms/` as the contract specifies it: counts with mentions and active on open,
`active` live, `room_joined` and `room_left` as members are added and removed, and
`room_updated` to the room's sockets and its members' lists."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.models import Membership, Message
from chat.services.direct_rooms import direct_room_open
from chat.services.membership import member_add, member_remove, member_set_role
from chat.services.messages import message_create
from chat.services.read_state import room_mark_read
from chat.services.rooms import room_create, room_update
from tests.conftest import admin_room_form, close_code, counted_hops, make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def test_opening_frame_has_unread_mentions_and_active(open_room_list, open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    await open_room_socket(bob, general)
    _, opening = await open_room_list(alice)
    assert opening == {
        "type": "rooms",
        "rooms": [{"room_id": general.pk, "unread": 0, "mentions": 0, "active": 1}],
    }


async def test_each_rooms_active_count_is_its_own(open_room_list, open_room_socket):
    """The presence of every room of the list is read together: each count is its room's."""
    alice, bob, carol = [await make_user(name) for name in ("alice", "bob", "carol")]
    busy = await make_room("busy", [alice, bob, carol])
    quiet = await make_room("quiet", [alice, bob])
    empty = await make_room("empty", [alice])
    await open_room_socket(bob, busy)
    await open_room_socket(carol, busy)
    await open_room_socket(bob, quiet)
    _, opening = await open_room_list(alice)
    active = {room["room_id"]: room["active"] for room in opening["rooms"]}
    assert active == {busy.pk: 2, quiet.pk: 1, empty.pk: 0}


async def test_active_follows_people_entering_and_leaving(open_room_list, open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    room_list, _ = await open_room_list(alice)
    bob_socket, _, _ = await open_room_socket(bob, general)
    assert await room_list.recv_type("active") == {
        "type": "active",
        "room_id": general.pk,
        "count": 1,
    }
    await bob_socket.close()
    frame = await room_list.recv_type("active", timeout=4)
    assert frame["count"] == 0


async def test_added_member_hears_room_joined_and_removed_one_room_left(
    open_room_list, open_room_socket
):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await room_create(creator=alice, name="Team", topic="plans")
    bob_list, opening = await open_room_list(bob)
    assert opening["rooms"] == []
    await member_add(room=room, actor=alice, username="bob")
    joined = await bob_list.recv_type("room_joined")
    assert joined["room"] == {
        "id": room.pk,
        "name": "Team",
        "topic": "plans",
        "kind": "room",
        "is_public": False,
        "role": "member",
        "members": 2,
        "unread": 0,
        "mentions": 0,
        "active": 0,
    }
    bob_socket, _, _ = await open_room_socket(bob, room)
    await member_remove(room=room, actor=alice, username="bob")
    assert await close_code(bob_socket) == 4403
    assert await bob_list.recv_type("room_left") == {"type": "room_left", "room_id": room.pk}


async def test_room_updated_reaches_sockets_and_lists_with_each_users_role(
    open_room_list, open_room_socket
):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await room_create(creator=alice, name="Team")
    await member_add(room=room, actor=alice, username="bob")
    bob_socket, _, _ = await open_room_socket(bob, room)
    alice_list, _ = await open_room_list(alice)
    await room_update(room=room, actor=alice, changes={"name": "Crew", "topic": "ship it"})
    updated = await bob_socket.recv_type("room_updated")
    assert updated["room"]["name"] == "Crew" and updated["room"]["topic"] == "ship it"
    assert updated["room"]["role"] == "member"
    listed = await alice_list.recv_type("room_updated")
    assert listed["room"]["role"] == "owner" and listed["room"]["members"] == 2
    await member_set_role(room=room, actor=alice, username="bob", role="moderator")
    assert (await bob_socket.recv_type("room_updated"))["room"]["role"] == "moderator"


async def test_a_new_direct_room_appears_for_every_member_named_by_the_others(open_room_list):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    bob_list, _ = await open_room_list(bob)
    carol_list, _ = await open_room_list(carol)
    room, created = await direct_room_open(creator=alice, usernames=["bob", "carol"])
    assert created
    bob_sees = (await bob_list.recv_type("room_joined"))["room"]
    carol_sees = (await carol_list.recv_type("room_joined"))["room"]
    assert (bob_sees["kind"], bob_sees["name"]) == ("direct", "alice, carol")
    assert carol_sees["name"] == "alice, bob"
    assert not await Membership.objects.filter(room=room, role="owner").aexists()


async def test_a_role_set_in_the_admin_reaches_the_members_room_page(open_room_socket):
    operator = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="root-pass-for-tests-1"
    )
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    client = AsyncClient()
    await client.aforce_login(operator)
    response = await client.post(
        f"/admin/chat/room/{room.pk}/change/", await admin_room_form(room, {alice.pk: "owner"})
    )
    assert response.status_code == 302, response.content[:800]
    assert (await socket.recv_type("room_updated"))["room"]["role"] == "owner"


async def test_a_message_reaches_each_members_list_without_a_thread_hop(
    open_room_list, monkeypatch
):
    """channels hops to a thread (close_old_connections) before every handler: one per
    member's list per message, 170-190 us each (mychannels/runtime/databasehop.py). Counts
    kept in memory skip it, and so does the open, whose reads run on the event loop
    (PostgreSQL, as the suite runs); a read marker's recount reads through the async ORM and
    keeps it; closing takes none."""
    hops = counted_hops(monkeypatch)
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    general = await make_room("general", [alice, bob, carol])
    lists = {user.username: (await open_room_list(user))[0] for user in (bob, carol)}
    assert hops == []  # each open counts on the loop's own connections
    for n in range(3):
        await message_create(room=general, author=alice, body=f"m{n}")
        for room_list in lists.values():
            assert (await room_list.recv_type("unread"))["unread"] == n + 1
    assert hops == []
    last = await Message.objects.filter(room=general).alatest("id")
    await room_mark_read(room_id=general.pk, user=bob, message_id=last.id)
    assert (await lists["bob"].recv_type("unread"))["unread"] == 0
    assert hops == ["hop"]
    await lists["carol"].close()
    await lists["bob"].close()
    assert hops == ["hop"]
