"""Dependencies down, with real processes: Redis down at start gives a clear log line and a
failing /healthz, and the service recovers by itself once Redis is up; the database down
shows in /healthz; in production settings /healthz answers plain HTTP (load balancers) while
pages redirect to HTTPS."""

import asyncio
import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.liveserver import (
    ServiceConfig,
    free_port,
    login,
    prepare_database,
    room_id,
    socket_headers,
    start_daphne,
    wait_for_port,
)

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def own_redis(port: int) -> Iterator[subprocess.Popen]:
    """A Redis server of our own on a free port (never the shared one on 6379)."""
    process = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def health(server) -> tuple[int, dict]:
    response = httpx.get(f"{server.url}/healthz", timeout=10)
    return response.status_code, response.json()


def wait_for_health(server, status: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, body = health(server)
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return body
        time.sleep(0.5)


async def test_redis_down_at_start_then_up(tmp_path):
    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    config.extra_env.update(REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX="faults")
    prepare_database(config)
    server = start_daphne(config, tmp_path)
    try:
        wait_for_health(server, 503)
        assert f"Redis at {redis_url} is unreachable" in server.log()
        code, body = health(server)
        assert (code, body["database"], body["channel_layer"]) == (503, "ok", "down")
        with own_redis(redis_port):
            # No restart: the same process finds Redis once it is there.
            assert wait_for_health(server, 200)["channel_layer"] == "ok"
            alice = login(server, "alice")
            general = room_id(alice, "general")
            socket = await websockets.connect(
                server.ws_url(f"/ws/chat/room/{general}/"),
                additional_headers=socket_headers(server, alice),
                open_timeout=10,
            )
            await socket.send(json.dumps({"type": "message", "body": "redis is back"}))
            async with asyncio.timeout(10):
                while (frame := json.loads(await socket.recv()))["type"] != "message":
                    pass
            assert frame["body"] == "redis is back"
            await socket.close()
    finally:
        server.stop()


def test_database_down_shows_in_healthz(tmp_path):
    config = ServiceConfig(database_url=f"postgres://postgres@127.0.0.1:{free_port()}/nothing")
    server = start_daphne(config, tmp_path)
    try:
        code, body = health(server)
        assert code == 503
        assert body == {"status": "unavailable", "database": "down", "channel_layer": "ok"}
    finally:
        server.stop()


def test_production_healthz_answers_plain_http_and_pages_redirect_to_https(tmp_path):
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    prepare_database(config)
    config.extra_env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    server = start_daphne(config, tmp_path)
    try:
        assert health(server) == (200, {"status": "ok", "database": "ok", "channel_layer": "ok"})
        page = httpx.get(f"{server.url}/accounts/login/", timeout=10)
        assert page.status_code == 301
        assert page.headers["location"].startswith("https://127.0.0.1")
    finally:
        server.stop()
