"""A room page told to catch up (close 1012: the channel layer lost events meant for its
socket) reconnects at once, without the backoff wait of other losses, and shows the message
whose live frame it never got. Debian's Chromium, a real server on a real Redis."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from playwright.sync_api import expect

from chat.groups import room_group
from tests.e2e.browser import chromium, expect_connected, log_in, message_bodies, open_room
from tests.liveserver import ServiceConfig, manage, prepare_database, start_server
from tests.services import ensure_redis

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Times, on the page's own clock, at which room sockets are made and closed.
RECORD_ROOM_SOCKETS = """
window.roomSockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new NativeWebSocket(url, protocols);
  if (url.includes("/ws/chat/room/")) {
    const entry = { made: performance.now(), closed: null, code: null };
    window.roomSockets.push(entry);
    socket.addEventListener("close", (event) => {
      entry.closed = performance.now();
      entry.code = event.code;
    });
  }
  return socket;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, NativeWebSocket);
"""
# livesocket.js's shortest backoff is 250 ms (500 ms, jittered down to half).
QUICKER_THAN_ANY_BACKOFF_MS = 150


@pytest.fixture
def redis_service(tmp_path):
    config = ServiceConfig(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", redis_url=ensure_redis()
    )
    config.extra_env["CHANNEL_LAYER_PREFIX"] = config.env()["CHANNEL_LAYER_PREFIX"]
    prepare_database(config)
    server = start_server(config, tmp_path, "daphne")  # plain daphne: where 1012 was 1011
    yield config, server
    server.stop()


def store_without_broadcast(config: ServiceConfig, room: int, body: str) -> None:
    """A message on record whose live frame is lost, as happens in a layer's gap: stored
    with the room's next version, as the message service stores it, and never broadcast."""
    code = (
        "from django.contrib.auth import get_user_model; from django.db import transaction; "
        "from chat.models import Message; from chat.services.versions import room_next_version\n"
        "with transaction.atomic():\n"
        f"    Message.objects.create(room_id={room}, body={body!r}, html='<p>'+{body!r}+'</p>', "
        f"version=room_next_version({room}), "
        "author=get_user_model().objects.get(username='bob'))"
    )
    manage(config, "shell", "-c", code, check=True)


async def announce_gap(config: ServiceConfig, room: int) -> None:
    env = config.env()
    layer = RedisPubSubChannelLayer(hosts=[env["REDIS_URL"]], prefix=env["CHANNEL_LAYER_PREFIX"])
    try:
        await layer.group_send(room_group(room), {"type": "layer.gap"})
    finally:
        await layer.flush()


def test_a_1012_close_reconnects_at_once_and_catches_up(redis_service):
    config, server = redis_service
    with chromium() as browser:
        alice = log_in(browser, server, "alice")
        alice.context.add_init_script(RECORD_ROOM_SOCKETS)
        general = open_room(alice, "general")
        page = alice.page
        store_without_broadcast(config, general, "sent while the layer was away")
        assert "sent while the layer was away" not in message_bodies(page)

        with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this one
            thread.submit(asyncio.run, announce_gap(config, general)).result()
        page.wait_for_function("window.roomSockets.length >= 2")
        expect_connected(page)
        expect(page.locator("#log .msg[data-id] .body").last).to_have_text(
            "sent while the layer was away"
        )
        first, second = page.evaluate("window.roomSockets")[:2]
        assert first["code"] == 1012
        assert second["made"] - first["closed"] < QUICKER_THAN_ANY_BACKOFF_MS, (first, second)
        assert alice.page_errors == []
