"""Alerts in a real browser: Chromium on the real service (Daphne, SQLite, in-memory layer),
logged in through the allauth form. Alerts posted elsewhere appear without a reload."""

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.liveserver import DEMO_PASSWORD, ServerProcess

# One event loop for the module, so that one Chromium (driven through it) serves every test.
pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(module_chromium: Browser) -> AsyncIterator[Browser]:
    """The module's Chromium; the contexts a test opens are closed after it, so that no page
    keeps running (and reconnecting) into the next test."""
    assert module_chromium.contexts == [], "a previous test left a browser context open"
    yield module_chromium
    for context in module_chromium.contexts:
        await context.close()


async def logged_in_page(browser: Browser, server: ServerProcess, username: str) -> Page:
    page = await (await browser.new_context(base_url=server.url)).new_page()
    page.set_default_timeout(15000)
    await page.goto("/accounts/login/")
    await page.fill("input[name=login]", username)
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("form[action='/accounts/login/'] button[type=submit]")
    await page.wait_for_url(f"{server.url}/")
    return page


async def new_api_token(page: Page) -> str:
    """Made on the settings page, as a user would, and read off the page that shows it once."""
    await page.goto("/settings/")
    await page.fill("input[name=name]", "browser test")
    await page.click("text=Create token")
    return (await page.text_content("#new-token")).strip()


