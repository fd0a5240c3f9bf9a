"""A room client for end-to-end tests that behaves like static/chat/room.js: it reconnects
with backoff and `?after=<last id>`, drops ids it has already seen, resends pending messages
with the same client_id, and fetches more over HTTP when the catch-up frame says has_more.
Also the HTTP helpers the tests post through (session + CSRF, as a browser does)."""

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field

import httpx
import websockets

from tests.liveserver import ServerProcess, socket_headers


async def open_room_socket(
    server: ServerProcess, client: httpx.Client, room: int, query: str = "", timeout: float = 10
) -> tuple[websockets.ClientConnection, dict, dict]:
    """A socket to the room, with its first two frames, which must be history and presence."""
    socket = await websockets.connect(
        server.ws_url(f"/ws/chat/room/{room}/{query}"),
        additional_headers=socket_headers(server, client),
        open_timeout=timeout,
    )
    opening = [json.loads(await asyncio.wait_for(socket.recv(), timeout)) for _ in range(2)]
    assert [frame["type"] for frame in opening] == ["history", "presence"]
    return socket, opening[0], opening[1]


def post_message(
    server: ServerProcess, client: httpx.Client, room: int, body: str, client_id: str | None = None
) -> dict:
    """POST /api/rooms/<id>/messages/ with the session and its CSRF token."""
    data = {"body": body} | ({"client_id": client_id} if client_id else {})
    response = client.post(
        f"/api/rooms/{room}/messages/",
        json=data,
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Origin": server.origin},
    )
    assert response.status_code in (200, 201), (response.status_code, response.text)
    return response.json()


def stored_messages(client: httpx.Client, room: int) -> list[dict]:
    """Every stored message of the room, read over the API page by page."""
    messages, after = [], 0
    while True:
        page = client.get(f"/api/rooms/{room}/messages/?after={after}&limit=100").json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = messages[-1]["id"]


async def open_socket(server: ServerProcess, client: httpx.Client, room: int, query: str = ""):
    return await websockets.connect(
        server.ws_url(f"/ws/chat/room/{room}/{query}"),
        additional_headers=socket_headers(server, client),
        open_timeout=10,
    )


async def next_of(socket, frame_type: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == frame_type:
                return frame


@dataclass
class RoomClient:
    server: ServerProcess
    http: httpx.Client
    room: int
    name: str
    view: list[dict] = field(default_factory=list)  # messages shown, in arrival order
    seen: set[int] = field(default_factory=set)
    pending: dict[str, str] = field(default_factory=dict)  # client_id -> body, unconfirmed
    last_id: int = 0
    duplicates_dropped: int = 0
    connects: int = 0
    close_codes: list[int | None] = field(default_factory=list)
    presence: list[str] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _socket: object = None
    _stopped: bool = False
    _task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stopped = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def ids(self) -> list[int]:
        return [m["id"] for m in self.view]

    async def send(self, body: str, client_id: str) -> None:
        """Like the send form: shown as pending until the server's copy arrives."""
        self.pending[client_id] = body
        await self._transmit(client_id, body)

    async def _transmit(self, client_id: str, body: str) -> None:
        socket = self._socket
        if socket is None:
            return  # goes out again on the next open
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send(json.dumps({"type": "message", "body": body, "client_id": client_id}))

    def _show(self, message: dict) -> None:
        if message["id"] in self.seen:
            self.duplicates_dropped += 1
            return
        self.seen.add(message["id"])
        self.view.append(message)
        self.pending.pop(message.get("client_id") or "", None)
        self.last_id = max(self.last_id, message["id"])

    async def _catch_up_over_http(self) -> None:
        while True:
            url = f"/api/rooms/{self.room}/messages/?limit=100&after={self.last_id}"
            page = (await asyncio.to_thread(self.http.get, url)).json()
            for message in page["messages"]:
                self._show(message)
            if not page["has_more"] or not page["messages"]:
                return

    async def _run(self) -> None:
        attempt = 0
        while not self._stopped:
            query = f"?after={self.last_id}" if self.last_id else ""
            try:
                self._socket = await open_socket(self.server, self.http, self.room, query)
                self.connects += 1
                attempt = 0
                opening = True
                for client_id, body in list(self.pending.items()):
                    await self._transmit(client_id, body)
                async for raw in self._socket:
                    frame = json.loads(raw)
                    if frame["type"] == "history" and opening:
                        opening = False
                        for message in frame["messages"]:
                            self._show(message)
                        if frame["has_more"]:
                            await self._catch_up_over_http()
                        self.connected.set()
                    elif frame["type"] == "message":
                        self._show(frame)
                    elif frame["type"] == "presence":
                        self.presence = frame["users"]
                self.close_codes.append(self._socket.close_code)
            except (TimeoutError, OSError, websockets.WebSocketException) as error:
                closed = isinstance(error, websockets.ConnectionClosed) and error.rcvd
                self.close_codes.append(error.rcvd.code if closed else None)
            self._socket = None
            self.connected.clear()
            if self._stopped:
                return
            # Backoff with jitter, like room.js (shorter, for a test).
            attempt += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2))
