"""Alerts across processes: the commands run as separate processes (as cron would run them)
against PostgreSQL, and reach sockets held by a Daphne process through the Redis layer."""

import asyncio
import json

import httpx
import pytest
import websockets

from tests.e2e.livechat import next_of
from tests.liveserver import login, manage, room_id, socket_headers, start_daphne

pytestmark = pytest.mark.e2e


async def test_cron_and_bot_alerts_reach_a_browser_socket_on_another_process(
    scaled_config, tmp_path
):
    server = start_daphne(scaled_config, tmp_path)
    try:
        carol = login(server, "carol")
        ops = room_id(carol, "ops")
        feed = await websockets.connect(
            server.ws_url("/ws/alerts/"),
            additional_headers=socket_headers(server, carol),
            open_timeout=10,
        )
        assert json.loads(await asyncio.wait_for(feed.recv(), 10)) == {
            "type": "history",
            "alerts": [],
        }
        sent = await asyncio.to_thread(
            manage,
            scaled_config,
            "send_alert",
            "--room",
            str(ops),
            "--user",
            "alice",
            "--level",
            "critical",
            "backup failed",
        )
        assert sent.returncode == 0, sent.stderr
        frame = await next_of(feed, "alert", timeout=10)
        assert (frame["content"], frame["level"], frame["username"]) == (
            "backup failed",
            "critical",
            "alice",
        )
        made = await asyncio.to_thread(manage, scaled_config, "create_api_token", "alice")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as bot:
            response = await bot.post(
                f"/api/rooms/{ops}/alerts/",
                json={"content": "restored"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 201, response.text
        assert (await next_of(feed, "alert", timeout=10))["content"] == "restored"
        refused = await asyncio.to_thread(
            manage, scaled_config, "send_alert", "--room", str(ops), "--user", "bob", "x"
        )
        assert refused.returncode != 0 and "not a member" in refused.stderr
        await feed.close()
    finally:
        server.stop()
