"""Who may hold a socket: forged, expired, logged-out and stale sessions are refused at the
door (4401), and a member removed from a room (by leaving in another tab, or by an operator
in the admin) is cut off from it at once (4403), with no way back in."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client
from django.utils import timezone

from chat.models import Message
from mychannels.models import LoginSession
from tests.conftest import (
    Socket,
    admin_room_form,
    communicator,
    make_room,
    make_user,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def close_code(path: str, cookie: str | None) -> int | None:
    """The code the server closes a new socket with, or None if it was let in."""
    comm = communicator(path, cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    output = await comm.receive_output(timeout=3)
    await comm.disconnect()
    return output.get("code") if output["type"] == "websocket.close" else None


async def next_close(socket: Socket) -> int:
    while (output := await socket.comm.receive_output(timeout=5))["type"] != "websocket.close":
        pass
    return output["code"]


@pytest.fixture
async def alice_in_general():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    return alice, room, f"/ws/chat/room/{room.pk}/"


async def test_a_valid_session_gets_in(alice_in_general):
    alice, _, path = alice_in_general
    assert await close_code(path, await session_cookie(alice)) is None


@pytest.mark.parametrize(
    "cookie",
    [
        "sessionid=forged",
        "sessionid=" + "a" * 32,
        "sessionid=",
        "sessionid=../../etc/passwd",
        "sessionid=x; sessionid=y",
    ],
)
async def test_forged_session_cookies_are_refused(alice_in_general, cookie):
    _, _, path = alice_in_general
    assert await close_code(path, cookie) == 4401


async def test_an_expired_session_is_refused(alice_in_general):
    alice, _, path = alice_in_general
    cookie = await session_cookie(alice)
    key = cookie.split("=", 1)[1]
    await LoginSession.objects.filter(session_key=key).aupdate(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert await close_code(path, cookie) == 4401


async def test_a_session_from_before_a_password_change_is_refused(alice_in_general):
    alice, _, path = alice_in_general
    cookie = await session_cookie(alice)
    alice.set_password("a-new-password-2026")
    await alice.asave()
    assert await close_code(path, cookie) == 4401


async def test_a_deactivated_user_is_refused(alice_in_general):
    alice, _, path = alice_in_general
    cookie = await session_cookie(alice)
    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=False)
    assert await close_code(path, cookie) == 4401


async def test_a_cookie_from_a_logged_out_session_is_refused(alice_in_general):
    _, _, path = alice_in_general
    client = Client()

    def log_in_and_out() -> str:
        assert client.login(username="alice", password="pw-for-tests-1")
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        client.get("/accounts/logout/")  # the confirmation page sets the CSRF cookie
        token = client.cookies["csrftoken"].value
        assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
        return cookie

    cookie = await sync_to_async(log_in_and_out)()
    assert await close_code(path, cookie) == 4401


async def test_leaving_a_room_cuts_off_every_tab_at_once(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("lobby", [alice, bob], is_public=True)
    tab_one, _, _ = await open_room_socket(alice, room)
    tab_two, _, _ = await open_room_socket(alice, room)
    watcher, _, _ = await open_room_socket(bob, room)
    client = Client()
    await sync_to_async(client.force_login)(alice)
    response = await sync_to_async(client.post)(f"/chat/room/{room.pk}/leave/")
    assert response.status_code == 302
    assert await next_close(tab_one) == 4403
    assert await next_close(tab_two) == 4403
    await watcher.send({"type": "message", "body": "alice is gone"})
    assert (await watcher.recv_type("message"))["body"] == "alice is gone"
    cookie = await session_cookie(alice)
    assert await close_code(f"/ws/chat/room/{room.pk}/", cookie) == 4403


async def test_removal_in_the_admin_cuts_the_member_off_at_once(open_room_socket):
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("ops", [alice, mallory])
    mallory_socket, _, _ = await open_room_socket(mallory, room)
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="pw-for-tests-1"
    )
    client = Client()
    await sync_to_async(client.force_login)(admin)
    # The member inline without mallory's row, as the operator submits it.
    form = await admin_room_form(room, {alice.pk: "member"})
    response = await sync_to_async(client.post)(f"/admin/chat/room/{room.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert await next_close(mallory_socket) == 4403
    cookie = await session_cookie(mallory)
    assert await close_code(f"/ws/chat/room/{room.pk}/", cookie) == 4403
    api = AsyncClient()
    await api.aforce_login(mallory)
    posted = await api.post(
        f"/api/rooms/{room.pk}/messages/", {"body": "still here?"}, content_type="application/json"
    )
    assert posted.status_code == 403
    assert not await Message.objects.filter(room=room).aexists()


NUL_COOKIE = f'{settings.SESSION_COOKIE_NAME}="abcdefgh\\000abcdefgh"'  # unescaped into a NUL


def test_a_session_cookie_with_a_nul_is_no_session_on_pages_too():
    """PostgreSQL refuses a lookup with a NUL (DataError): pages answered 500 to this cookie
    (mychannels/runtime/sessions.py). Now it is no session: the login page, the redirect to it, and
    a login that replaces the cookie."""
    make_user_sync = get_user_model().objects.create_user
    make_user_sync("carol", password="pw-for-tests-1")
    client = Client(raise_request_exception=False)
    client.cookies.load(NUL_COOKIE)
    assert "\x00" in client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/accounts/login/").status_code == 200
    home = client.get("/")
    assert home.status_code == 302 and "/accounts/login/" in home["Location"]
    client.cookies.load(NUL_COOKIE)
    assert (
        client.post(
            "/accounts/login/", {"login": "carol", "password": "pw-for-tests-1"}
        ).status_code
        == 302
    )
    assert client.get("/").status_code == 200
