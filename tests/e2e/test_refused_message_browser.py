"""A message the server refuses, in Debian's Chromium against a real Daphne process with a
tight flood limit: its copy in the log says "not sent" and offers "Send again", which works
from the keyboard once the limit allows and stores it once; the page stays accessible."""

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible
from tests.e2e.browser import log_in, open_room, send_message
from tests.liveserver import sqlite_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Two messages at once, then one every two seconds.
TIGHT = {"CHAT_RATE_PER_SECOND": "0.5", "CHAT_RATE_BURST": "2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sqlite_daphne(tmp_path_factory.mktemp("refused-message"), TIGHT) as process:
        yield process


def test_a_refused_message_says_not_sent_and_goes_again_from_the_keyboard(
    server, browser, tmp_path
):
    alice = log_in(browser, server, "alice")
    page = alice.page
    open_room(alice, "general")
    for body in ("first of three", "second of three", "third of three"):
        send_message(page, body)
    refused = page.locator("#log .msg.pending.refused", has_text="third of three")
    expect(refused).to_have_count(1)
    expect(refused.locator(".time")).to_have_text("not sent")
    expect(page.locator("#send-error")).to_have_text("You are sending too fast; wait a moment.")
    expect(page.locator("#log .msg[data-id]", has_text="second of three")).to_have_count(1)
    assert_accessible(page, "a room with a refused message")
    page.screenshot(path=tmp_path / "refused-desktop.png")
    page.set_viewport_size({"width": 390, "height": 760})
    page.screenshot(path=tmp_path / "refused-phone.png")

    page.wait_for_timeout(2500)  # a token back
    again = refused.get_by_role("button", name="Send again")
    again.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg[data-id]", has_text="third of three")).to_have_count(1)
    expect(page.locator("#log .msg.pending")).to_have_count(0)
    expect(page.locator("#body")).to_be_focused()
    page.reload()
    open_room(alice, "general")
    expect(page.locator("#log .msg[data-id]", has_text="third of three")).to_have_count(1)
    assert alice.page_errors == [] and alice.dialogs == []
