"""`notify` across processes: a message posted on one Daphne process reaches the room list
socket of the mentioned user held by another, through the Redis layer and the per-user group;
the author, members not mentioned, a muted room and a self-mention hear nothing. The two
processes and their PostgreSQL database are started once for the module."""

import asyncio
import contextlib
import json
from collections.abc import Iterator

import pytest
import websockets

from tests.e2e.livechat import next_of, post_message
from tests.liveserver import (
    ServerProcess,
    login,
    room_id,
    socket_headers,
)
from tests.services import scaled_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def processes(tmp_path_factory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with scaled_service(tmp_path_factory.mktemp("notify")) as service:
        yield tuple(service.servers)


@contextlib.asynccontextmanager
async def room_list(server: ServerProcess, client):
    """A `/ws/rooms/` socket, its opening `rooms` frame read."""
    socket = await websockets.connect(
        server.ws_url("/ws/rooms/"), additional_headers=socket_headers(server, client)
    )
    try:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "rooms"
        yield socket
    finally:
        await socket.close()


async def notifies_within(socket, seconds: float = 1.5) -> list[dict]:
    frames = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frame = json.loads(await socket.recv())
                if frame["type"] == "notify":
                    frames.append(frame)
    return frames


def mute(server: ServerProcess, client, room: int) -> None:
    response = client.post(
        f"/settings/rooms/{room}/mute/",
        data={"muted": "1", "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Origin": server.origin, "Referer": f"{server.url}/settings/"},
    )
    assert response.status_code == 302, response.text


@pytest.fixture(scope="module")
def clients(processes):
    first, second = processes
    return {name: login(first if name == "alice" else second, name) for name in DEMO}


DEMO = ("alice", "bob", "carol")


async def test_a_mention_on_one_process_notifies_on_the_other(processes, clients):
    first, second = processes
    general = room_id(clients["alice"], "general")
    async with (
        room_list(second, clients["bob"]) as bob,
        room_list(second, clients["carol"]) as carol,
        room_list(first, clients["alice"]) as alice,
    ):
        message = post_message(first, clients["alice"], general, "@bob the build is green")
        frame = await next_of(bob, "notify", timeout=10)
        assert frame["room_id"] == general
        assert frame["message"]["id"] == message["id"]
        assert frame["message"]["mentions"] == ["bob"]
        assert frame["message"]["body"] == "@bob the build is green"
        assert await notifies_within(carol) == []
        assert await notifies_within(alice, 0.5) == []


async def test_self_mention_and_muted_room_notify_nobody(processes, clients):
    first, second = processes
    general, random_room = (room_id(clients["alice"], name) for name in ("general", "random"))
    mute(second, clients["bob"], random_room)
    async with (
        room_list(second, clients["bob"]) as bob,
        room_list(first, clients["alice"]) as alice,
    ):
        post_message(first, clients["alice"], general, "reminder for @alice")
        post_message(first, clients["alice"], random_room, "@bob in a muted room")
        assert await notifies_within(alice) == []
        assert await notifies_within(bob, 0.5) == []
        post_message(first, clients["alice"], general, "@bob still here")
        assert [f["message"]["body"] for f in await notifies_within(bob)] == ["@bob still here"]


async def test_unread_counts_follow_every_message_in_order_across_processes(processes, clients):
    """An idle list takes a message's count in the channel layer's pass over the room
    (RoomListConsumer.DIRECT_EVENTS): each count in order, a mention counted, and a read
    marker, which recounts through the database, back to none."""
    first, second = processes
    general = room_id(clients["alice"], "general")
    async with room_list(second, clients["carol"]) as carol:
        bodies = ["one", "two for @carol", "three", "four"]
        posted = [post_message(first, clients["alice"], general, body) for body in bodies]
        counts = [await next_of(carol, "unread") for _ in posted]
        assert {c["room_id"] for c in counts} == {general}
        start_unread, start_mentions = counts[0]["unread"] - 1, counts[0]["mentions"]
        assert [c["unread"] - start_unread for c in counts] == [1, 2, 3, 4]
        assert [c["mentions"] for c in counts] == [start_mentions] + [start_mentions + 1] * 3
        room_socket = await websockets.connect(
            second.ws_url(f"/ws/chat/room/{general}/"),
            additional_headers=socket_headers(second, clients["carol"]),
        )
        try:
            await next_of(room_socket, "history")
            await room_socket.send(json.dumps({"type": "read", "id": posted[-1]["id"]}))
            assert await next_of(carol, "unread") == {
                "type": "unread",
                "room_id": general,
                "unread": 0,
                "mentions": 0,
            }
        finally:
            await room_socket.close()
