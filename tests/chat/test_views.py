"""Pages: login required everywhere, 403/404 on rooms, join/leave rules, text never as HTML."""

import pytest
from django.test import AsyncClient

from chat.models import Message, Room
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/chat/room/1/"])
async def test_anonymous_users_are_redirected_to_login(path):
    response = await AsyncClient().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


async def test_login_and_signup_pages_are_open():
    for path in ("/accounts/login/", "/accounts/signup/"):
        assert (await AsyncClient().get(path)).status_code == 200


async def test_signup_with_username_and_password_logs_in():
    client = AsyncClient()
    response = await client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "a-long-pass-123", "password2": "a-long-pass-123"},
    )
    assert response.status_code == 302
    assert (await client.get("/")).status_code == 200


async def test_index_lists_my_rooms_with_unread_and_public_rooms_to_join():
    alice, bob = await make_user("alice"), await make_user("bob")
    mine = await make_room("mine", [alice, bob])
    await make_room("open-house", [bob], is_public=True)
    await make_room("secret", [bob])
    await Message.objects.abulk_create(
        [Message(room=mine, author=bob, body="hi"), Message(room=mine, author=alice, body="yo")]
    )
    page = (await (await logged_in(alice)).get("/")).content.decode()
    assert 'href="/chat/room/' in page and "mine" in page
    assert 'data-unread="1"' in page  # only bob's message counts as unread for alice
    assert "open-house" in page
    assert "secret" not in page


async def test_room_page_403_for_non_member_404_for_no_room():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("general", [alice])
    client = await logged_in(mallory)
    assert (await client.get(f"/chat/room/{room.pk}/")).status_code == 403
    assert (await client.get("/chat/room/999999/")).status_code == 404
    page = await (await logged_in(alice)).get(f"/chat/room/{room.pk}/")
    assert page.status_code == 200
    assert b"chat/room.js" in page.content


async def test_join_is_post_only_and_public_only():
    alice = await make_user("alice")
    public = await make_room("lobby", [], is_public=True)
    private = await make_room("vault", [])
    client = await logged_in(alice)
    assert (await client.get(f"/chat/room/{public.pk}/join/")).status_code == 405
    assert (await client.post(f"/chat/room/{private.pk}/join/")).status_code == 403
    assert (await client.post("/chat/room/999999/join/")).status_code == 404
    joined = await client.post(f"/chat/room/{public.pk}/join/")
    assert joined.status_code == 302 and joined["Location"] == f"/chat/room/{public.pk}/"
    assert await public.users.filter(pk=alice.pk).aexists()
    assert not await private.users.filter(pk=alice.pk).aexists()


async def test_leave_removes_membership_and_closes_the_socket(open_room_socket):
    alice = await make_user("alice")
    room = await make_room("lobby", [alice], is_public=True)
    socket, _, _ = await open_room_socket(alice, room)
    response = await (await logged_in(alice)).post(f"/chat/room/{room.pk}/leave/")
    assert response.status_code == 302
    assert not await room.users.filter(pk=alice.pk).aexists()
    while True:
        output = await socket.comm.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4403


async def test_hostile_room_names_and_usernames_render_as_text():
    hostile = "<script>alert(1)</script>"
    user = await make_user("eve<b>")
    await Room.objects.acreate(name=hostile, is_public=True)
    room = await make_room(f"{hostile}2", [user])
    client = await logged_in(user)
    for path in ("/", f"/chat/room/{room.pk}/"):
        page = (await client.get(path)).content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "eve&lt;b&gt;" in (await client.get("/")).content.decode()