async def post_alert(
    server: ServerProcess, token: str, room_id: int, content: str, level: str
) -> int:
    """Posted over the JSON API with a bearer token, as a monitoring script would; its id."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        response = await api.post(
            f"/api/rooms/{room_id}/alerts/",
            json={"content": content, "level": level},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def room_of(href: str) -> int:
    """The room id in a room page link, /chat/room/<id>/."""
    return int(href.strip("/").rsplit("/", 1)[1])


async def test_alerts_page_shows_an_alert_posted_through_the_api_without_reload(
    sqlite_service, browser
):
    alice = await logged_in_page(browser, sqlite_service, "alice")
    token = await new_api_token(alice)
    await alice.goto("/")
    room_id = room_of(await alice.get_attribute("a:text-is('ops')", "href"))
    await alice.goto("/alerts/")
    await expect(alice.locator("#conn-state")).to_have_attribute("data-state", "open")
    await alice.evaluate("window.__sameDocument = true")
    hostile = 'db-1 down <img src=x onerror="window.__xss = true">'
    alert_id = await post_alert(sqlite_service, token, room_id, hostile, "critical")
    item = alice.locator(f"#alert-{alert_id}")
    await expect(item).to_have_class("alert-item level-critical")
    await expect(item.locator(".alert-content")).to_have_text(hostile)
    await expect(item.locator(".alert-room")).to_have_text("ops")
    assert await alice.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert await alice.evaluate("window.__xss === undefined"), "alert text ran as HTML"
    # Newest first: the live alert went to the top.
    top = await alice.locator("#alerts > li").first.get_attribute("id")
    assert top == f"alert-{alert_id}"


async def test_room_page_form_posts_an_alert_another_member_sees_live(sqlite_service, browser):
    alice = await logged_in_page(browser, sqlite_service, "alice")
    bob = await logged_in_page(browser, sqlite_service, "bob")
    await alice.goto("/")
    general = await alice.get_attribute("a:text-is('general')", "href")
    for page in (alice, bob):
        await page.goto(general)
        await expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    await bob.evaluate("window.__sameDocument = true")
    await alice.select_option("#alert-level", "warning")
    await alice.fill("#alert-content", "fire drill at 3")
    await alice.click("#alert-form button")
    for page in (alice, bob):
        item = page.locator("#room-alerts > li").first
        await expect(item.locator(".alert-content")).to_have_text("fire drill at 3")
        await expect(item).to_have_class("alert-item level-warning")
    assert await bob.evaluate("window.__sameDocument === true")
    # A refused alert (a level the form does not offer) is explained in place; nothing posted.
    await alice.fill("#alert-content", "x")
    await alice.evaluate(
        "const o = document.createElement('option'); o.value = o.textContent = 'bogus';"
        "document.getElementById('alert-level').append(o); "
        "document.getElementById('alert-level').value = 'bogus'"
    )
    await alice.click("#alert-form button")
    await expect(alice.locator("#alert-error")).to_contain_text("level must be one of")
    await expect(bob.locator("#room-alerts > li")).to_have_count(1)


async def test_room_page_catches_up_on_alerts_posted_before_its_socket_joined(
    sqlite_service, browser
):
    alice = await logged_in_page(browser, sqlite_service, "alice")
    token = await new_api_token(alice)
    await alice.goto("/")
    general = await alice.get_attribute("a:text-is('general')", "href")
    # Hold the chat socket back from the server until the alert is posted: only the page's
    # catch-up over HTTP can show it then.
    release = asyncio.Event()

    async def hold_then_connect(route) -> None:
        await release.wait()
        route.connect_to_server()

    await alice.route_web_socket("**/ws/chat/room/**", hold_then_connect)
    await alice.goto(general)
    alert_id = await post_alert(
        sqlite_service, token, room_of(general), "posted while the socket was away", "warning"
    )
    await alice.wait_for_timeout(300)
    assert await alice.locator(f"#alert-{alert_id}").count() == 0
    release.set()
    item = alice.locator(f"#alert-{alert_id}")
    await expect(item.locator(".alert-content")).to_have_text("posted while the socket was away")
    await expect(alice.locator("#room-alerts > li")).to_have_count(1)


async def test_alerts_page_fills_a_gap_longer_than_the_history_frame(sqlite_service, browser):
    alice = await logged_in_page(browser, sqlite_service, "alice")
    token = await new_api_token(alice)
    await alice.goto("/")
    ops = room_of(await alice.get_attribute("a:text-is('ops')", "href"))
    async with httpx.AsyncClient(base_url=sqlite_service.url, timeout=10) as api:

        async def post(content: str) -> int:
            while True:  # past the flood limit's burst, wait for the bucket to refill
                response = await api.post(
                    f"/api/rooms/{ops}/alerts/",
                    json={"content": content},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 429:
                    break
                await asyncio.sleep(0.5)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        await post("before the page")
        release = asyncio.Event()

        async def hold_then_connect(route) -> None:
            await release.wait()
            route.connect_to_server()

        await alice.route_web_socket("**/ws/alerts/", hold_then_connect)
        await alice.goto("/alerts/")
        await expect(alice.locator("#alerts > li")).to_have_count(1)
        # 25 alerts while the socket is away: more than its history frame (20) carries.
        ids = [await post(f"gap {i}") for i in range(25)]
    release.set()
    await expect(alice.locator("#alerts > li")).to_have_count(26)
    shown = [
        int(i)
        for i in await alice.locator("#alerts > li").evaluate_all(
            "items => items.map(item => item.dataset.id)"
        )
    ]
    assert shown[:25] == ids[::-1], "newest first, none missing"


async def test_alerts_page_going_offline_shows_it_and_catches_up_when_back(sqlite_service, browser):
    alice = await logged_in_page(browser, sqlite_service, "alice")
    token = await new_api_token(alice)
    await alice.goto("/")
    ops = room_of(await alice.get_attribute("a:text-is('ops')", "href"))
    await alice.goto("/alerts/")
    badge = alice.locator("#conn-state")
    await expect(badge).to_have_attribute("data-state", "open")
    await alice.evaluate("window.__sameDocument = true")

    # The socket is given up at once, not left "live" while a closing handshake hangs.
    await alice.context.set_offline(True)
    await expect(badge).to_have_attribute("data-state", "reconnecting")
    await expect(badge).to_have_text(re.compile(r"^offline, retrying in \d+ s$"))
    alert_id = await post_alert(sqlite_service, token, ops, "posted during the outage", "warning")
    missed = alice.locator(f"#alert-{alert_id}")
    await expect(missed).to_have_count(0)

    await alice.context.set_offline(False)
    await expect(badge).to_have_attribute("data-state", "open")
    await expect(missed.locator(".alert-content")).to_have_text("posted during the outage")
    await expect(alice.locator(f"#alerts > li#alert-{alert_id}")).to_have_count(1)
    assert await alice.evaluate("window.__sameDocument === true"), "the page was reloaded"
