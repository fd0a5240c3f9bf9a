"""Hostile text in a real browser: the room page's script renders message bodies (from the
history and live), usernames (messages, presence, typing), alerts (the room panel and the
alert feed, stored and live) and the room name as text, and no markup in them ever runs.
Chromium, a real Daphne, a hostile user on a real socket and the API."""

import asyncio
import json
import re

import httpx
import pytest
import websockets
from playwright.async_api import async_playwright

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.liveserver import ServiceConfig, login, manage, prepare_database, start_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOM_NAME = '<img src=x onerror="window.xss=1">'
USERNAME = '<svg onload="window.xss=1">'
OLD_BODY = '<script>window.xss=1</script><img src=x onerror="window.xss=1">'
LIVE_BODY = '<iframe srcdoc="<script>parent.xss=1</script>"></iframe>&amp; &lt;'
OLD_ALERT = '<img src=x onerror="window.xss=3"> disk full'
LIVE_ALERT = '<svg onload="window.xss=4"></svg><script>window.xss=4</script> cpu hot'
FEED_ALERT = '<iframe src="javascript:parent.xss=5"></iframe> live on the feed'

# Written past every validator, as a bug or an import could; prints what the test needs.
SETUP = f"""
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from mychannels.runtime.sessions import SessionStore
from django.conf import settings
from asgiref.sync import async_to_sync
from alert.models import Alert
from chat.models import Message, Room
from chat.tokens import token_create
User = get_user_model()
mallory = User.objects.create_user(username={USERNAME!r}, password="pw-for-tests-1")
alice = User.objects.get(username="alice")
room = Room.objects.create(name={ROOM_NAME!r})
room.users.add(alice, mallory)
Message.objects.create(room=room, author=mallory, body={OLD_BODY!r})
Alert.objects.create(room=room, user=mallory, content={OLD_ALERT!r}, level="critical")
_, token = async_to_sync(token_create)(user=mallory, name="bot")
session = SessionStore()
session[SESSION_KEY] = str(mallory.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = mallory.get_session_auth_hash()
session.save()
print(json.dumps({{"room": room.pk, "session": session.session_key, "token": token}}))
"""


@pytest.fixture
def hostile_service(tmp_path):
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    prepare_database(config)
    setup = manage(config, "shell", "-c", SETUP, check=True)
    facts = json.loads(setup.stdout.strip().splitlines()[-1])
    server = start_daphne(config, tmp_path)
    yield server, facts
    server.stop()


async def test_room_page_renders_hostile_text_as_text(hostile_service):
    server, facts = hostile_service
    alice = login(server, "alice")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            await context.add_cookies(
                [{"name": k, "value": v, "url": server.url} for k, v in alice.cookies.items()]
            )
            page = await context.new_page()
            await page.goto(f"{server.url}/chat/room/{facts['room']}/")
            log = page.locator("#log")
            await log.get_by_text(OLD_BODY, exact=True).wait_for(timeout=15000)
            # The tab title carries the unread total in front, "(1) <room> · MyChannels".
            title = await page.title()
            assert re.fullmatch(r"(\(\d+\) )?" + re.escape(f"{ROOM_NAME} · MyChannels"), title)
            await page.locator("h1").get_by_text(ROOM_NAME, exact=True).wait_for()

            mallory = await websockets.connect(
                server.ws_url(f"/ws/chat/room/{facts['room']}/"),
                additional_headers={
                    "Cookie": f"sessionid={facts['session']}",
                    "Origin": server.origin,
                },
                open_timeout=10,
            )
            await page.locator("#presence").get_by_text(USERNAME, exact=True).wait_for()
            await mallory.send(json.dumps({"type": "typing"}))
            await page.locator("#typing").get_by_text(USERNAME, exact=False).wait_for()
            await mallory.send(json.dumps({"type": "message", "body": LIVE_BODY}))
            # Markdown shows the entities typed as the characters they name: `& <`.
            shown = LIVE_BODY.replace("&amp;", "&").replace("&lt;", "<")
            await log.get_by_text(shown, exact=True).wait_for(timeout=15000)
            await mallory.close()
            await asyncio.sleep(0.5)  # time for anything injected to load and run

            alerts = page.locator("#room-alerts")
            await alerts.get_by_text(OLD_ALERT, exact=True).wait_for()
            posted = httpx.post(
                f"{server.url}/api/rooms/{facts['room']}/alerts/",
                json={"content": LIVE_ALERT, "level": "warning"},
                headers={"Authorization": f"Bearer {facts['token']}"},
                timeout=10,
            )
            assert posted.status_code == 201, posted.text
            await alerts.get_by_text(LIVE_ALERT, exact=True).wait_for(timeout=15000)
            await asyncio.sleep(0.5)  # time for anything injected to load and run

            assert await page.evaluate("window.xss") is None
            markup = "img, script, svg, iframe, b"
            for box in ("#log", "#presence", "#typing", "h1", "#room-alerts"):
                assert await page.locator(box).locator(markup).count() == 0, box
            assert await log.get_by_text(USERNAME, exact=True).count() == 2  # two messages

            feed = await context.new_page()
            await feed.goto(f"{server.url}/alerts/")
            for text in (OLD_ALERT, LIVE_ALERT, ROOM_NAME):
                await feed.locator("#alerts").get_by_text(text, exact=True).first.wait_for()
            await feed.locator("#conn-state", has_text="live").wait_for(timeout=15000)
            posted = httpx.post(
                f"{server.url}/api/rooms/{facts['room']}/alerts/",
                json={"content": FEED_ALERT, "level": "info"},
                headers={"Authorization": f"Bearer {facts['token']}"},
                timeout=10,
            )
            assert posted.status_code == 201, posted.text
            await feed.locator("#alerts").get_by_text(FEED_ALERT, exact=True).wait_for()
            await asyncio.sleep(0.5)
            assert await feed.evaluate("window.xss") is None
            assert await feed.locator("#alerts").locator(markup).count() == 0
        finally:
            await browser.close()
