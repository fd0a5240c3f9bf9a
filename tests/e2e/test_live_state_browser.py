"""The live room state as a person sees it, in Debian's Chromium driven by Playwright against
a real Daphne process: who is here, typing that expires on its own, unread counts on `/` that
change while the list is open, and a logout in one tab ending the room page in another."""

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.livechat import post_message
from tests.liveserver import DEMO_PASSWORD, ServerProcess, login, room_id

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000  # generous: the machine is small and shared


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def logged_in(browser: Browser, server: ServerProcess, username: str) -> BrowserContext:
    """A browser context logged in through the real allauth form."""
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', username)
    page.fill('input[name="password"]', DEMO_PASSWORD)
    page.click('form button[type="submit"]')
    expect(page).to_have_url(re.compile(r"/$"))
    page.close()
    return context


def room_page(context: BrowserContext, room: int) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"/chat/room/{room}/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    page.page_errors = errors  # type: ignore[attr-defined]
    return page


def test_presence_lists_who_is_here_and_typing_expires_on_its_own(sqlite_service, browser):
    general = room_id(login(sqlite_service, "alice"), "general")
    alice = room_page(logged_in(browser, sqlite_service, "alice"), general)
    bob = room_page(logged_in(browser, sqlite_service, "bob"), general)
    expect(alice.locator("#presence li")).to_have_text(["alice", "bob"])
    expect(alice.locator("#presence-count")).to_have_text("(2)")

    bob.locator("#body").press_sequentially("hel", delay=50)
    expect(alice.locator("#typing")).to_have_text("bob is typing…")
    expect(bob.locator("#typing")).to_have_text("")  # never shown to the typist
    # Bob stops typing without sending: the line clears by itself (room.js: after 4 s).
    expect(alice.locator("#typing")).to_have_text("", timeout=10_000)

    bob.close()
    expect(alice.locator("#presence li")).to_have_text(["alice"])
    assert alice.page_errors == []  # type: ignore[attr-defined]


def test_unread_counts_on_the_room_list_change_while_it_is_open(sqlite_service, browser):
    bob_http = login(sqlite_service, "bob")
    general, random_room = room_id(bob_http, "general"), room_id(bob_http, "random")
    alice = logged_in(browser, sqlite_service, "alice")
    rooms = alice.new_page()
    with rooms.expect_websocket(lambda socket: socket.url.endswith("/ws/rooms/")):
        rooms.goto("/")
    badge = rooms.locator(f'#my-rooms li[data-room-id="{general}"] .unread')
    other_badge = rooms.locator(f'#my-rooms li[data-room-id="{random_room}"] .unread')
    expect(badge).to_be_hidden()

    for i in range(2):
        post_message(sqlite_service, bob_http, general, f"for alice {i}")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("2")
    expect(other_badge).to_be_hidden()  # another room's count did not move

    # Alice reads the room in another tab: the list's count drops to nothing at once.
    room_page(alice, general)
    expect(badge).to_be_hidden()
    expect(badge).to_have_attribute("data-unread", "0")


def test_logging_out_in_one_tab_ends_the_room_page_in_another(sqlite_service, browser):
    general = room_id(login(sqlite_service, "alice"), "general")
    alice = logged_in(browser, sqlite_service, "alice")
    room = room_page(alice, general)
    other_tab = alice.new_page()
    other_tab.goto("/")
    other_tab.click("form[action='/accounts/logout/'] button")
    expect(other_tab).to_have_url(re.compile(r"/accounts/login/"))
    # The room page's socket was closed 4401; room.js reloads, which lands on the login page.
    expect(room).to_have_url(re.compile(r"/accounts/login/"))
