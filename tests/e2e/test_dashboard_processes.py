"""The operations dashboard across two real Daphne processes sharing PostgreSQL and Redis:
a dashboard on one process sees messages, alerts, presence and sockets from every entry point
on the other (room socket, API, a management command), and a burst moves it once a second."""

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from tests.e2e.livechat import open_room_socket, post_message
from tests.liveserver import (
    ServerProcess,
    ServiceConfig,
    login,
    manage,
    room_id,
    socket_headers,
)
from tests.services import scaled_service

pytestmark = pytest.mark.e2e

ADMIN, ADMIN_PASSWORD = "admin", "admin-demo-2026"  # seed_demo's operator


@dataclass
class TwoProcesses:
    config: ServiceConfig
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[TwoProcesses]:
    """Started once for the module: two processes, one database, one Redis prefix. Flood
    limits are raised so that the burst below is stored whole, not rate limited."""
    limits = ["CHAT_RATE_PER_SECOND", "CHAT_REQUEST_RATE_PER_SECOND"]
    limits += ["CHAT_RATE_BURST", "CHAT_REQUEST_BURST"]
    unlimited = dict.fromkeys(limits, "100000")
    with scaled_service(tmp_path_factory.mktemp("dashboard"), extra_env=unlimited) as service:
        yield TwoProcesses(service.config, *service.servers)


async def open_dashboard(server: ServerProcess, client: httpx.Client):
    socket = await websockets.connect(
        server.ws_url("/ws/dashboard/"),
        additional_headers=socket_headers(server, client),
        open_timeout=10,
    )
    opening = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert opening["type"] == "stats", opening
    return socket, opening


def total(stats: dict) -> int:
    return sum(minute["count"] for minute in stats["messages_per_minute"])


async def stats_where(socket, condition, timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == "stats" and condition(frame):
                return frame


async def test_stats_count_every_entry_point_across_processes(service):
    admin_a = login(service.a, ADMIN, ADMIN_PASSWORD)
    admin_b = login(service.b, ADMIN, ADMIN_PASSWORD)
    alice_b = login(service.b, "alice")
    general, random_room, ops = (room_id(alice_b, name) for name in ("general", "random", "ops"))
    dashboard_a, opening = await open_dashboard(service.a, admin_a)
    assert set(opening) == {
        "type",
        "messages_per_minute",
        "present",
        "sockets",
        "alerts_by_level",
        "rooms",
    }
    assert len(opening["messages_per_minute"]) == 60
    assert (total(opening), opening["rooms"], opening["present"]) == (0, [], 0)
    assert opening["alerts_by_level"] == {"info": 0, "warning": 0, "critical": 0}
    assert opening["sockets"] == 1  # the dashboard itself
    made = await asyncio.to_thread(manage, service.config, "create_api_token", "alice")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]

    # On process B: a browser-like room socket (present, and three messages) ...
    room_socket, _, _ = await open_room_socket(service.b, alice_b, general)
    for i in range(3):
        await room_socket.send(json.dumps({"type": "message", "body": f"socket {i}"}))
    # ... two messages over the API with the session, an alert with a bot's token ...
    for i in range(2):
        await asyncio.to_thread(post_message, service.b, alice_b, random_room, f"api {i}")
    async with httpx.AsyncClient(base_url=service.b.url, timeout=10) as bot:
        response = await bot.post(
            f"/api/rooms/{ops}/alerts/",
            json={"content": "disk at 91%", "level": "warning"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    # ... and an alert from cron, in a process of its own that exits right after.
    sent = await asyncio.to_thread(
        manage, service.config, "send_alert", "--room", str(ops), "--user", "alice", "backup failed"
    )
    assert sent.returncode == 0, sent.stderr

    expected_alerts = {"info": 1, "warning": 1, "critical": 0}
    stats = await stats_where(
        dashboard_a,
        lambda s: total(s) == 5 and s["alerts_by_level"] == expected_alerts and s["present"],
    )
    assert [(r["room_id"], r["name"], r["messages_last_hour"]) for r in stats["rooms"]] == [
        (general, "general", 3),
        (random_room, "random", 2),
    ]
    assert [sum(r["per_minute"]) for r in stats["rooms"]] == [3, 2]
    assert all(len(r["per_minute"]) == 60 for r in stats["rooms"])
    assert sum(m["count"] for m in stats["messages_per_minute"][-2:]) == 5  # just now
    assert (stats["present"], stats["sockets"]) == (1, 2)  # alice; the dashboard and hers

    # A dashboard on the other process shows the same numbers.
    dashboard_b, seen_from_b = await open_dashboard(service.b, admin_b)
    assert (total(seen_from_b), seen_from_b["alerts_by_level"]) == (5, expected_alerts)
    assert seen_from_b["rooms"] == stats["rooms"] and seen_from_b["present"] == 1
    await dashboard_b.close()
    await room_socket.close()
    # Alice has left: both numbers go down (the other dashboard's socket has closed too).
    after = await stats_where(dashboard_a, lambda s: (s["present"], s["sockets"]) == (0, 1))
    assert total(after) == 5
    await dashboard_a.close()


async def test_a_burst_of_500_messages_moves_the_dashboard_at_most_once_a_second(service):
    admin_a = login(service.a, ADMIN, ADMIN_PASSWORD)
    bob_b = login(service.b, "bob")
    general = room_id(bob_b, "general")
    dashboard, opening = await open_dashboard(service.a, admin_a)
    before = total(opening)
    room_socket, _, _ = await open_room_socket(service.b, bob_b, general)

    async def drain() -> None:  # the room echoes every message back to its sender
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in room_socket:
                pass

    echoes = asyncio.ensure_future(drain())
    arrivals: list[float] = []
    started = time.monotonic()
    for i in range(500):
        await room_socket.send(json.dumps({"type": "message", "body": f"burst {i}"}))
    async with asyncio.timeout(60):
        while True:
            frame = json.loads(await dashboard.recv())
            assert frame["type"] == "stats"
            arrivals.append(time.monotonic())
            if total(frame) == before + 500:
                break
    elapsed = arrivals[-1] - started
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) <= elapsed + 2, (len(arrivals), elapsed)
    assert all(gap > 0.7 for gap in gaps), gaps  # once a second, never one per message
    general_row = next(r for r in frame["rooms"] if r["room_id"] == general)
    assert general_row["messages_last_hour"] >= 500
    echoes.cancel()
    await room_socket.close()
    await dashboard.close()
