"""Debian's Chromium driven by Playwright, for browser tests against a real service process.

    with chromium() as browser:
        alice = log_in(browser, server, "alice")
        open_room(alice, "general")

Playwright never downloads a browser here: it drives /usr/bin/chromium (`make browser`).
"""

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.liveserver import DEMO_PASSWORD, ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: the machine is small and shared.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class BrowserUser:
    """One user's browser context and page, with what went wrong on it recorded."""

    username: str
    context: BrowserContext
    page: Page
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt messages
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    sockets: list[str] = field(default_factory=list)  # URLs of every WebSocket opened

    def close(self) -> None:
        self.context.close()


def log_in(
    browser: Browser,
    server: ServerProcess,
    username: str,
    password: str = DEMO_PASSWORD,
    viewport: tuple[int, int] = (1100, 760),
    locale: str = "en-US",
    color_scheme: str = "light",
) -> BrowserUser:
    """A fresh browser context logged in through the real allauth login page. `locale` is the
    browser's language (and its Accept-Language); `color_scheme` what the system prefers."""
    user = new_visitor(browser, server, viewport=viewport, locale=locale, color_scheme=color_scheme)
    user.username = username
    page = user.page
    page.goto("/accounts/login/")
    page.fill('input[name="login"]', username)
    page.fill('input[name="password"]', password)
    page.click('form[action="/accounts/login/"] button[type="submit"]')
    page.wait_for_url(f"{server.url}/")
    return user


class SignedIn:
    """Each user's session from their first log_in through the form, for tests that share a
    server: later tests open a fresh context already logged in, without the form (and the
    server's password hashing) again."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.cookies: dict[str, list[dict]] = {}

    def user(self, browser: Browser, username: str) -> BrowserUser:
        if username not in self.cookies:
            user = log_in(browser, self.server, username)
            self.cookies[username] = user.context.cookies()
            return user
        user = new_visitor(browser, self.server, cookies=self.cookies[username])
        user.username = username
        return user


def new_visitor(
    browser: Browser,
    server: ServerProcess,
    viewport: tuple[int, int] = (1100, 760),
    locale: str = "en-US",
    color_scheme: str = "light",
    cookies: list[dict] | None = None,
) -> BrowserUser:
    """A fresh browser context, not logged in (unless given a session's `cookies`), with what
    goes wrong on its page recorded."""
    width, height = viewport
    context = browser.new_context(
        base_url=server.url,
        viewport={"width": width, "height": height},
        locale=locale,
        color_scheme=color_scheme,
    )
    context.set_default_timeout(TIMEOUT_MS)
    if cookies:
        context.add_cookies(cookies)
    page = context.new_page()
    user = BrowserUser(username="", context=context, page=page)

    def on_dialog(dialog) -> None:
        user.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: user.page_errors.append(str(error)))
    page.on("websocket", lambda socket: user.sockets.append(socket.url))
    return user


def open_room(user: BrowserUser, name: str) -> int:
    """Follow the room's link from the room list and wait for the live connection.
    Returns the room's id."""
    page = user.page
    page.goto("/")
    page.locator("#my-rooms a", has_text=re.compile(rf"^{re.escape(name)}$")).click()
    page.wait_for_url(re.compile(r"/chat/room/\d+/$"))
    expect_connected(page)
    return int(re.search(r"/chat/room/(\d+)/$", page.url).group(1))


CONNECTED = {"en": "connected", "es": "conectado"}


def expect_connected(page: Page) -> None:
    badge = page.locator("#conn-state")
    expect(badge).to_have_attribute("data-state", "open", timeout=TIMEOUT_MS)
    # The badge speaks the page's language (a Spanish browser gets Spanish pages).
    expect(badge).to_have_text(CONNECTED[page.locator("html").get_attribute("lang")])


def send_message(page: Page, body: str) -> None:
    """Type into the send box and press Enter, as a person would."""
    page.locator("#body").fill(body)
    page.locator("#body").press("Enter")


def message_bodies(page: Page) -> list[str]:
    """The bodies of the confirmed messages in the log, top to bottom."""
    return page.locator("#log .msg[data-id] .body").all_text_contents()
