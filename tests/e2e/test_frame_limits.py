"""Oversized frames are refused by the server itself, before it buffers them (DESIGN.md,
trap 7): a real Daphne (started with the flags docs/security.md gives) and a real
`manage.py runserver` close a 1 MiB frame with 1009, and memory stays flat over many tries."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import websockets
from django.conf import settings

from tests.liveserver import (
    BASE_DIR,
    ServerProcess,
    ServiceConfig,
    free_port,
    login,
    prepare_database,
    room_id,
    socket_headers,
    wait_for_port,
)

pytestmark = pytest.mark.e2e

ONE_MIB_FRAME = json.dumps({"type": "message", "body": "x" * (1024 * 1024)})
PROTOCOL_LIMIT_REASON = "exceeds payload limit"  # autobahn's words, not the application's


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


async def open_room(server: ServerProcess, headers: dict, room: int):
    socket = await websockets.connect(
        server.ws_url(f"/ws/chat/room/{room}/"), additional_headers=headers, open_timeout=15
    )
    for expected in ("history", "presence"):
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == expected
    return socket


async def close_after_oversized_frame(
    server: ServerProcess, headers: dict, room: int, message: str | list[str] = ONE_MIB_FRAME
):
    """Send a 1 MiB frame (or a message in fragments); return the server's close frame."""
    socket = await open_room(server, headers, room)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.send(message)
        async with asyncio.timeout(15):
            while True:
                await socket.recv()
    return closed.value.rcvd


async def assert_limit_bites_at_protocol_level(server: ServerProcess) -> None:
    alice = login(server, "alice")
    general = room_id(alice, "general")
    headers = socket_headers(server, alice)
    close = await close_after_oversized_frame(server, headers, general)
    assert close is not None, "the server sent no close frame"
    assert close.code == 1009
    assert PROTOCOL_LIMIT_REASON in close.reason, close.reason
    # Small fragments adding up to more than the limit are refused the same way.
    fragments = [ONE_MIB_FRAME[i : i + 8192] for i in range(0, 160 * 1024, 8192)]
    close = await close_after_oversized_frame(server, headers, general, fragments)
    assert close is not None and close.code == 1009, close
    assert PROTOCOL_LIMIT_REASON in close.reason, close.reason
    # A frame just under the limit still reaches the application, which answers it.
    socket = await open_room(server, headers, general)
    under = json.dumps({"type": "message", "body": "y" * (settings.CHAT_MAX_FRAME_BYTES - 100)})
    await socket.send(under)
    error = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert (error["type"], error["code"]) == ("error", "too_long")
    await socket.send(json.dumps({"type": "message", "body": "still open"}))
    async with asyncio.timeout(10):
        while (frame := json.loads(await socket.recv()))["type"] != "message":
            pass
    assert frame["body"] == "still open"
    await socket.close()


async def test_daphne_refuses_a_1_mib_frame_with_1009_and_memory_stays_flat(sqlite_service):
    await assert_limit_bites_at_protocol_level(sqlite_service)
    alice = login(sqlite_service, "alice")
    general = room_id(alice, "general")
    headers = socket_headers(sqlite_service, alice)
    pid = sqlite_service.process.pid
    for _ in range(10):  # warm up: imports, caches, the allocator's first arenas
        assert (await close_after_oversized_frame(sqlite_service, headers, general)).code == 1009
    before = rss_kib(pid)
    attempts = 100
    for _ in range(attempts):
        assert (await close_after_oversized_frame(sqlite_service, headers, general)).code == 1009
    after = rss_kib(pid)
    growth_mib = (after - before) / 1024
    print(f"daphne RSS over {attempts} x 1 MiB frames: {before} KiB -> {after} KiB")
    # Buffering each frame would be 100 MiB; refusing at the header costs nothing per try.
    assert growth_mib < 10, f"RSS grew {growth_mib:.1f} MiB over {attempts} oversized frames"


async def test_runserver_refuses_a_1_mib_frame_with_1009(tmp_path):
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'runserver.sqlite3'}")
    prepare_database(config)
    port = free_port()
    log_path = tmp_path / "runserver.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=config.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(port=port, process=process, log_path=log_path)
    try:
        wait_for_port(port, process, timeout=60)
        await assert_limit_bites_at_protocol_level(server)
    finally:
        server.stop()
