"""Rooms people run themselves, across two real Daphne processes on one Redis and one
PostgreSQL: a member added through one process sees the room appear on a room list held by
the other, a member removed through the other has their room socket on the first closed
with 4403, and `active` counts people on both."""

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.e2e.livechat import next_of, open_room_socket
from tests.liveserver import (
    ServerProcess,
    login,
    socket_headers,
)
from tests.services import scaled_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes, started once for the module."""
    with scaled_service(tmp_path_factory.mktemp("rooms-processes")) as service:
        yield tuple(service.servers)


def call(server: ServerProcess, client: httpx.Client, method: str, path: str, data=None):
    headers = {"X-CSRFToken": client.cookies["csrftoken"], "Origin": server.origin}
    return client.request(method, path, json=data, headers=headers)


def new_room(server: ServerProcess, owner: httpx.Client) -> int:
    response = call(server, owner, "POST", "/api/rooms/", {"name": f"r-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def open_room_list(server: ServerProcess, client: httpx.Client):
    socket = await websockets.connect(
        server.ws_url("/ws/rooms/"), additional_headers=socket_headers(server, client)
    )
    opening = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert opening["type"] == "rooms"
    return socket, opening


async def test_added_on_one_process_appears_on_the_other_and_removal_closes_4403(servers):
    first, second = servers
    alice_a, alice_b = login(first, "alice"), login(second, "alice")
    bob_a, bob_b = login(first, "bob"), login(second, "bob")
    room = new_room(first, alice_a)
    bob_list, _ = await open_room_list(second, bob_b)
    added = call(first, alice_a, "POST", f"/api/rooms/{room}/members/", {"username": "bob"})
    assert added.status_code == 201
    joined = await next_of(bob_list, "room_joined")
    assert joined["room"]["id"] == room and joined["room"]["role"] == "member"

    bob_socket, _, _ = await open_room_socket(first, bob_a, room)
    removed = call(second, alice_b, "DELETE", f"/api/rooms/{room}/members/bob/")
    assert removed.status_code == 200
    async with asyncio.timeout(10):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await bob_socket.recv()
    assert closed.value.rcvd.code == 4403
    assert await next_of(bob_list, "room_left") == {"type": "room_left", "room_id": room}
    await bob_list.close()


async def test_active_counts_people_on_both_processes(servers):
    first, second = servers
    alice, bob, carol = login(first, "alice"), login(second, "bob"), login(first, "carol")
    room = new_room(first, alice)
    for name in ("bob", "carol"):
        call(first, alice, "POST", f"/api/rooms/{room}/members/", {"username": name})
    carol_list, _ = await open_room_list(second, login(second, "carol"))
    alice_socket, _, _ = await open_room_socket(first, alice, room)
    bob_socket, _, _ = await open_room_socket(second, bob, room)
    async with asyncio.timeout(10):
        while (await next_of(carol_list, "active"))["count"] != 2:
            pass
    carol_on_first, opening = await open_room_list(first, carol)
    assert {r["room_id"]: r["active"] for r in opening["rooms"]}[room] == 2
    await carol_on_first.close()
    await bob_socket.close()
    async with asyncio.timeout(10):
        while (await next_of(carol_list, "active"))["count"] != 1:
            pass
    await alice_socket.close()
    await carol_list.close()
