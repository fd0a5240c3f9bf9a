"""Every close the server decides on reaches the client as that code, whatever server runs
the application (docs/protocol.md, WebSocket; DESIGN.md, trap 8): plain `daphne`, the
project's `python -m mychannels.serve`, `manage.py runserver` and uvicorn, each a real process
on SQLite and a real Redis, started once per server kind for the whole module.

1009 and 1012 are the codes autobahn refused to send under Daphne (the client saw 1011 and the
server logged "Exception inside application"); mychannels/runtime/closecodes.py lets them
through."""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from channels_redis.pubsub import RedisPubSubChannelLayer

from chat.groups import room_group, user_group
from tests.e2e.livechat import next_of, post_message
from tests.liveserver import (
    SERVER_KINDS,
    ServerProcess,
    ServiceConfig,
    login,
    prepare_database,
    room_id,
    socket_headers,
    start_server,
)
from tests.services import ensure_redis

pytestmark = pytest.mark.e2e

# CHAT_MAX_SOCKETS_PER_USER for these servers: above what any other test opens at once (a
# closed socket stops counting only once the server has run its disconnect).
SOCKET_CAP = 5
# Over the application's 64 KiB limit but under plain Daphne's and uvicorn's own (1 and
# 16 MiB), so that under those two the consumer refuses it (the project's entries refuse it in
# the protocol layer); and over plain Daphne's too, where autobahn refuses it.
OVERSIZED_FRAMES = {
    "200KiB": json.dumps({"type": "message", "body": "x" * (200 * 1024)}),
    "2MiB": json.dumps({"type": "message", "body": "x" * (2 * 1024 * 1024)}),
}
# What a server writes when a close it was asked for fails inside it.
SERVER_FAILURES = ("Exception inside application", "invalid close code", "Traceback")


@dataclass
class LiveService:
    kind: str
    server: ServerProcess
    layer_prefix: str
    redis_url: str
    database_path: Path

    def user_id(self, username: str) -> int:
        with sqlite3.connect(self.database_path) as database:
            row = database.execute(
                "SELECT id FROM auth_user WHERE username = ?", (username,)
            ).fetchone()
        return row[0]

    async def send_to_group(self, group: str, event: dict) -> None:
        """A group event through the same Redis channel layer the server listens on."""
        layer = RedisPubSubChannelLayer(hosts=[self.redis_url], prefix=self.layer_prefix)
        try:
            await layer.group_send(group, event)
        finally:
            await layer.flush()

    def assert_nothing_failed_inside(self) -> None:
        log = self.server.log()
        for failure in SERVER_FAILURES:
            assert failure not in log, f"{self.kind} logged {failure!r}:\n{log[-4000:]}"


@pytest.fixture(scope="module", params=SERVER_KINDS)
def service(request, tmp_path_factory) -> Iterator[LiveService]:
    kind = request.param
    log_dir = tmp_path_factory.mktemp(f"close-codes-{kind}")
    database_path = log_dir / "db.sqlite3"
    config = ServiceConfig(database_url=f"sqlite:///{database_path}", redis_url=ensure_redis())
    prefix = config.env()["CHANNEL_LAYER_PREFIX"]  # fixed, so that the test can reach its layer
    config.extra_env.update(CHANNEL_LAYER_PREFIX=prefix, CHAT_MAX_SOCKETS_PER_USER=str(SOCKET_CAP))
    prepare_database(config)
    server = start_server(config, log_dir, kind)
    yield LiveService(kind, server, prefix, config.redis_url, database_path)
    server.stop()


@pytest.fixture(scope="module")
def sessions(service) -> dict[str, httpx.Client]:
    """Demo users logged in through the allauth form, once per server. Each test uses users
    of its own: flood buckets and socket counts are per user, in Redis, for the whole module."""
    return {name: login(service.server, name) for name in ("alice", "bob", "carol", "dave")}


async def connect(service: LiveService, session: httpx.Client | None, path: str):
    headers = (
        socket_headers(service.server, session)
        if session is not None
        else {"Origin": service.server.origin}
    )
    return await websockets.connect(
        service.server.ws_url(path), additional_headers=headers, open_timeout=15
    )


