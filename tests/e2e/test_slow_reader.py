"""A member whose socket stops reading while the room talks (CHAT_SOCKET_SEND_BUFFER_BYTES):
a real server process, a raw TCP client with a tiny receive buffer that completes the
WebSocket handshake and then never reads, and members that keep sending and reading. The
server must close the stalled socket within seconds (its user leaves presence), hold no more
than a bound for it, and keep delivering to everyone else, under every Daphne entry."""

import asyncio
import base64
import json
import os
import socket
import struct
import time

import psutil
import pytest

from tests.e2e.livechat import next_of, open_socket
from tests.liveserver import ServerProcess, login, room_id, start_server

pytestmark = pytest.mark.e2e

LIMIT = 1 << 20  # the default
FAST = {
    "CHAT_RATE_PER_SECOND": "10000",
    "CHAT_RATE_BURST": "10000",
    "CHAT_REQUEST_RATE_PER_SECOND": "10000",
    "CHAT_REQUEST_BURST": "10000",
    "CHAT_SOCKET_SEND_BUFFER_BYTES": str(LIMIT),
}
# "<" is escaped in the rendered html: a frame of about 10 KB. The kernel takes the first
# few MB itself (its send buffer grows to tcp_wmem's maximum, 4 MiB here) before anything
# waits in the server process.
BODY = "<" * 1990
MESSAGES = 800  # about 8 MB of frames to every member


def stalled_socket(server: ServerProcess, cookies: str, path: str) -> socket.socket:
    """A WebSocket client that reads the handshake's answer and nothing after it."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    raw.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.origin}\r\nCookie: {cookies}\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)  # byte by byte: not one byte past the headers
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


def drain(raw: socket.socket, timeout: float) -> tuple[bytes, str]:
    """Everything left in the socket, and how it ended ("eof", "reset", "open")."""
    raw.settimeout(timeout)
    data = b""
    try:
        while chunk := raw.recv(65536):
            data += chunk
        return data, "eof"
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "open"


def close_code(stream: bytes) -> int | None:
    """The code of the close frame a server stream ends with, if it is whole."""
    at, code = 0, None
    while at + 2 <= len(stream):
        opcode, length = stream[at] & 0x0F, stream[at + 1] & 0x7F
        at += 2
        if length == 126:
            (length,) = struct.unpack("!H", stream[at : at + 2])
            at += 2
        elif length == 127:
            (length,) = struct.unpack("!Q", stream[at : at + 8])
            at += 8
        if opcode == 8 and at + 2 <= len(stream):
            (code,) = struct.unpack("!H", stream[at : at + 2])
        at += length
    return code


def rss(server: ServerProcess) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


@pytest.mark.parametrize("kind", ["serve", "daphne", "runserver"])
async def test_a_socket_that_stops_reading_is_closed_and_the_others_keep_receiving(
    scaled_config, tmp_path, kind
):
    scaled_config.extra_env.update(FAST)
    server = start_server(scaled_config, tmp_path, kind)
    try:
        alice, bob, dave = (login(server, name) for name in ("alice", "bob", "dave"))
        general = room_id(alice, "general")
        sender = await open_socket(server, alice, general)
        reader = await open_socket(server, bob, general)
        cookies = "; ".join(f"{k}={v}" for k, v in dave.cookies.items())
        stalled = stalled_socket(server, cookies, f"/ws/chat/room/{general}/")
        while "dave" not in (await next_of(reader, "presence", timeout=10))["users"]:
            pass
        before = rss(server)

        received: list[int] = []
        dave_left_at: list[float] = []

        async def read_all() -> None:
            while len(received) < MESSAGES:
                frame = json.loads(await asyncio.wait_for(reader.recv(), 30))
                if frame["type"] == "message":
                    received.append(frame["id"])
                elif frame["type"] == "presence" and "dave" not in frame["users"]:
                    dave_left_at.append(time.monotonic())

        echoes: list[int] = []

        async def read_echoes() -> None:  # the sender reads its own messages back, as a page does
            while len(echoes) < MESSAGES:
                frame = json.loads(await asyncio.wait_for(sender.recv(), 30))
                if frame["type"] == "message":
                    echoes.append(frame["id"])

        reading = asyncio.ensure_future(read_all())
        echoing = asyncio.ensure_future(read_echoes())
        started = time.monotonic()
        for number in range(MESSAGES):
            await sender.send(json.dumps({"type": "message", "body": f"{number} {BODY}"}))
            # Members who read, as a browser does: at most 50 messages behind.
            while min(len(received), len(echoes)) < number - 50:
                await asyncio.sleep(0.01)
        await reading
        await echoing
        sent_for = time.monotonic() - started
        peak = rss(server)

        # Every member still reading got every message, and dave's socket was closed while
        # the room was talking, not after the ping timeout (about 50 s).
        assert len(received) == len(set(received)) == MESSAGES
        assert echoes == received
        if not dave_left_at:
            await next_of(reader, "presence", timeout=10)
            dave_left_at.append(time.monotonic())
        assert dave_left_at[0] - started < sent_for + 10, (dave_left_at[0] - started, sent_for)
        # What reached dave's kernel buffers is all he can still read: a bounded amount, and
        # if it ends in a close frame, that frame says 1012 (reconnect and catch up).
        leftover, ending = drain(stalled, timeout=5)
        assert ending in ("eof", "reset"), ending
        assert len(leftover) < LIMIT + 4 * 1024 * 1024
        assert close_code(leftover) in (None, 1012)
        # The server never held all that was sent for dave (1.3 MB here, unbounded before).
        growth = peak - before
        print(
            f"\n{kind}: sent for {sent_for:.1f} s, dave out after "
            f"{dave_left_at[0] - started:.1f} s, RSS +{growth / 1e6:.1f} MB, "
            f"dave's socket ended {ending} after {len(leftover)} bytes"
        )
        assert growth < 40 * 1024 * 1024, growth
        # And the room works afterwards.
        await sender.send(json.dumps({"type": "message", "body": "after"}))
        assert (await next_of(reader, "message"))["body"] == "after"
        stalled.close()
        await sender.close()
        await reader.close()
        assert "Exception inside application" not in server.log()
    finally:
        server.stop()
