"""The room page in a real browser: Debian's Chromium through Playwright, against a real
Daphne process, users logged in through the real allauth login page."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import (
    expect_connected,
    log_in,
    message_bodies,
    open_room,
    send_message,
)
from tests.liveserver import ServiceConfig, login, manage

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HOSTILE = "<img src=x onerror=alert(1)>"


def confirmed(page):
    return page.locator("#log .msg[data-id] .body")


def test_two_users_chat_live_and_hostile_bodies_stay_inert_text(sqlite_service, browser, tmp_path):
    alice = log_in(browser, sqlite_service, "alice")
    bob = log_in(browser, sqlite_service, "bob")
    open_room(alice, "general")
    open_room(bob, "general")
    expect(bob.page.locator("#presence li")).to_have_text(["alice", "bob"])
    expect(bob.page.locator("#presence-count")).to_have_text("(2)")

    alice.page.locator("#body").fill("hello b")  # typing: bob is told, alice is not
    expect(bob.page.locator("#typing")).to_have_text("alice is typing…")
    expect(alice.page.locator("#typing")).to_have_text("")
    send_message(alice.page, "hello bob")
    expect(confirmed(bob.page)).to_have_text(["hello bob"])
    expect(bob.page.locator("#log .msg .author")).to_have_text(["alice"])
    expect(bob.page.locator("#typing")).to_have_text("")  # a message ends the typing line

    send_message(alice.page, HOSTILE)
    for user in (alice, bob):
        page = user.page
        # Shown once, as the literal text, confirmed by the server (alice's pending copy
        # gave way to the confirmed one rather than staying next to it).
        expect(confirmed(page)).to_have_text(["hello bob", HOSTILE])
        expect(page.locator("#log .msg")).to_have_count(2)
        expect(page.locator("#log .msg.pending")).to_have_count(0)
        assert page.locator("#log img").count() == 0, "the body was parsed as HTML"
        # The server's sanitized html is a paragraph holding the tag as escaped text.
        assert page.locator("#log .msg .body").last.inner_html() == (
            "<p>&lt;img src=x onerror=alert(1)&gt;</p>"
        )
        expect_connected(page)
    # The longest body allowed, one unbreakable word, wraps inside the log: the page does
    # not grow sideways for everyone in the room.
    send_message(alice.page, "W" * 2000)
    for user in (alice, bob):
        expect(confirmed(user.page)).to_have_count(3)
        assert user.page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), "a long word widened the page"
    # For a human to look at when this fails (pytest keeps tmp_path of recent runs).
    bob.page.screenshot(path=str(tmp_path / "room-bob.png"), full_page=True)
    # Nobody reloaded: each room page opened exactly one room socket (the room list before it
    # has its own, /ws/rooms/), and no script ran from a body.
    for user in (alice, bob):
        room_sockets = [url for url in user.sockets if "/ws/rooms/" not in url]
        assert len(room_sockets) == 1 and "/ws/chat/room/" in room_sockets[0], user.sockets
        assert user.dialogs == [], user.dialogs
        assert user.page_errors == [], user.page_errors


def test_log_in_and_out_through_the_pages(sqlite_service, browser):
    alice = log_in(browser, sqlite_service, "alice")
    page = alice.page
    expect(page.locator(".flash")).to_have_text("Successfully signed in as alice.")
    expect(page.locator(".topbar .who")).to_have_text("alice")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{sqlite_service.url}/accounts/login/")
    # Only the news of now: the sign-in notice was shown once already, not kept for later.
    expect(page.locator(".flash")).to_have_text("You have signed out.")
    page.goto("/")
    assert page.url.startswith(f"{sqlite_service.url}/accounts/login/?next=")
    assert alice.page_errors == []


def test_reconnect_catches_up_once_each_in_order_and_resends_what_was_typed(
    sqlite_service, browser
):
    bob = log_in(browser, sqlite_service, "bob")
    room = open_room(bob, "general")
    send_message(bob.page, "before the outage")
    expect(confirmed(bob.page)).to_have_text(["before the outage"])
    last_seen = bob.page.evaluate("window.chatClient.version")

    # The network goes away. The client gives its socket up at once (a closing handshake with
    # no network to carry it can hang for a minute) and keeps retrying with backoff.
    bob.context.set_offline(True)
    badge = bob.page.locator("#conn-state")
    expect(badge).to_have_attribute("data-state", "reconnecting")
    expect(badge).to_have_text(re.compile(r"^offline · retrying in \d+ s$"))
    # Meanwhile carol posts over the HTTP API (session + CSRF), and bob types a message.
    carol = login(sqlite_service, "carol")
    for i in range(3):
        response = carol.post(
            f"/api/rooms/{room}/messages/",
            json={"body": f"missed {i}"},
            headers={"X-CSRFToken": carol.cookies["csrftoken"]},
        )
        assert response.status_code == 201, response.text
    send_message(bob.page, "typed while offline")
    expect(bob.page.locator("#log .msg.pending .body")).to_have_text(["typed while offline"])
    sockets_while_offline = len(bob.sockets)

    bob.context.set_offline(False)
    expect_connected(bob.page)
    expected = ["before the outage", "missed 0", "missed 1", "missed 2", "typed while offline"]
    expect(confirmed(bob.page)).to_have_text(expected)
    expect(bob.page.locator("#log .msg")).to_have_count(len(expected))
    # It asked only for what it had not seen.
    assert bob.sockets[-1].endswith(f"/ws/chat/room/{room}/?since={last_seen}"), bob.sockets
    assert len(bob.sockets) > sockets_while_offline

    # A second drop, this time caught by the backoff timer alone (no 'online' event).
    bob.page.evaluate("window.chatClient.socket.close()")
    response = carol.post(
        f"/api/rooms/{room}/messages/",
        json={"body": "after the second drop"},
        headers={"X-CSRFToken": carol.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    expect(confirmed(bob.page)).to_have_text([*expected, "after the second drop"])
    expect_connected(bob.page)

    # The record agrees: bob's offline message was stored once, not once per attempt.
    stored = carol.get(f"/api/rooms/{room}/messages/").json()["messages"]
    assert [m["body"] for m in stored] == [*expected, "after the second drop"]
    assert message_bodies(bob.page) == [m["body"] for m in stored]
    assert bob.dialogs == [] and bob.page_errors == []


def seed_messages(database: Path, room: str, count: int) -> None:
    """Old messages straight into the service's database, as history to scroll back to."""
    assert database.exists(), database
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from chat.models import Message, Room\n"
        f"room = Room.objects.get(name={room!r})\n"
        "dave = get_user_model().objects.get(username='dave')\n"
        "Message.objects.bulk_create(\n"
        f"    [Message(room=room, author=dave, body=f'old {{i:03d}}') for i in range({count})]\n"
        ")\n"
    )
    config = ServiceConfig(database_url=f"sqlite:///{database}")
    manage(config, "shell", "-c", code, check=True)


