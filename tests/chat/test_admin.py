"""The admin is one more entry point to the same write path: what operators do reaches sockets."""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.test import AsyncClient

from chat.models import Message
from tests.conftest import admin_room_form, close_code, make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def operator_client() -> AsyncClient:
    admin = await get_user_model().objects.acreate_superuser("root", password="root-pass-123")
    client = AsyncClient()
    await client.aforce_login(admin)
    return client


async def test_message_added_in_the_admin_reaches_open_sockets(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    socket, _, _ = await open_room_socket(bob, room)
    client = await operator_client()
    response = await client.post(
        "/admin/chat/message/add/",
        {"room": room.pk, "author": alice.pk, "body": "  from the operator  ", "client_id": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = await Message.objects.aget()
    assert stored.body == "from the operator" and stored.client_id is None
    frame = await socket.recv_type("message")
    assert (frame["id"], frame["username"], frame["body"]) == (
        stored.pk,
        "alice",
        "from the operator",
    )


async def test_admin_refuses_a_non_member_author_and_an_empty_body():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("general", [alice])
    client = await operator_client()
    for author, body in ((mallory, "hi"), (alice, "   ")):
        response = await client.post(
            "/admin/chat/message/add/", {"room": room.pk, "author": author.pk, "body": body}
        )
        assert response.status_code == 200  # the form again, with errors
        assert b"errorlist" in response.content
    assert await Message.objects.acount() == 0


async def test_removing_a_member_in_the_admin_closes_their_socket(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    socket, _, _ = await open_room_socket(bob, room)
    client = await operator_client()
    response = await client.post(
        f"/admin/chat/room/{room.pk}/change/",
        await admin_room_form(room, {alice.pk: "member"}),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert await close_code(socket) == 4403


async def test_room_changelist_shows_member_and_message_counts_and_searches():
    alice = await make_user("alice")
    room = await make_room("needle-room", [alice])
    await make_room("haystack", [])
    await Message.objects.acreate(room=room, author=alice, body="x")
    client = await operator_client()
    page = (await client.get("/admin/chat/room/", {"q": "needle"})).content.decode()
    assert "needle-room" in page and "haystack" not in page
    assert 'class="field-member_count">1<' in page and 'class="field-message_count">1<' in page
    messages = (await client.get("/admin/chat/message/", {"room__id__exact": room.pk})).content
    assert b"needle-room" in messages


async def test_a_password_set_by_an_operator_closes_the_users_sockets(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    client = await operator_client()
    response = await client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": "brand-new-pass-42", "password2": "brand-new-pass-42"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert await close_code(socket) == 4401


async def test_deactivating_a_user_in_the_admin_closes_their_sockets(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    socket, _, _ = await open_room_socket(alice, room)
    client = await operator_client()
    response = await client.post(
        f"/admin/auth/user/{alice.pk}/change/",
        {
            "username": "alice",
            "is_active": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert await close_code(socket) == 4401


async def test_a_user_who_took_part_is_kept_and_the_operator_told_to_deactivate():
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await make_room("general", [alice, bob])
    message = await Message.objects.acreate(room=room, author=alice, body="still here")
    client = await operator_client()

    page = await client.get(f"/admin/auth/user/{alice.pk}/delete/")
    assert page.status_code == 200
    assert b"alice: 1 message(s), 0 reaction(s), 1 room(s). Deactivate instead" in page.content
    refused = await client.post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 200 and b"Deactivate instead" in refused.content

    chosen = [alice.pk, bob.pk, carol.pk]
    bulk = {"action": "delete_selected", "_selected_action": chosen, "post": "yes"}
    refused = await client.post("/admin/auth/user/", bulk)
    assert refused.status_code == 200
    assert b"bob: 0 message(s), 0 reaction(s), 1 room(s)" in refused.content
    assert b"carol:" not in refused.content  # she took no part: nothing to say about her
    users = get_user_model().objects.filter(pk__in=chosen)
    assert await users.acount() == 3, "one protected user stops the whole action"
    assert (await Message.objects.aget()).body == message.body

    deleted = await client.post(f"/admin/auth/user/{carol.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not await get_user_model().objects.filter(pk=carol.pk).aexists()


async def test_deleting_an_author_outside_the_admin_is_refused_too():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    await Message.objects.acreate(room=room, author=alice, body="kept")
    with pytest.raises(ProtectedError):
        await alice.adelete()
    assert await Message.objects.filter(author=alice).acount() == 1


async def test_the_username_of_a_user_who_took_part_cannot_be_changed_in_the_admin():
    alice, carol = await make_user("alice"), await make_user("carol")
    await make_room("general", [alice])
    client = await operator_client()
    dates = {
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
        "is_active": "on",
    }
    page = await client.get(f"/admin/auth/user/{alice.pk}/change/")
    assert b'name="username"' not in page.content  # shown as text, not a field
    response = await client.post(
        f"/admin/auth/user/{alice.pk}/change/", {"username": "mallory", **dates}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert (await get_user_model().objects.aget(pk=alice.pk)).username == "alice"
    response = await client.post(
        f"/admin/auth/user/{carol.pk}/change/", {"username": "caroline", **dates}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert (await get_user_model().objects.aget(pk=carol.pk)).username == "caroline"
