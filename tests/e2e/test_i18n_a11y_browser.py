"""Languages, accessibility and small screens in Chromium, on the real service (Daphne, SQLite,
in-memory layer): one server and one browser for the whole module.

- A Spanish browser (Accept-Language es) gets Spanish pages and Spanish client texts; the
  language control on every page switches, logged in or not.
- axe-core finds no WCAG 2 A/AA violation on any page, in both languages and both themes.
- At 390 px the header is one row with nothing past the screen's edge, and the composer and
  buttons are big enough to touch.
- The room log groups, dates and marks what is new.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible, ensure_axe
from tests.e2e.browser import (
    expect_connected,
    log_in,
    new_visitor,
    open_room,
    send_message,
)
from tests.liveserver import sqlite_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ADMIN, ADMIN_PASSWORD = "admin", "admin-demo-2026"  # seed_demo's operator
PHONE = (390, 844)
TOUCH_PX = 44
# Set to a folder (docs/screenshots) to write the README's screenshots of the room page.
SCREENSHOTS = os.environ.get("SCREENSHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sqlite_daphne(tmp_path_factory.mktemp("i18n-a11y")) as process:
        yield process


@pytest.fixture(scope="module", autouse=True)
def axe() -> None:
    ensure_axe()


def room_path(user, name: str) -> str:
    open_room(user, name)
    return re.sub(r"^https?://[^/]+", "", user.page.url)


def test_a_spanish_browser_gets_spanish_pages_and_client_texts(server, browser):
    visitor = new_visitor(browser, server, locale="es-ES")
    page = visitor.page
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text("Iniciar sesión")  # allauth's own page, in Spanish
    expect(page.locator("form.language button")).to_have_text("English")
    visitor.close()

    alice = log_in(browser, server, "alice", locale="es-ES")
    page = alice.page
    expect(page.locator("#topnav")).to_contain_text("Salas")
    expect(page.locator("#topnav")).to_contain_text("Salir")
    expect(page.locator("h1")).to_have_text("Tus salas")
    page.locator("#my-rooms a", has_text=re.compile(r"^general$")).click()
    badge = page.locator("#conn-state")
    expect(badge).to_have_attribute("data-state", "open")
    expect(badge).to_have_text("conectado")  # set by the client, from /jsi18n/
    expect(page.locator("#body")).to_have_attribute("placeholder", "Escribe un mensaje…")
    expect(page.locator("#older")).to_have_text(re.compile("^(Inicio de la sala|Desplázate.*)$"))
    send_message(page, "hola a todos")  # user text: shown as typed, never translated
    expect(page.locator("#log .msg[data-id] .body").last).to_have_text("hola a todos")
    expect(page.locator("#log .day-line").first).to_have_text("Hoy")
    assert page.evaluate("interpolate(gettext('%(name)s is typing…'), {name: 'x'}, true)") == (
        "x está escribiendo…"
    )
    assert alice.page_errors == []
    alice.close()


def test_the_language_control_switches_on_every_page(server, browser):
    visitor = new_visitor(browser, server)  # an English browser
    page = visitor.page
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("form.language button").click()  # "Español"
    page.wait_for_url(f"{server.url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text("Iniciar sesión")
    # The choice outlives the login and holds on every page, whatever the browser asks for.
    page.fill('input[name="login"]', "alice")
    page.fill('input[name="password"]', "chat-demo-2026")
    page.click('form[action="/accounts/login/"] button[type="submit"]')
    page.wait_for_url(f"{server.url}/")
    expect(page.locator("h1")).to_have_text("Tus salas")
    page.goto("/settings/")
    expect(page.locator("h1")).to_have_text("Tokens de API")
    page.locator("form.language button").click()  # "English", from the settings page
    page.wait_for_url(f"{server.url}/settings/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("API tokens")
    expect(page.locator("form.language button")).to_have_text("Español")
    visitor.close()


@pytest.mark.parametrize("language", ["en-US", "es-ES"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_on_any_page(server, browser, language, theme):
    visitor = new_visitor(browser, server, locale=language, color_scheme=theme)
    for path in ("/accounts/login/", "/accounts/signup/"):
        visitor.page.goto(path)
        assert_accessible(visitor.page, f"{path} ({language}, {theme})")
    visitor.close()

    alice = log_in(browser, server, "alice", locale=language, color_scheme=theme)
    page = alice.page
    assert_accessible(page, f"the room list ({language}, {theme})")
    open_room(alice, "general")
    send_message(page, f"a message in {language}, {theme}")
    expect(page.locator("#log .msg[data-id]").last).to_contain_text(theme)
    page.fill("#body", "typing")  # the composer in use, its focus ring drawn
    assert_accessible(page, f"a room ({language}, {theme})")
    # Search finds the message just sent; the dashboard is a 403 for alice.
    for path in ("/search/?q=message", "/alerts/", "/settings/", "/dashboard/"):
        page.goto(path)
        assert_accessible(page, f"{path} ({language}, {theme})")
    refused = "Not allowed" if language == "en-US" else "No permitido"
    expect(page.locator("h1")).to_have_text(refused)
    # A narrow screen, with the header's menu open.
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.goto("/")
    page.locator(".menu-toggle").click()
    expect(page.locator("#topnav")).to_be_visible()
    assert_accessible(page, f"the room list at 390 px, menu open ({language}, {theme})")
    page.keyboard.press("Escape")
    page.locator(".drawer-toggle").click()
    expect(page.locator("#sidebar")).to_have_css("transform", "none")
    assert_accessible(page, f"the room list at 390 px, rooms drawer open ({language}, {theme})")
    alice.close()

    operator = log_in(browser, server, ADMIN, ADMIN_PASSWORD, locale=language, color_scheme=theme)
    operator.page.goto("/dashboard/")
    expect(operator.page.locator("#conn-state")).to_have_attribute("data-state", "open")
    assert_accessible(operator.page, f"the dashboard ({language}, {theme})")
    operator.close()


def boxes(page, selector: str) -> list[dict]:
    return [box for box in (el.bounding_box() for el in page.locator(selector).all()) if box]


@pytest.mark.parametrize("who", ["visitor", "alice", ADMIN])
def test_the_header_is_one_row_at_390_px(server, browser, who):
    if who == "visitor":
        user = new_visitor(browser, server, viewport=PHONE, locale="es-ES")
        user.page.goto("/accounts/login/")
    elif who == ADMIN:
        user = log_in(browser, server, ADMIN, ADMIN_PASSWORD, viewport=PHONE, locale="es-ES")
    else:
        user = log_in(browser, server, who, viewport=PHONE, locale="es-ES")
    page = user.page
    header = page.locator("header.topbar").bounding_box()
    items = boxes(page, "header.topbar > *:not(nav), header.topbar > nav:not(.topnav)")
    if who == "visitor":
        items += boxes(page, "header.topbar .topnav > *")
    assert len(items) >= 2, items
    for item in items:
        # One row: every item's middle at the header's middle; none past the screen's edge.
        assert abs((item["y"] + item["height"] / 2) - (header["y"] + header["height"] / 2)) < 4
        assert item["x"] >= 0 and item["x"] + item["width"] <= PHONE[0], item
        assert item["height"] >= TOUCH_PX or who == "visitor", item
    assert header["height"] <= 64, header
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]

    if who != "visitor":
        # The links are behind the menu button, each a full-width target, and Escape closes it.
        toggle = page.locator(".menu-toggle")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#topnav")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        for box in boxes(page, "#topnav a, #topnav button"):
            assert box["height"] >= TOUCH_PX and box["x"] + box["width"] <= PHONE[0], box
        page.keyboard.press("Escape")
        expect(page.locator("#topnav")).to_be_hidden()
        expect(toggle).to_be_focused()
        # The sidebar of rooms is a drawer behind its own button, over the page when open.
        drawer = page.locator(".drawer-toggle")
        sidebar = page.locator("#sidebar")
        expect(sidebar).not_to_be_in_viewport()
        drawer.click()
        expect(drawer).to_have_attribute("aria-expanded", "true")
        expect(sidebar).to_have_css("transform", "none")  # slid in all the way
        box = sidebar.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], box
        page.keyboard.press("Escape")
        expect(sidebar).not_to_be_in_viewport()
        expect(drawer).to_be_focused()
    if who == "alice":
        # The room page: the composer is on screen and big enough to touch, and the log
        # leaves it room.
        open_room(user, "general")
        for selector in ("#body", "#send-button", "#attach"):
            box = page.locator(selector).bounding_box()
            assert box["height"] >= TOUCH_PX, (selector, box)
            assert box["y"] + box["height"] <= PHONE[1], (selector, box)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    user.close()


def test_the_room_log_groups_dates_and_marks_what_is_new(server, browser):
    bob = log_in(browser, server, "bob", viewport=(1100, 640))
    room = room_path(bob, "random")
    send_message(bob.page, "bob was here")
    expect(bob.page.locator("#log .msg[data-id]")).to_have_count(1)
    bob.page.wait_for_timeout(1000)  # the read frame goes out 750 ms after a message shows
    bob.page.goto("/")  # bob leaves, having read up to his own message

    alice = log_in(browser, server, "alice", viewport=(1100, 640))
    alice.page.goto(room)
    expect_connected(alice.page)
    bodies = [f"line {n} from alice" for n in range(1, 19)]
    for body in bodies:
        send_message(alice.page, body)
    expect(alice.page.locator("#log .msg[data-id]")).to_have_count(1 + len(bodies))

    bob.page.goto(room)
    page = bob.page
    expect_connected(page)
    log = page.locator("#log")
    expect(log.locator(".msg[data-id]")).to_have_count(1 + len(bodies))
    # One day line, above the first message; one author's run is a group: the name shows on
    # its first message only (the others keep it for screen readers).
    expect(log.locator(".day-line")).to_have_text(["Today"])
    expect(log.locator(".msg[data-id]:not(.cont)")).to_have_count(2)
    expect(log.locator(".msg.cont")).to_have_count(len(bodies) - 1)
    # The new messages start after bob's own: the line sits right before alice's first.
    unread = log.locator(".unread-line")
    expect(unread).to_have_text("New messages")
    after_line = "document.querySelector('.unread-line').nextElementSibling"
    assert page.evaluate(after_line + ".querySelector('.body').textContent") == bodies[0]
    # Times are relative, the exact one on hover.
    first_time = log.locator(".msg[data-id] time").first
    expect(first_time).to_have_text("now")
    assert re.search(r"\d{4}", first_time.get_attribute("title")), first_time.get_attribute("title")

    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "room-desktop.png"))

    # Scrolled up, "Jump to latest" appears; pressed (by keyboard), the newest is in view.
    jump = page.locator("#jump-latest")
    page.evaluate("document.getElementById('log').scrollTop = 0")
    expect(jump).to_be_visible()
    jump.focus()
    page.keyboard.press("Enter")
    expect(jump).to_be_hidden()
    expect(log.locator(".msg[data-id]").last).to_be_in_viewport()
    expect(log).to_be_focused()
    alice.close()
    bob.close()


def test_the_room_page_on_a_phone_in_spanish_and_in_dark_mode(server, browser, tmp_path):
    """The README's pictures (SCREENSHOTS=<folder> writes them there, else to tmp_path): the
    page lays out at phone width in Spanish and in the dark scheme without overflowing."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    for name, options in {
        "room-mobile.png": {"viewport": PHONE, "locale": "es-ES"},
        "room-dark.png": {"color_scheme": "dark"},
    }.items():
        user = log_in(browser, server, "bob", **options)
        open_room(user, "random")
        user.page.wait_for_timeout(300)
        overflow = user.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
        user.page.screenshot(path=str(folder / name))
        assert (folder / name).stat().st_size > 10_000
        user.close()