def test_older_history_loads_on_scroll(sqlite_service, browser, tmp_path):
    seed_messages(tmp_path / "e2e.sqlite3", "general", 120)
    alice = log_in(browser, sqlite_service, "alice")
    open_room(alice, "general")
    page = alice.page
    bodies = [f"old {i:03d}" for i in range(120)]
    expect(confirmed(page)).to_have_text(bodies[-50:])
    expect(page.locator("#older")).to_have_text("Scroll up for older messages")

    log = page.locator("#log")
    for shown in (100, 120):
        log.evaluate("log => { log.scrollTop = 0; }")
        expect(confirmed(page)).to_have_count(shown)
        # The reader keeps their place: the page is not left at the very top.
        assert log.evaluate("log => log.scrollTop") > 0
    expect(confirmed(page)).to_have_text(bodies)
    expect(page.locator("#older")).to_have_text("Start of the room")
    assert alice.page_errors == []


def test_a_log_too_short_to_scroll_fills_itself_with_older_pages(sqlite_service, browser, tmp_path):
    seed_messages(tmp_path / "e2e.sqlite3", "general", 120)
    # So tall that the latest 50 messages do not fill the log: there is nothing to scroll.
    alice = log_in(browser, sqlite_service, "alice", viewport=(1100, 4000))
    open_room(alice, "general")
    page = alice.page
    expect(confirmed(page)).to_have_count(100)
    log = page.locator("#log")
    assert log.evaluate("log => log.scrollHeight > log.clientHeight"), "it stops once full"
    expect(confirmed(page)).to_have_text([f"old {i:03d}" for i in range(20, 120)])
