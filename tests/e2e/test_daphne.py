"""The real service end to end: Daphne processes, users logged in through the allauth form,
real WebSocket clients."""

import asyncio
import json

import pytest
import websockets

from tests.e2e.livechat import next_of, open_room_socket
from tests.liveserver import login, room_id, socket_headers, start_daphne

pytestmark = pytest.mark.e2e


async def test_two_users_chat_live_through_daphne(sqlite_service):
    alice, bob = login(sqlite_service, "alice"), login(sqlite_service, "bob")
    general = room_id(alice, "general")
    alice_socket, _, _ = await open_room_socket(sqlite_service, alice, general)
    bob_socket, _, presence = await open_room_socket(sqlite_service, bob, general)
    assert presence["users"] == ["alice", "bob"]
    await alice_socket.send(json.dumps({"type": "message", "body": "hi bob", "client_id": "a1"}))
    for socket in (alice_socket, bob_socket):
        frame = await next_of(socket, "message")
        assert (frame["username"], frame["body"], frame["client_id"]) == ("alice", "hi bob", "a1")
    # The message is on record: the HTTP API and a later socket see it.
    page = bob.get(f"/api/rooms/{general}/messages/").json()
    assert [m["body"] for m in page["messages"]] == ["hi bob"]
    await alice_socket.close()
    await bob_socket.close()


async def test_logged_out_socket_and_foreign_origin_are_refused(sqlite_service):
    alice = login(sqlite_service, "alice")
    general = room_id(alice, "general")
    headers = socket_headers(sqlite_service, alice)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            sqlite_service.ws_url(f"/ws/chat/room/{general}/"),
            additional_headers={**headers, "Origin": "http://evil.example"},
        )
    assert refused.value.response.status_code == 403
    anonymous = await websockets.connect(
        sqlite_service.ws_url(f"/ws/chat/room/{general}/"),
        additional_headers={"Origin": sqlite_service.origin},
    )
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(anonymous.recv(), 5)
    assert closed.value.rcvd.code == 4401


async def test_scaled_setup_postgres_and_redis(scaled_config, tmp_path):
    server = start_daphne(scaled_config, tmp_path)
    try:
        alice, carol = login(server, "alice"), login(server, "carol")
        ops = room_id(alice, "ops")
        alice_socket, _, _ = await open_room_socket(server, alice, ops)
        carol_socket, _, _ = await open_room_socket(server, carol, ops)
        await carol_socket.send(json.dumps({"type": "message", "body": "on redis"}))
        assert (await next_of(alice_socket, "message"))["body"] == "on redis"
        await alice_socket.close()
        await carol_socket.close()
    finally:
        server.stop()
