"""The chat layout as a person uses it, in Debian's Chromium against a real Daphne process:
creating a room from the sidebar, a member added who sees it appear without a reload, a
direct conversation started from the presence list, and sidebar counts that move live."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import expect_connected, log_in, open_room
from tests.e2e.livechat import post_message
from tests.liveserver import login, room_id

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def sidebar_row(page, room: int):
    return page.locator(f'#sidebar li[data-room-id="{room}"]')


def create_room(page, name: str) -> int:
    page.locator("#create-room summary").click()
    page.locator("#create-room-name").fill(name)
    page.locator("#create-room-topic").fill("where plans are made")
    page.locator("#create-room-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/chat/room/\d+/$"))
    expect_connected(page)
    return int(re.search(r"/chat/room/(\d+)/$", page.url).group(1))


def test_create_a_room_and_add_a_member_who_sees_it_appear(sqlite_service, browser):
    alice, bob = log_in(browser, sqlite_service, "alice"), log_in(browser, sqlite_service, "bob")
    expect(bob.page.locator("#sidebar-rooms li").first).to_be_visible()
    room = create_room(alice.page, "Planning")
    expect(alice.page.locator("#room-name")).to_have_text("Planning")
    expect(alice.page.locator("#room-topic")).to_have_text("where plans are made")
    expect(sidebar_row(alice.page, room)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(alice.page.locator("#member-list li")).to_have_count(1)

    alice.page.locator("#member-add-name").fill("bob")
    alice.page.locator("#member-add-form button[type=submit]").click()
    expect(alice.page.locator("#member-list li")).to_have_count(2)
    # Bob's page was drawn before he was added: the room appears in his sidebar live.
    expect(sidebar_row(bob.page, room).locator("a")).to_have_text("Planning")
    assert alice.page_errors == [] and bob.page_errors == []


def test_a_direct_conversation_starts_from_the_presence_list(sqlite_service, browser):
    alice, bob = log_in(browser, sqlite_service, "alice"), log_in(browser, sqlite_service, "bob")
    open_room(alice, "general")
    open_room(bob, "general")
    alice.page.locator("#presence li", has_text=re.compile(r"^bob$")).click()
    alice.page.wait_for_url(re.compile(r"/chat/room/\d+/$"))
    expect_connected(alice.page)
    expect(alice.page.locator("#room-name")).to_have_text("bob")
    expect(alice.page.locator("#sidebar-dms li.current a")).to_have_text("bob")
    # Bob's sidebar shows it too, named by the other person.
    expect(bob.page.locator("#sidebar-dms li a")).to_have_text(["alice"])


def test_sidebar_counts_move_live(sqlite_service, browser):
    bob_http = login(sqlite_service, "bob")
    general = room_id(bob_http, "general")
    alice = log_in(browser, sqlite_service, "alice")
    alice.page.goto("/alerts/")  # any chat page carries the sidebar
    row = sidebar_row(alice.page, general)
    expect(row.locator(".badge.unread")).to_be_hidden()
    for i in range(3):
        post_message(sqlite_service, bob_http, general, f"hello {i}")
    expect(row.locator(".badge.unread")).to_have_text("3")
    bob = log_in(browser, sqlite_service, "bob")
    open_room(bob, "general")
    expect(row.locator(".badge.active")).to_have_text("1")
    bob.close()
    expect(row.locator(".badge.active")).to_be_hidden()
    assert [url for url in alice.sockets if url.endswith("/ws/rooms/")][:1], alice.sockets
