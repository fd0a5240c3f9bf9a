"""Every way in delivers the alert live to a connected member's sockets (the per-room alert
socket, the all-rooms feed and the room page's chat socket). The admin and the management
command are sync code: these tests are what catch a group_send that silently does nothing."""

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import AsyncClient

from alert.models import Alert
from tests.alert.conftest import bearer, csrf_token, logged_in, make_staff
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def listening(open_alert_socket, open_room_socket):
    """Alice (poster) and Bob (listener) in a room, Bob with all three kinds of socket open."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("ops", [alice, bob])
    room_alerts, _ = await open_alert_socket(bob, f"/ws/alert/room/{room.pk}/")
    feed, _ = await open_alert_socket(bob, "/ws/alerts/")
    chat, _, _ = await open_room_socket(bob, room)
    return alice, room, [room_alerts, feed, chat]


async def assert_delivered(sockets, content: str, level: str, username: str = "alice"):
    stored = await Alert.objects.select_related("user").aget(content=content)
    for socket in sockets:
        frame = await socket.recv_type("alert", timeout=5)
        assert frame == {
            "type": "alert",
            "id": stored.pk,
            "room_id": stored.room_id,
            "username": username,
            "content": content,
            "level": level,
            "created": frame["created"],
        }
    assert stored.level == level and stored.user.username == username


async def test_room_page_form_without_javascript(listening):
    alice, room, sockets = listening
    client = await logged_in(alice)
    token = await csrf_token(client, f"/chat/room/{room.pk}/")
    response = await client.post(
        f"/alerts/room/{room.pk}/post/",
        {"content": "disk 91% on db-1", "level": "warning", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and response["Location"] == f"/chat/room/{room.pk}/"
    await assert_delivered(sockets, "disk 91% on db-1", "warning")


async def test_api_with_session_and_csrf(listening):
    alice, room, sockets = listening
    client = await logged_in(alice)
    token = await csrf_token(client)
    response = await client.post(
        f"/api/rooms/{room.pk}/alerts/",
        {"content": "deploy started", "level": "info"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content
    await assert_delivered(sockets, "deploy started", "info")
    assert response.json()["content"] == "deploy started"


async def test_api_with_bearer_token(listening):
    alice, room, sockets = listening
    response = await AsyncClient().post(
        f"/api/rooms/{room.pk}/alerts/",
        {"content": "api latency high", "level": "critical"},
        content_type="application/json",
        headers=await bearer(alice),
    )
    assert response.status_code == 201, response.content
    await assert_delivered(sockets, "api latency high", "critical")


async def test_admin_add_form(listening):
    alice, room, sockets = listening
    client = AsyncClient()
    await client.aforce_login(await make_staff())
    response = await client.post(
        "/admin/alert/alert/add/",
        {"room": room.pk, "user": alice.pk, "level": "warning", "content": "from the admin"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    await assert_delivered(sockets, "from the admin", "warning")


async def test_management_command(listening):
    _, room, sockets = listening
    arguments = ["--room", str(room.pk), "--user", "alice", "--level", "critical", "cron says hi"]
    await sync_to_async(call_command)("send_alert", *arguments)
    await assert_delivered(sockets, "cron says hi", "critical")


async def test_an_alert_reaches_only_the_room_it_was_posted_to(open_alert_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    ops, lobby = await make_room("ops", [alice, bob]), await make_room("lobby", [alice, bob])
    lobby_socket, _ = await open_alert_socket(bob, f"/ws/alert/room/{lobby.pk}/")
    ops_socket, _ = await open_alert_socket(bob, f"/ws/alert/room/{ops.pk}/")
    await sync_to_async(call_command)("send_alert", "--room", str(ops.pk), "--user", "alice", "x")
    assert (await ops_socket.recv_type("alert"))["room_id"] == ops.pk
    assert await lobby_socket.nothing_of("alert")
