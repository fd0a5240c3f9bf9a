"""Messages people can fix, answer and react to, in Debian's Chromium against a real Daphne
process: edit, delete, reply and react seen by another user live, Markdown rendered and
hostile Markdown inert, a page that was offline catching up on all of it by version, and
the actions done with the keyboard alone. One server for the module; each test posts
messages of its own."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import SignedIn, expect_connected, open_room, send_message
from tests.liveserver import login, room_id, sqlite_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The tests act faster than a person; flood control has its own tests.
FAST = {"CHAT_RATE_PER_SECOND": "1000", "CHAT_RATE_BURST": "1000"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sqlite_daphne(tmp_path_factory.mktemp("message-actions"), FAST) as process:
        yield process


@pytest.fixture(scope="module")
def signed_in(server) -> SignedIn:
    return SignedIn(server)


@pytest.fixture
def pair(signed_in, browser):
    """Alice and Bob, each with the general room open (logged in through the form once for
    the module)."""
    alice, bob = signed_in.user(browser, "alice"), signed_in.user(browser, "bob")
    open_room(alice, "general")
    open_room(bob, "general")
    yield alice, bob
    for user in (alice, bob):
        assert user.page_errors == [] and user.dialogs == []
        user.close()


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


def row_with(page: Page, text: str):
    return page.locator("#log .msg[data-id]", has_text=text)


def row_by_id(page: Page, message_id: int):
    return page.locator(f'#log .msg[data-id="{message_id}"]')


def post_and_wait(sender: Page, others: list[Page], body: str) -> int:
    send_message(sender, body)
    for page in (sender, *others):
        expect(row_with(page, body)).to_have_count(1)
    expect(sender.locator("#log .msg.pending")).to_have_count(0)
    return int(row_with(sender, body).get_attribute("data-id"))


def press_action(page: Page, message_id: int, label: str) -> None:
    row = row_by_id(page, message_id)
    row.hover()
    row.get_by_role("button", name=label, exact=True).click()


def test_an_edit_shows_to_the_other_user_with_the_edited_marker(pair):
    alice, bob = pair
    first, fixed = unique("teh draft"), unique("the draft")
    mid = post_and_wait(alice.page, [bob.page], first)

    press_action(alice.page, mid, "Edit message")
    editor = row_by_id(alice.page, mid).get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill(fixed)
    editor.press("Enter")
    for page in (alice.page, bob.page):
        row = row_by_id(page, mid)
        expect(row.locator(".body")).to_have_text(fixed)
        expect(row.locator(".edited")).to_have_text("(edited)")
        expect(row.locator(".edited")).to_have_attribute("title", re.compile(r"^edited .+"))
    expect(row_by_id(alice.page, mid).locator(".msg-editor")).to_have_count(0)
    # Only the author is offered the edit.
    expect(row_by_id(bob.page, mid).get_by_role("button", name="Edit message")).to_have_count(0)


def test_a_deletion_leaves_a_tombstone_on_both_pages(pair):
    alice, bob = pair
    body = unique("regrettable")
    mid = post_and_wait(alice.page, [bob.page], body)
    press_action(alice.page, mid, "Delete message")
    # The first press only arms the button: a slip of the mouse deletes nothing.
    expect(row_by_id(bob.page, mid).locator(".body")).to_have_text(body)
    row_by_id(alice.page, mid).get_by_role(
        "button", name="Press again to delete the message"
    ).click()
    for page in (alice.page, bob.page):
        row = row_by_id(page, mid)
        expect(row.locator(".body")).to_have_text("message deleted")
        expect(row).to_have_class(re.compile(r"\bdeleted\b"))
        expect(row.get_by_role("button")).to_have_count(0)


def test_a_reply_quotes_the_original_and_the_quote_leads_back_to_it(pair):
    alice, bob = pair
    original = unique("which release ships it?")
    mid = post_and_wait(alice.page, [bob.page], original)
    for i in range(25):  # enough to scroll the original out of view
        send_message(alice.page, f"filler {i}")
    expect(row_with(bob.page, "filler 24")).to_have_count(1)

    bob.page.locator("#log").evaluate("log => log.scrollTop = log.scrollHeight")
    press_action(bob.page, mid, "Reply to alice")
    expect(bob.page.locator("#reply-bar")).to_be_visible()
    expect(bob.page.locator("#reply-label")).to_have_text(f"Replying to alice: {original}")
    expect(bob.page.locator("#body")).to_be_focused()
    answer = unique("the next one")
    send_message(bob.page, answer)
    expect(bob.page.locator("#reply-bar")).to_be_hidden()

    for page in (alice.page, bob.page):
        quote = row_with(page, answer).locator(".msg-quote")
        expect(quote).to_have_text(re.compile(rf"^alice\s*{re.escape(original)}$"))
    alice.page.locator("#log").evaluate("log => log.scrollTop = log.scrollHeight")
    row_with(alice.page, answer).locator(".msg-quote").click()
    target = row_by_id(alice.page, mid)
    expect(target).to_have_class(re.compile(r"\bhighlight\b"))
    expect(target).to_be_in_viewport()


def test_a_quote_of_a_message_not_loaded_yet_pages_older_history_in(pair, server):
    alice, bob = pair
    original = unique("way back")
    mid = post_and_wait(alice.page, [bob.page], original)
    http = login(server, "carol")
    general = room_id(http, "general")
    for i in range(60):  # past the 50 a fresh page opens with
        response = http.post(
            f"/api/rooms/{general}/messages/",
            json={"body": f"later {i}"},
            headers={"X-CSRFToken": http.cookies["csrftoken"]},
        )
        assert response.status_code == 201, response.text
    expect(row_with(bob.page, "later 59")).to_have_count(1)
    press_action(bob.page, mid, "Reply to alice")
    answer = unique("answering way back")
    send_message(bob.page, answer)
    expect(row_with(alice.page, answer)).to_have_count(1)

    # A fresh page opens with the latest 50: the reply, not what it quotes.
    alice.page.reload()
    expect_connected(alice.page)
    expect(row_with(alice.page, answer)).to_have_count(1)
    expect(row_by_id(alice.page, mid)).to_have_count(0)
    row_with(alice.page, answer).locator(".msg-quote").click()
    expect(row_by_id(alice.page, mid)).to_have_class(re.compile(r"\bhighlight\b"))
    expect(row_by_id(alice.page, mid)).to_be_in_viewport()


def test_reactions_show_to_the_other_user_and_toggle_off(pair):
    alice, bob = pair
    body = unique("ship it")
    mid = post_and_wait(alice.page, [bob.page], body)

    press_action(bob.page, mid, "Add a reaction")
    bob.page.get_by_role("dialog", name="Pick a reaction").get_by_role(
        "button", name="React with 👍"
    ).click()
    alice_chip = row_by_id(alice.page, mid).locator(".reaction", has_text="👍")
    expect(alice_chip.locator(".reaction-count")).to_have_text("1")
    expect(alice_chip).to_have_attribute("title", "bob")
    expect(alice_chip).to_have_attribute("aria-pressed", "false")
    bob_chip = row_by_id(bob.page, mid).locator(".reaction", has_text="👍")
    expect(bob_chip).to_have_attribute("aria-pressed", "true")

    alice_chip.click()  # alice joins in
    for page in (alice.page, bob.page):
        chip = row_by_id(page, mid).locator(".reaction", has_text="👍")
        expect(chip.locator(".reaction-count")).to_have_text("2")
        expect(chip).to_have_attribute("title", "alice, bob")
    row_by_id(alice.page, mid).locator(".reaction", has_text="👍").click()
    row_by_id(bob.page, mid).locator(".reaction", has_text="👍").click()
    for page in (alice.page, bob.page):
        expect(row_by_id(page, mid).locator(".reaction")).to_have_count(0)

    # Any one emoji through the free field.
    press_action(alice.page, mid, "Add a reaction")
    picker = alice.page.get_by_role("dialog", name="Pick a reaction")
    picker.get_by_role("textbox", name="Any emoji").fill("🦀")
    picker.get_by_role("textbox", name="Any emoji").press("Enter")
    expect(row_by_id(bob.page, mid).locator(".reaction", has_text="🦀")).to_have_count(1)


def test_markdown_renders_and_hostile_markdown_stays_inert(pair, server):
    alice, bob = pair
    tag = uuid.uuid4().hex[:6]
    send_message(alice.page, f"**bold {tag}** and [docs](https://example.com/{tag})")
    send_message(alice.page, f"<img src=x onerror=alert(1)> {tag}")
    send_message(alice.page, f"[x](javascript:alert(1)) {tag}")
    # A fenced block needs newlines, which the one-line composer does not take: a bot posts it.
    http = login(server, "carol")
    response = http.post(
        f"/api/rooms/{room_id(http, 'general')}/messages/",
        json={"body": f"```\n<script>alert(1)</script> {tag}\n```"},
        headers={"X-CSRFToken": http.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    for page in (alice.page, bob.page):
        expect(page.locator("#log .msg[data-id]", has_text=tag)).to_have_count(4)
        expect(page.locator("#log .msg .body strong", has_text=f"bold {tag}")).to_have_count(1)
        link = page.locator(f'#log .msg .body a[href="https://example.com/{tag}"]')
        expect(link).to_have_attribute("rel", "nofollow noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
        expect(page.locator("#log .msg .body pre code", has_text="<script>")).to_have_count(1)
        assert page.locator("#log img, #log script, #log iframe").count() == 0
        hostile_attributes = page.locator("#log").evaluate(
            """log => [...log.querySelectorAll('*')].flatMap(node => [...node.attributes]
                .filter(a => a.name.startsWith('on') ||
                             /^\\s*javascript:/i.test(a.value) && a.name === 'href')
                .map(a => node.tagName + ' ' + a.name))"""
        )
        assert hostile_attributes == []
    assert alice.dialogs == [] and bob.dialogs == []


def test_a_page_offline_during_an_edit_a_deletion_and_a_reaction_shows_all_three(pair, server):
    alice, bob = pair
    edited, deleted, reacted = unique("to edit"), unique("to delete"), unique("to react to")
    ids = [post_and_wait(alice.page, [bob.page], body) for body in (edited, deleted, reacted)]
    since = bob.page.evaluate("window.chatClient.version")
    sockets_before = len(bob.sockets)

    bob.context.set_offline(True)
    expect(bob.page.locator("#conn-state")).to_have_attribute("data-state", "reconnecting")
    http = login(server, "alice")
    general = room_id(http, "general")
    csrf = {"X-CSRFToken": http.cookies["csrftoken"]}
    messages = f"/api/rooms/{general}/messages"
    assert http.patch(
        f"{messages}/{ids[0]}/", json={"body": "edited offline"}, headers=csrf
    ).is_success
    assert http.delete(f"{messages}/{ids[1]}/", headers=csrf).is_success
    assert http.put(f"{messages}/{ids[2]}/reactions/🎉/", headers=csrf).is_success
    expect(row_by_id(alice.page, ids[2]).locator(".reaction", has_text="🎉")).to_have_count(1)
    expect(row_by_id(bob.page, ids[0]).locator(".body")).to_have_text(edited)  # still offline

    bob.context.set_offline(False)
    expect_connected(bob.page)
    assert len(bob.sockets) > sockets_before
    assert bob.sockets[-1].endswith(f"/ws/chat/room/{general}/?since={since}"), bob.sockets
    expect(row_by_id(bob.page, ids[0]).locator(".body")).to_have_text("edited offline")
    expect(row_by_id(bob.page, ids[0]).locator(".edited")).to_have_text("(edited)")
    expect(row_by_id(bob.page, ids[1]).locator(".body")).to_have_text("message deleted")
    chip = row_by_id(bob.page, ids[2]).locator(".reaction", has_text="🎉")
    expect(chip.locator(".reaction-count")).to_have_text("1")
    expect(chip).to_have_attribute("title", "alice")
    # Caught up: the mark moved past all three changes.
    assert bob.page.evaluate("window.chatClient.version") >= since + 3


def test_a_stale_edit_shows_the_newer_text_and_saving_again_wins(pair, server):
    alice, _ = pair
    body = unique("first words")
    mid = post_and_wait(alice.page, [], body)
    press_action(alice.page, mid, "Edit message")
    editor = row_by_id(alice.page, mid).get_by_role("textbox", name="Edit message")
    # Meanwhile the same message is edited elsewhere (another tab, a bot with her token).
    http = login(server, "alice")
    general = room_id(http, "general")
    response = http.patch(
        f"/api/rooms/{general}/messages/{mid}/",
        json={"body": "edited elsewhere"},
        headers={"X-CSRFToken": http.cookies["csrftoken"]},
    )
    assert response.status_code == 200, response.text
    expect(row_by_id(alice.page, mid).locator(".body")).to_have_text("edited elsewhere")
    editor.fill("my version")
    editor.press("Enter")
    notice = row_by_id(alice.page, mid).locator(".edit-notice")
    expect(notice).to_have_text(re.compile(r"^Changed meanwhile"))
    expect(editor).to_have_value("my version")
    editor.press("Enter")
    expect(row_by_id(alice.page, mid).locator(".body")).to_have_text("my version")
    expect(row_by_id(alice.page, mid).locator(".msg-editor")).to_have_count(0)


def tab_to(page: Page, label: str, key: str = "Tab", limit: int = 40) -> None:
    """Press Tab (or Shift+Tab) until the focused element has this accessible name."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == label:
            return
    pytest.fail(f"{label!r} is not reachable with {key}")