async def close_code_of(socket: websockets.ClientConnection, timeout: float = 15) -> int | None:
    """The code of the close frame the server sends, skipping the frames before it."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.fixture
async def opened_sockets() -> AsyncIterator[list]:
    sockets: list = []
    yield sockets
    for socket in sockets:
        await socket.close()


async def test_refusals_close_4401_4403_4404(service, sessions):
    alice, bob = sessions["alice"], sessions["bob"]
    ops = room_id(alice, "ops")  # alice and carol only
    anonymous = await connect(service, None, f"/ws/chat/room/{ops}/")
    assert await close_code_of(anonymous) == 4401
    not_member = await connect(service, bob, f"/ws/chat/room/{ops}/")
    assert await close_code_of(not_member) == 4403
    no_room = await connect(service, alice, "/ws/chat/room/987654321/")
    assert await close_code_of(no_room) == 4404
    for path in (f"/ws/alert/room/{ops}/", "/ws/alerts/", "/ws/rooms/"):
        assert await close_code_of(await connect(service, None, path)) == 4401, path
    service.assert_nothing_failed_inside()


async def test_one_socket_over_the_cap_closes_4409(service, sessions, opened_sockets):
    dave = sessions["dave"]
    general = room_id(dave, "general")
    for _ in range(SOCKET_CAP):
        socket = await connect(service, dave, f"/ws/chat/room/{general}/")
        opened_sockets.append(socket)
        assert (await next_of(socket, "presence"))["type"] == "presence"
    over_the_cap = await connect(service, dave, "/ws/alerts/")
    assert await close_code_of(over_the_cap) == 4409
    service.assert_nothing_failed_inside()


async def test_a_flooding_client_is_closed_4429(service, sessions):
    carol = sessions["carol"]
    socket = await connect(service, carol, f"/ws/chat/room/{room_id(carol, 'general')}/")
    await next_of(socket, "presence")
    for _ in range(1000):  # past the request burst (100), then the strikes (20)
        try:
            await socket.send(json.dumps({"type": "typing"}))
        except websockets.ConnectionClosed:
            break
    assert await close_code_of(socket) == 4429
    service.assert_nothing_failed_inside()


# Each socket's path and the last frame of its opening.
SOCKET_OPENINGS = {
    "/ws/chat/room/{general}/": "presence",
    "/ws/alerts/": "history",
    "/ws/rooms/": "rooms",
}


@pytest.mark.parametrize("size", OVERSIZED_FRAMES)
@pytest.mark.parametrize("path", SOCKET_OPENINGS)
async def test_an_oversized_frame_closes_1009(service, sessions, path, size):
    alice = sessions["alice"]
    socket = await connect(service, alice, path.format(general=room_id(alice, "general")))
    # The whole opening first: under Daphne a send that meets a socket the protocol has just
    # closed raises inside the application (a race of its own, not about the close code).
    await next_of(socket, SOCKET_OPENINGS[path])
    await socket.send(OVERSIZED_FRAMES[size])
    assert await close_code_of(socket) == 1009
    service.assert_nothing_failed_inside()


async def test_lost_events_close_1012_and_the_room_socket_catches_up(service, sessions):
    bob = sessions["bob"]
    random_room = room_id(bob, "random")  # alice and bob
    room_socket = await connect(service, bob, f"/ws/chat/room/{random_room}/")
    opening = await next_of(room_socket, "history")
    last_seen = max((m["id"] for m in opening["messages"]), default=0)
    await next_of(room_socket, "presence")
    feed_socket = await connect(service, bob, "/ws/alerts/")
    list_socket = await connect(service, bob, "/ws/rooms/")
    await next_of(feed_socket, "history")
    await next_of(list_socket, "rooms")

    # What the pub/sub layer puts in each of a process's channels when its Redis connection
    # came back (mychannels/runtime/layers.py); sent here to the user's group, which all three join.
    await service.send_to_group(user_group(service.user_id("bob")), {"type": "layer.gap"})
    for socket in (room_socket, feed_socket, list_socket):
        assert await close_code_of(socket) == 1012
    missed = post_message(service.server, sessions["alice"], random_room, "while bob was away")

    again = await connect(service, bob, f"/ws/chat/room/{random_room}/?after={last_seen}")
    caught_up = await next_of(again, "history")
    assert [m["id"] for m in caught_up["messages"]] == [missed["id"]]
    await service.send_to_group(room_group(random_room), {"type": "layer.gap"})
    assert await close_code_of(again) == 1012  # the room's group reaches it too
    service.assert_nothing_failed_inside()
