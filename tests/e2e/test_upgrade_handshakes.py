"""The project's entry (and `runserver`, on the same server class) hands a plain WebSocket
upgrade to autobahn without Twisted's HTTP parser (mychannels/runtime/upgradefast.py): every
handshake, plain or odd, must get the answer plain `daphne` gives it. All three run as real
processes on one database and Redis, started once for the module; each handshake is sent as
raw bytes to each, and the answers compared: the status, and for an upgrade the opening
frames (the application ran with the same scope)."""

import asyncio
import base64
import json
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.liveserver import (
    ServerProcess,
    ServiceConfig,
    login,
    prepare_database,
    room_id,
    start_server,
)
from tests.services import ensure_redis

pytestmark = pytest.mark.e2e

KINDS = ("daphne", "serve", "runserver")  # the last two take the fast path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, ServerProcess]]:
    log_dir = tmp_path_factory.mktemp("upgrade-handshakes")
    config = ServiceConfig(
        database_url=f"sqlite:///{log_dir / 'db.sqlite3'}", redis_url=ensure_redis()
    )
    prepare_database(config)
    started = {kind: start_server(config, log_dir, kind) for kind in KINDS}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def alice(servers) -> httpx.Client:
    return login(servers["serve"], "alice")


def handshake(server: ServerProcess, client: httpx.Client, path: str, **changes: str) -> bytes:
    """A browser's upgrade request as bytes; `changes` replace or add headers (a value of ""
    drops the header), in order."""
    headers = {
        "Host": f"127.0.0.1:{server.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        "Origin": server.origin,
        "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
    }
    for name, value in changes.items():
        headers[name.replace("_", "-")] = value
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Recorder(asyncio.Protocol):
    """Keeps every byte the server sends and how the connection ended. A StreamReader would
    not do: once a reset has arrived it raises before handing out what was buffered ahead
    of it, so a server that answers and resets quickly would look as if it never answered."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result("reset" if exc else "closed")


async def answer(server: ServerProcess, writes: list[bytes]) -> tuple[int, tuple[str, ...]]:
    """The status the server answers `writes` with (each its own write), and for a 101 the
    types of the first two frames it sends within a second, then "reset" if it reset the
    connection (0: the connection dropped without an answer; -1: no answer within 2 s, a
    server waiting for more)."""
    loop = asyncio.get_running_loop()
    transport, recorder = await loop.create_connection(Recorder, "127.0.0.1", server.port)
    try:
        for data in writes:
            transport.write(data)
            await asyncio.sleep(0.05)
        if not await until(lambda: b"\r\n\r\n" in recorder.received, recorder, 2):
            return (0 if recorder.ended.done() else -1), ()
        status = int(recorder.received.split(b" ", 2)[1])
        if status != 101:
            return status, ()
        await until(lambda: len(frames_after_head(recorder)) >= 2, recorder, 1)
        types = frames_after_head(recorder)[:2]
        if len(types) < 2 and recorder.ended.done() and recorder.ended.result() == "reset":
            types.append("reset")
        return status, tuple(types)
    finally:
        transport.close()


async def until(condition, recorder: Recorder, timeout: float) -> bool:
    """Waits up to `timeout` for `condition`, or for the connection to end; says whether
    `condition` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition() and not recorder.ended.done():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        await asyncio.wait([recorder.ended], timeout=min(remaining, 0.02))
    return condition()


def frames_after_head(recorder: Recorder) -> list[str]:
    return frame_types(bytes(recorder.received).partition(b"\r\n\r\n")[2])


def frame_types(data: bytes) -> list[str]:
    """The types of the whole frames at the start of `data`: a text frame's JSON "type", or
    its opcode."""
    types = []
    while len(data) >= 2:
        first, length, offset = data[0], data[1] & 0x7F, 2
        if length in (126, 127):
            size = 2 if length == 126 else 8
            if len(data) < offset + size:
                break
            length, offset = int.from_bytes(data[offset : offset + size], "big"), offset + size
        if len(data) < offset + length:
            break
        payload, data = data[offset : offset + length], data[offset + length :]
        types.append(json.loads(payload)["type"] if first == 0x81 else f"opcode {first:#x}")
    return types


def variants(server: ServerProcess, client: httpx.Client, room: int) -> dict[str, list[bytes]]:
    path = f"/ws/chat/room/{room}/"
    plain = handshake(server, client, path)
    return {
        "plain": [plain],
        "with a query": [handshake(server, client, path + "?since=0&x=%41")],
        "split over two reads": [plain[:40], plain[40:]],
        "bare line feeds": [plain.replace(b"\r\n", b"\n")],
        "lower-case upgrade value": [handshake(server, client, path, Upgrade="WebSocket")],
        "a header twice": [plain.replace(b"Connection: Upgrade", b"Origin: http://evil.test")],
        "foreign origin": [handshake(server, client, path, Origin="http://evil.test")],
        "no origin": [handshake(server, client, path, Origin="")],
        "no cookie": [handshake(server, client, path, Cookie="")],
        "no host": [handshake(server, client, path, Host="")],
        "no key": [handshake(server, client, path, Sec_WebSocket_Key="")],
        "another version": [handshake(server, client, path, Sec_WebSocket_Version="8")],
        "a body": [handshake(server, client, path, Content_Length="4") + b"abcd"],
        "bytes after the head": [plain + b"\x81\x80\x00\x00\x00\x00"],
        "a refused header byte": [handshake(server, client, path, X_Odd="a\x0bb")],
        "a bad header name": [plain.replace(b"Connection:", b"Conn ection:")],
        "non-ASCII path": [plain.replace(b"/ws/chat/", "/ws/chät/".encode())],
        "HTTP/1.0": [plain.replace(b"HTTP/1.1", b"HTTP/1.0")],
        "POST": [plain.replace(b"GET ", b"POST ", 1)],
        "absolute URI": [plain.replace(b"GET /", f"GET {server.url}/".encode(), 1)],
        "unknown path": [handshake(server, client, "/ws/nowhere/")],
        "no upgrade": [handshake(server, client, path, Upgrade="")],
        "a long header": [handshake(server, client, path, X_Long="x" * 20000)],
    }


async def test_every_handshake_gets_the_answer_plain_daphne_gives(servers, alice):
    room = room_id(alice, "general")
    seen = {}
    for kind, server in servers.items():
        for name, writes in variants(server, alice, room).items():
            seen.setdefault(name, {})[kind] = await answer(server, writes)
    differing = {name: by_kind for name, by_kind in seen.items() if len(set(by_kind.values())) > 1}
    assert not differing, differing
    assert seen["plain"]["serve"] == (101, ("history", "presence"))
    assert seen["with a query"]["serve"][0] == 101
    assert seen["foreign origin"]["serve"][0] == 403
    assert seen["unknown path"]["serve"] == (403, ())  # refused, not a 500
    for kind, server in servers.items():
        assert "Traceback (most recent call last):" not in server.log(), f"{kind}:\n{server.log()}"
