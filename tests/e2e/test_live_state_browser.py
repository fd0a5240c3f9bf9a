"""The live room state as a person sees it, in Debian's Chromium driven by Playwright against
a real Daphne process: who is here, typing that expires on its own, unread counts on `/` that
change while the list is open, and a logout in one tab ending the room page in another."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import BrowserUser, expect_connected, log_in, open_room
from tests.e2e.livechat import post_message
from tests.liveserver import login, room_id

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def second_tab(user: BrowserUser, path: str):
    page = user.context.new_page()
    page.goto(path)
    return page


def test_presence_lists_who_is_here_and_typing_expires_on_its_own(sqlite_service, browser):
    alice, bob = log_in(browser, sqlite_service, "alice"), log_in(browser, sqlite_service, "bob")
    open_room(alice, "general")
    open_room(bob, "general")
    expect(alice.page.locator("#presence li")).to_have_text(["alice", "bob"])
    expect(alice.page.locator("#presence-count")).to_have_text("(2)")

    bob.page.locator("#body").press_sequentially("hel", delay=50)
    expect(alice.page.locator("#typing")).to_have_text("bob is typing…")
    expect(bob.page.locator("#typing")).to_have_text("")  # never shown to the typist
    # Bob stops typing without sending: the line clears by itself (room.js: after 4 s).
    expect(alice.page.locator("#typing")).to_have_text("", timeout=10_000)

    bob.close()
    expect(alice.page.locator("#presence li")).to_have_text(["alice"])
    assert alice.page_errors == [] and alice.dialogs == []


def test_unread_counts_on_the_room_list_change_while_it_is_open(sqlite_service, browser):
    bob_http = login(sqlite_service, "bob")
    general, random_room = room_id(bob_http, "general"), room_id(bob_http, "random")
    alice = log_in(browser, sqlite_service, "alice")
    rooms = alice.page
    with rooms.expect_websocket(lambda socket: socket.url.endswith("/ws/rooms/")):
        rooms.reload()
    badge = rooms.locator(f'#my-rooms li[data-room-id="{general}"] .unread')
    other_badge = rooms.locator(f'#my-rooms li[data-room-id="{random_room}"] .unread')
    expect(badge).to_be_hidden()

    for i in range(2):
        post_message(sqlite_service, bob_http, general, f"for alice {i}")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("2")
    expect(other_badge).to_be_hidden()  # another room's count did not move

    # Alice reads the room in another tab: the list's count drops to nothing at once.
    expect_connected(second_tab(alice, f"/chat/room/{general}/"))
    expect(badge).to_be_hidden()
    expect(badge).to_have_attribute("data-unread", "0")
    assert alice.page_errors == []


def test_logging_out_in_one_tab_ends_the_room_page_in_another(sqlite_service, browser):
    alice = log_in(browser, sqlite_service, "alice")
    open_room(alice, "general")
    other_tab = second_tab(alice, "/")
    other_tab.click("form[action='/accounts/logout/'] button")
    expect(other_tab).to_have_url(re.compile(r"/accounts/login/"))
    # The room page's socket was closed 4401; room.js reloads, which lands on the login page.
    expect(alice.page).to_have_url(re.compile(r"/accounts/login/"))


def test_logging_out_from_the_room_page_itself_lands_on_the_login_page(sqlite_service, browser):
    """The logout closes this page's own socket (4401) while the logout POST is on its way:
    room.js must not reload over that navigation."""
    alice = log_in(browser, sqlite_service, "alice")
    open_room(alice, "general")
    alice.page.get_by_role("button", name="Log out").click()
    alice.page.wait_for_url(f"{sqlite_service.url}/accounts/login/")
    expect(alice.page.locator(".flash")).to_have_text("You have signed out.")


def test_leaving_a_room_in_another_tab_ends_its_page_for_good(sqlite_service, browser):
    alice = log_in(browser, sqlite_service, "alice")
    open_room(alice, "general")
    sockets_before = len(alice.sockets)
    room_list = second_tab(alice, "/")
    general_row = room_list.locator("#my-rooms li").filter(
        has=room_list.get_by_role("link", name="general", exact=True)
    )
    general_row.get_by_role("button", name="Leave").click()

    # Closed 4403: the page says why, stops sending, and does not knock again.
    badge = alice.page.locator("#conn-state")
    expect(badge).to_have_attribute("data-state", "closed")
    expect(badge).to_have_text("You are not a member of this room.")
    for button in ("Send", "Attach files"):  # nothing can be sent, nor uploaded for it
        expect(alice.page.get_by_role("button", name=button)).to_be_disabled()
    alice.page.wait_for_timeout(1500)  # past the first retry's backoff (at most 500 ms)
    assert len(alice.sockets) == sockets_before, alice.sockets
    assert alice.page_errors == [] and alice.dialogs == []


def test_room_list_counts_catch_up_after_the_browser_was_offline(sqlite_service, browser):
    bob_http = login(sqlite_service, "bob")
    general = room_id(bob_http, "general")
    alice = log_in(browser, sqlite_service, "alice")
    rooms = alice.page
    with rooms.expect_websocket(lambda socket: socket.url.endswith("/ws/rooms/")):
        rooms.reload()
    badge = rooms.locator(f'#my-rooms li[data-room-id="{general}"] .unread')
    expect(badge).to_be_hidden()
    sockets_before = len(alice.sockets)

    alice.context.set_offline(True)
    for i in range(3):
        post_message(sqlite_service, bob_http, general, f"while alice was away {i}")
    alice.context.set_offline(False)
    # A new socket, whose opening `rooms` frame carries what changed meanwhile.
    expect(badge).to_have_text("3")
    assert len(alice.sockets) > sockets_before, alice.sockets
    assert alice.page_errors == []
