"""Browser notifications as a person gets them, in Debian's Chromium (notification permission
granted to the context) against a real Daphne process: the page's Notification constructor is
observed by an init script that wraps it, and the page is made hidden by overriding
`document.visibilityState` and dispatching `visibilitychange`."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import BrowserUser, log_in, open_room
from tests.e2e.livechat import post_message
from tests.liveserver import login, room_id

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Every Notification the page makes is recorded (title, body, tag), then made for real.
OBSERVE_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  class Observed extends Real {
    constructor(title, options) {
      super(title, options);
      const { body, tag } = options || {};
      window.__notifications.push({ title, body, tag });
    }
  }
  Object.defineProperty(Observed, "permission", { get: () => Real.permission });
  Observed.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Observed;
})();
"""

HIDE_PAGE = """
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
document.dispatchEvent(new Event("visibilitychange"));
"""


def notifications(page: Page) -> list[dict]:
    return page.evaluate("window.__notifications")


def room_list_hidden(user: BrowserUser) -> Page:
    """The user's room list (`/`, its socket open) with notifications observed, then hidden."""
    user.context.grant_permissions(["notifications"])
    user.context.add_init_script(OBSERVE_NOTIFICATIONS)
    page = user.page
    with page.expect_websocket(lambda socket: socket.url.endswith("/ws/rooms/")):
        page.goto("/")
    expect(page.locator("#my-rooms")).to_be_visible()
    page.wait_for_function(
        "window.roomList && window.roomList.socket && window.roomList.socket.readyState === 1"
    )
    page.evaluate(HIDE_PAGE)
    return page


def test_a_mention_while_hidden_makes_one_notification(sqlite_service, browser):
    bob = login(sqlite_service, "bob")
    general = room_id(bob, "general")
    alice = log_in(browser, sqlite_service, "alice")
    page = room_list_hidden(alice)
    message = post_message(sqlite_service, bob, general, "hey @alice, **look** <b>here</b>")
    post_message(sqlite_service, bob, general, "no mention, no notification")
    page.wait_for_function("window.__notifications.length >= 1")
    page.wait_for_timeout(1000)  # the second message would have come by now
    assert notifications(page) == [
        {
            "title": "general · bob",
            "body": "hey @alice, **look** <b>here</b>",
            "tag": str(message["id"]),
        }
    ]
    expect(page).to_have_title("(2) Rooms · MyChannels")
    assert alice.page_errors == []


def test_a_muted_room_makes_none(sqlite_service, browser):
    bob = login(sqlite_service, "bob")
    general, random_room = room_id(bob, "general"), room_id(bob, "random")
    alice = log_in(browser, sqlite_service, "alice")
    alice.page.goto(f"/chat/room/{general}/")
    alice.page.locator("#room-mute").click()
    expect(alice.page.locator("#room-mute")).to_have_text("Unmute notifications")
    page = room_list_hidden(alice)
    post_message(sqlite_service, bob, general, "@alice in the muted room")
    post_message(sqlite_service, bob, random_room, "@alice elsewhere")
    page.wait_for_function("window.__notifications.length >= 1")
    page.wait_for_timeout(1000)
    assert [n["title"] for n in notifications(page)] == ["random · bob"]


def test_permission_is_asked_only_from_the_button(sqlite_service, browser):
    alice = log_in(browser, sqlite_service, "alice")
    alice.context.add_init_script(
        "window.__asked = 0; const ask = Notification.requestPermission;"
        "Notification.requestPermission = (...a) => {"
        " window.__asked++; return ask.apply(Notification, a); };"
    )
    page = alice.page
    page.goto("/settings/")
    assert page.evaluate("window.__asked") == 0  # never on load
    button = page.locator("#notify-permission")
    expect(button).to_be_visible()
    button.click()  # headless Chromium answers without a prompt
    page.wait_for_function("window.__asked === 1")
    state = page.locator("#notify-permission-state")
    if state.get_attribute("data-permission") == "denied":
        expect(state).to_have_text(re.compile("blocked"))
        expect(button).to_be_hidden()  # a denied permission is shown, not asked again
    alice.context.grant_permissions(["notifications"])
    page.reload()
    expect(state).to_have_attribute("data-permission", "granted")
    expect(button).to_be_hidden()
    assert page.evaluate("window.__asked") == 0


def test_the_composer_completes_member_names_after_an_at(sqlite_service, browser):
    alice = log_in(browser, sqlite_service, "alice")
    open_room(alice, "general")
    page, composer = alice.page, alice.page.locator("#body")
    composer.press_sequentially("hi @")
    options = page.locator("#mention-list li")
    expect(options).to_have_text(["@bob", "@carol", "@dave"])  # members, not yourself
    composer.press("ArrowDown")
    composer.press("Enter")  # picks the name; nothing is sent
    expect(composer).to_have_value("hi @carol ")
    expect(page.locator("#mention-list")).to_be_hidden()
    composer.press_sequentially("and @D")
    expect(options).to_have_text(["@dave"])
    composer.press("Tab")
    expect(composer).to_have_value("hi @carol and @dave ")
    composer.press("Enter")  # the list is closed: this sends
    expect(page.locator("#log .msg .body", has_text="hi @carol and @dave")).to_have_count(1)
    expect(composer).to_have_value("")