def focus_outline(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.activeElement).outlineStyle")


def test_every_action_works_with_the_keyboard_alone(pair):
    alice, bob = pair
    page = alice.page
    composer = page.locator("#body")
    composer.focus()
    body = unique("typed by keyboard")
    page.keyboard.type(body)
    page.keyboard.press("Enter")
    expect(row_with(bob.page, body)).to_have_count(1)
    mid = int(row_with(page, body).get_attribute("data-id"))

    # Up arrow in the empty composer edits one's last message; Escape gives up.
    page.keyboard.press("ArrowUp")
    editor = row_by_id(page, mid).get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(composer).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("End")
    page.keyboard.type(" (fixed)")
    page.keyboard.press("Enter")
    expect(row_by_id(bob.page, mid).locator(".body")).to_have_text(f"{body} (fixed)")

    # Back from the composer into the last message's actions, each visibly focused.
    composer.focus()
    tab_to(page, "Add a reaction", "Shift+Tab")
    assert focus_outline(page) != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="React with 👍")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row_by_id(bob.page, mid).locator(".reaction", has_text="👍")).to_have_count(1)
    chip = row_by_id(page, mid).locator(".reaction", has_text="👍")
    chip.focus()
    assert focus_outline(page) != "none"
    page.keyboard.press("Enter")  # toggles it off again
    expect(row_by_id(bob.page, mid).locator(".reaction")).to_have_count(0)

    composer.focus()
    tab_to(page, "Reply to alice", "Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#reply-bar")).to_be_visible()
    expect(composer).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#reply-bar")).to_be_hidden()

    composer.focus()
    tab_to(page, "Delete message", "Shift+Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # the second press confirms
    expect(row_by_id(bob.page, mid).locator(".body")).to_have_text("message deleted")
