"""The operations dashboard in Chromium on the real service (Daphne, SQLite, in-memory layer):
an alert and a message posted by a bot move the charts and their text without a reload; a user
who is not staff gets the 403 page."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import chromium, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN, ADMIN_PASSWORD = "admin", "admin-demo-2026"  # seed_demo's operator


def new_api_token(page: Page) -> str:
    """Made on the settings page, as a user would, and read off the page that shows it once."""
    page.goto("/settings/")
    page.fill("input[name=name]", "dashboard test")
    page.click("text=Create token")
    return page.text_content("#new-token").strip()


def chart_data(page: Page, canvas_id: str, dataset: int = 0) -> list[int]:
    """What the chart draws, read from Chart.js itself."""
    return page.evaluate(
        "([id, i]) => Array.from(Chart.getChart(id).data.datasets[i].data)", [canvas_id, dataset]
    )


def test_a_bots_alert_and_message_move_the_charts_without_a_reload(sqlite_service):
    server = sqlite_service
    with chromium() as browser:
        alice = log_in(browser, server, "alice")
        token = new_api_token(alice.page)
        alice.page.goto("/")
        href = alice.page.get_attribute("#my-rooms a:text-is('ops')", "href")
        ops = int(re.search(r"/chat/room/(\d+)/", href).group(1))

        operator = log_in(browser, server, ADMIN, ADMIN_PASSWORD)
        page = operator.page
        page.click("nav a:text-is('Dashboard')")
        page.wait_for_url(f"{server.url}/dashboard/")
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
        critical = page.locator('#alerts-table td[data-level="critical"]')
        expect(critical).to_have_text("0")
        assert chart_data(page, "alerts-chart") == [0, 0, 0]
        page.evaluate("window.__sameDocument = true")

        bot = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=10, headers=bot) as api:
            response = api.post(
                f"/api/rooms/{ops}/alerts/", json={"content": "db-1 down", "level": "critical"}
            )
            assert response.status_code == 201, response.text
            response = api.post(f"/api/rooms/{ops}/messages/", json={"body": "looking"})
            assert response.status_code == 201, response.text

        expect(critical).to_have_text("1")
        assert chart_data(page, "alerts-chart") == [0, 0, 1]
        expect(page.locator("#rooms-table tbody tr")).to_have_text(re.compile(r"^\s*ops\s*1\s*$"))
        expect(page.locator("#messages-hour")).to_have_text("1")
        assert sum(chart_data(page, "activity-chart")) == 1  # all rooms
        assert sum(chart_data(page, "activity-chart", dataset=1)) == 1  # ops, the busiest
        expect(page.locator("#activity-summary")).to_contain_text("1 message in the last hour")
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        assert operator.page_errors == []

        bob = log_in(browser, server, "bob")
        refused = bob.page.goto("/dashboard/")
        assert refused.status == 403
