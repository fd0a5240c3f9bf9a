"""Attachments in a real browser: an image pasted into the composer shows as a thumbnail to
the other member, a text file dropped onto the room downloads for them, and a non-member's
fetch of the same URL is refused."""

import base64
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.browser import chromium, log_in, open_room
from tests.liveserver import ServiceConfig, prepare_database, start_daphne

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# Dispatch what Chromium dispatches for a paste and for a drop of files: a DataTransfer
# holding File objects (Playwright has no OS clipboard or file drag to drive).
PASTE_FILE = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  const input = document.getElementById("body");
  const options = { clipboardData: data, bubbles: true, cancelable: true };
  input.dispatchEvent(new ClipboardEvent("paste", options));
}"""
DROP_FILE = """([text, name]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: "text/plain" }));
  const zone = document.querySelector(".room-body");
  for (const type of ["dragover", "drop"]) {
    const options = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, options));
  }
}"""


@pytest.fixture
def service(tmp_path):
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    config.extra_env["DJANGO_MEDIA_ROOT"] = str(tmp_path / "media")
    prepare_database(config)
    server = start_daphne(config, tmp_path)
    yield server
    server.stop()


def png_base64() -> str:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 160, 90)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def send(page) -> None:
    expect(page.locator("#uploads .upload.uploaded")).to_have_count(1)  # progress done
    page.locator("#body").press("Enter")


def test_paste_an_image_and_drop_a_text_file_for_the_other_member(service, tmp_path):
    with chromium() as browser:
        alice = log_in(browser, service, "alice")
        carol = log_in(browser, service, "carol")
        bob = log_in(browser, service, "bob")  # not a member of "ops"
        open_room(alice, "ops")
        open_room(carol, "ops")

        alice.page.evaluate(PASTE_FILE, [png_base64(), "screenshot.png", "image/png"])
        expect(alice.page.locator("#uploads .upload progress")).to_have_count(1)
        send(alice.page)
        thumbnail = carol.page.locator("#log .msg[data-id] .attachment-image img")
        expect(thumbnail).to_have_count(1)
        expect(thumbnail).to_have_js_property("complete", True)
        assert thumbnail.evaluate("img => img.naturalWidth") == 400  # the thumbnail, not 640

        alice.page.evaluate(DROP_FILE, ["meeting notes\n", "notes.txt"])
        send(alice.page)
        card = carol.page.locator("#log .msg[data-id] .attachment-file")
        expect(card).to_have_count(1)
        expect(card.locator(".attachment-name")).to_have_text("notes.txt")
        with carol.page.expect_download() as download_info:
            card.click()
        download = download_info.value
        assert download.suggested_filename == "notes.txt"
        saved = tmp_path / "downloaded.txt"
        download.save_as(saved)
        assert saved.read_text() == "meeting notes\n"

        url = card.get_attribute("href")
        assert bob.page.request.get(url).status == 403
        assert carol.page.request.get(url).status == 200
        for user in (alice, carol, bob):
            assert user.page_errors == [] and user.dialogs == []
            user.close()
