"""Search as a person uses it, in Debian's Chromium against a real Daphne process on
PostgreSQL: the box in the page header finds a message, and its link opens the room at that
message (marked, in view), even when it is older than the room's opening page."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import chromium, expect_connected, log_in
from tests.e2e.livechat import post_message
from tests.liveserver import login, room_id, start_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def service(scaled_config, tmp_path):
    scaled_config.extra_env.update(CHAT_RATE_BURST="500", CHAT_REQUEST_BURST="1000")
    server = start_daphne(scaled_config, tmp_path)
    yield server
    server.stop()


def test_a_search_finds_a_message_and_its_link_lands_on_it(service):
    bob = login(service, "bob")
    general = room_id(bob, "general")
    target = post_message(service, bob, general, "the <b>zebra</b> crossing plan")
    for n in range(70):  # the target is older than the room's opening page of 50
        post_message(service, bob, general, f"later chatter {n}")
    with chromium() as browser:
        alice = log_in(browser, service, "alice")
        page = alice.page
        page.goto("/")
        page.locator("header input[name=q]").fill("zebra")
        page.locator("header input[name=q]").press("Enter")
        page.wait_for_url(re.compile(r"/search/\?q=zebra"))
        results = page.locator("#search-results .search-result")
        expect(results).to_have_count(1)
        expect(results.locator("mark")).to_have_text("zebra")
        expect(results.locator(".search-highlight")).to_have_text("the <b>zebra</b> crossing plan")
        results.locator("a.search-link").click()
        page.wait_for_url(re.compile(rf"/chat/room/{general}/\?at={target['id']}$"))
        expect_connected(page)
        row = page.locator(f'#log .msg[data-id="{target["id"]}"]')
        expect(row).to_have_class(re.compile(r"\bmsg-at\b"))
        expect(row).to_be_in_viewport()
        # Newer messages follow it; the latest one is in the log too.
        expect(page.locator("#log .msg .body", has_text="later chatter 69")).to_have_count(1)
        assert alice.page_errors == []
