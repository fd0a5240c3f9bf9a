"""The alert sockets against the real ASGI application: close codes, history, live frames,
membership changes, and hostile client frames."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import override_settings

from alert.groups import alert_room_group
from alert.models import Alert
from alert.services import alert_create
from chat.services.membership import (
    room_join,
    room_leave,
    user_sockets_close,
    user_sockets_leave_room,
)
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


async def test_room_alert_socket_close_codes():
    alice, mallory = await make_user("alice"), await make_user("mallory")
    room = await make_room("ops", [alice])
    path = f"/ws/alert/room/{room.pk}/"
    assert await closed_with(path, None) == 4401
    assert await closed_with(path, "sessionid=forged") == 4401
    assert await closed_with(path, await session_cookie(mallory)) == 4403
    assert await closed_with("/ws/alert/room/999999/", await session_cookie(alice)) == 4404


async def test_feed_socket_refuses_anonymous_with_4401():
    assert await closed_with("/ws/alerts/", None) == 4401


@override_settings(CSRF_TRUSTED_ORIGINS=[])
@pytest.mark.parametrize("origin", [None, "null", "http://evil.example"])
async def test_foreign_origins_are_refused_at_the_handshake(origin):
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    for path in ("/ws/alerts/", f"/ws/alert/room/{room.pk}/"):
        comm = communicator(path, await session_cookie(alice), origin=origin)
        connected, _ = await comm.connect(timeout=5)
        assert not connected, path


async def test_history_is_the_latest_20_ascending_of_the_users_rooms_only(open_alert_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    ops, secret = await make_room("ops", [alice, bob]), await make_room("secret", [bob])
    await Alert.objects.abulk_create(
        [Alert(room=ops, user=bob, content=f"a{i}", level="info") for i in range(25)]
    )
    await Alert.objects.acreate(room=secret, user=bob, content="not for alice")
    _, room_history = await open_alert_socket(alice, f"/ws/alert/room/{ops.pk}/")
    _, feed_history = await open_alert_socket(alice, "/ws/alerts/")
    for history in (room_history, feed_history):
        assert [a["content"] for a in history["alerts"]] == [f"a{i}" for i in range(5, 25)]
        first = history["alerts"][0]
        assert set(first) == {"id", "room_id", "username", "content", "level", "created"}
        assert first["username"] == "bob" and first["created"].endswith("Z")


async def test_feed_follows_every_room_of_the_user(open_alert_socket):
    alice = await make_user("alice")
    ops, lobby = await make_room("ops", [alice]), await make_room("lobby", [alice])
    feed, _ = await open_alert_socket(alice, "/ws/alerts/")
    await alert_create(room=ops, user=alice, content="one", level="info")
    await alert_create(room=lobby, user=alice, content="two", level="critical")
    frames = [await feed.recv_type("alert"), await feed.recv_type("alert")]
    assert [(f["room_id"], f["content"], f["level"]) for f in frames] == [
        (ops.pk, "one", "info"),
        (lobby.pk, "two", "critical"),
    ]


def group_size(group: str) -> int:
    """Members of a group on the in-memory layer: a join or leave is handled by the consumer
    after the service returns, so the test waits for it rather than racing it."""
    return len(get_channel_layer().groups.get(group, {}))


async def until(condition, timeout: float = 3) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def test_feed_starts_following_a_room_joined_and_stops_on_leaving(open_alert_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    lobby = await make_room("lobby", [bob], is_public=True)
    feed, _ = await open_alert_socket(alice, "/ws/alerts/")
    await alert_create(room=lobby, user=bob, content="before joining")
    assert await feed.nothing_of("alert")
    group = alert_room_group(lobby.pk)
    await room_join(room=lobby, user=alice)
    await until(lambda: group_size(group) == 1)
    await alert_create(room=lobby, user=bob, content="after joining")
    assert (await feed.recv_type("alert"))["content"] == "after joining"
    await room_leave(room=lobby, user=alice)
    await until(lambda: group_size(group) == 0)
    await alert_create(room=lobby, user=bob, content="after leaving")
    assert await feed.nothing_of("alert")
    await feed.send({"type": "ping"})  # still open, still answering
    assert (await feed.recv_type("error"))["code"] == "unknown_type"


async def test_room_alert_socket_closes_4403_when_the_member_is_removed(open_alert_socket):
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    socket, _ = await open_alert_socket(alice, f"/ws/alert/room/{room.pk}/")
    await sync_to_async(room.users.remove)(alice)
    await user_sockets_leave_room(user_id=alice.pk, room_id=room.pk)
    assert await close_code(socket) == 4403


async def test_logging_out_closes_alert_sockets_4401(open_alert_socket):
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    sockets = [
        (await open_alert_socket(alice, path))[0]
        for path in ("/ws/alerts/", f"/ws/alert/room/{room.pk}/")
    ]
    await user_sockets_close(user_id=alice.pk)
    for socket in sockets:
        assert await close_code(socket) == 4401


async def test_room_chat_socket_carries_alert_frames(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("ops", [alice, bob])
    chat, _, _ = await open_room_socket(bob, room)
    alert = await alert_create(room=room, user=alice, content="<b>hi</b>", level="warning")
    frame = await chat.recv_type("alert")
    assert (frame["id"], frame["content"], frame["level"]) == (alert.pk, "<b>hi</b>", "warning")
    await chat.send({"type": "message", "body": "chat still works"})
    assert (await chat.recv_type("message"))["body"] == "chat still works"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ("null", "bad_frame"),
        ('"text"', "bad_frame"),
        ('{"type": "alert", "content": "spoofed", "level": "critical"}', "unknown_type"),
        ('{"type": "message", "body": "x"}', "unknown_type"),
        ("{}", "unknown_type"),
    ],
)
async def test_client_frames_get_an_error_and_the_socket_stays(open_alert_socket, raw, code):
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    for path in ("/ws/alerts/", f"/ws/alert/room/{room.pk}/"):
        socket, _ = await open_alert_socket(alice, path)
        await socket.comm.send_to(text_data=raw)
        error = await socket.recv_type("error")
        assert error["code"] == code and error["detail"], error
        await alert_create(room=room, user=alice, content=f"still live on {path}")
        assert (await socket.recv_type("alert"))["content"] == f"still live on {path}"
    assert await Alert.objects.acount() == 2  # nothing a client sends is stored


async def test_binary_frame_gets_bad_frame(open_alert_socket):
    alice = await make_user("alice")
    socket, _ = await open_alert_socket(alice, "/ws/alerts/")
    await socket.comm.send_to(bytes_data=b"\x00\xffbinary")
    assert (await socket.recv_type("error"))["code"] == "bad_frame"


async def test_oversized_frame_closes_1009(open_alert_socket):
    alice = await make_user("alice")
    socket, _ = await open_alert_socket(alice, "/ws/alerts/")
    await socket.comm.send_to(text_data=json.dumps({"type": "x", "pad": "x" * 70000}))
    assert await close_code(socket) == 1009


@override_settings(CHAT_RATE_BURST=5, CHAT_RATE_PER_SECOND=0.01)
async def test_a_client_that_keeps_sending_junk_is_closed_4429(open_alert_socket):
    alice = await make_user("alice")
    socket, _ = await open_alert_socket(alice, "/ws/alerts/")
    for _ in range(5):
        await socket.comm.send_to(text_data="junk")
        assert (await socket.recv_type("error"))["code"] == "bad_json"
    await socket.comm.send_to(text_data="junk")
    assert await close_code(socket) == 4429


async def test_a_room_id_beyond_any_integer_column_closes_4404():
    alice = await make_user("alice")
    assert await closed_with(f"/ws/alert/room/{'9' * 30}/", await session_cookie(alice)) == 4404


async def test_alerts_joins_and_closing_take_no_thread_hop(open_alert_socket, monkeypatch):
    """channels hops to a thread (close_old_connections) before every handler; the alert
    sockets' handlers keep to memory, so only the open, which reads, takes it."""
    hops = counted_hops(monkeypatch)
    alice, bob = await make_user("alice"), await make_user("bob")
    ops = await make_room("ops", [alice])
    lobby = await make_room("lobby", [bob], is_public=True)
    feed, _ = await open_alert_socket(alice, "/ws/alerts/")
    room_socket, _ = await open_alert_socket(alice, f"/ws/alert/room/{ops.pk}/")
    assert hops == ["hop", "hop"]
    await alert_create(room=ops, user=alice, content="disk", level="critical")
    for socket in (feed, room_socket):
        assert (await socket.recv_type("alert"))["content"] == "disk"
    await room_join(room=lobby, user=alice)
    await until(lambda: group_size(alert_room_group(lobby.pk)) == 1)
    await feed.send({"type": "ping"})
    assert (await feed.recv_type("error"))["code"] == "unknown_type"
    await feed.close()
    await room_socket.close()
    assert hops == ["hop", "hop"]
