"""Attachments: upload limits, the kind read from the bytes, serving inert, access checks."""

import asyncio
import io
import tracemalloc
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient
from PIL import Image

from chat import attachments_views
from chat.models import Attachment
from chat.services.attachments import safe_display_name
from mychannels.asgi import application
from tests.chat.attachment_files import HTML, SVG, image_bytes, png_bomb, png_bytes
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)

INERT = {
    "Cache-Control": "private",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    """Each test stores into a folder of its own, so that it can see what landed there."""
    folder = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    return folder


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def upload(client: AsyncClient, room_id: int, name: str, data: bytes, claimed: str = ""):
    file = SimpleUploadedFile(name, data, content_type=claimed or "application/octet-stream")
    return await client.post(f"/api/rooms/{room_id}/attachments/", {"file": file})


async def body_of(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


def assert_inert(response) -> None:
    for header, value in INERT.items():
        assert response[header] == value, header


@pytest.fixture
async def alice_room():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    return alice, room, await logged_in(alice)


async def test_an_image_upload_answers_the_contract_and_gets_a_thumbnail(alice_room, media):
    _, room, client = alice_room
    response = await upload(client, room.pk, "holiday.png", png_bytes(800, 600), "image/png")
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) == {
        "id", "name", "size", "content_type", "url", "thumbnail_url", "width", "height"
    }  # fmt: skip
    assert data["name"] == "holiday.png" and data["content_type"] == "image/png"
    assert (data["width"], data["height"]) == (800, 600)
    assert data["url"] == f"/attachments/{data['id']}/"
    assert data["thumbnail_url"] == f"/attachments/{data['id']}/thumbnail/"
    names = [p.name for p in stored_files(media)]
    assert len(names) == 2 and not any("holiday" in n for n in names), "random names only"

    thumb = await client.get(data["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert_inert(thumb)
    with Image.open(io.BytesIO(await body_of(thumb))) as image:
        assert image.width <= 400


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
async def test_raster_images_are_served_inline_with_their_real_type(alice_room, fmt, mime):
    _, room, client = alice_room
    data = image_bytes(fmt)
    created = (await upload(client, room.pk, "pic.bin", data)).json()
    assert created["content_type"] == mime  # from the bytes, not the name or the claim
    response = await client.get(created["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == mime
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Length"] == str(len(data))
    assert_inert(response)
    assert await body_of(response) == data


@pytest.mark.parametrize(("name", "data"), [("page.png", HTML), ("logo.svg", SVG)])
async def test_html_or_svg_claiming_to_be_png_is_a_download(alice_room, name, data):
    _, room, client = alice_room
    created = (await upload(client, room.pk, name, data, "image/png")).json()
    assert created["thumbnail_url"] is None and created["width"] is None
    assert created["content_type"] == "application/octet-stream"
    response = await client.get(created["url"])
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert_inert(response)
    assert (await client.get(created["url"] + "thumbnail/")).status_code == 404


async def test_a_png_with_a_script_appended_is_still_an_image_served_with_nosniff(alice_room):
    _, room, client = alice_room
    data = png_bytes(20, 20) + b"<script>alert(1)</script>"
    created = (await upload(client, room.pk, "x.png", data)).json()
    response = await client.get(created["url"])
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert_inert(response)


async def test_a_text_file_is_a_download_card(alice_room):
    _, room, client = alice_room
    created = (await upload(client, room.pk, "notes.txt", b"hello\n", "text/plain")).json()
    assert created["size"] == 6 and created["thumbnail_url"] is None
    response = await client.get(created["url"])
    assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert_inert(response)


async def test_path_and_nul_names_are_stored_randomly_and_shown_sanitized(alice_room, media):
    _, room, client = alice_room
    created = (await upload(client, room.pk, "../../etc/passwd", b"root:x:0:0")).json()
    assert created["name"] == "passwd"
    assert all(p.resolve().is_relative_to(media.resolve()) for p in stored_files(media))
    assert not any(p.name == "passwd" for p in stored_files(media))
    assert safe_display_name("a\x00b\r\n.txt") == "ab.txt"
    assert safe_display_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_display_name("") == "file"
    row = await Attachment.objects.aget(pk=created["id"])
    row.name = 'r\u00e9sum\u00e9 "final".pdf'
    await row.asave()
    response = await client.get(created["url"])
    # RFC 6266: a non-ASCII name goes as filename*, never raw bytes in the header.
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")


async def test_an_empty_file_is_refused(alice_room, media):
    _, room, client = alice_room
    response = await upload(client, room.pk, "empty.txt", b"")
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert stored_files(media) == []


async def test_a_decompression_bomb_is_refused(alice_room, media):
    _, room, client = alice_room
    response = await upload(client, room.pk, "bomb.png", png_bomb())
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert stored_files(media) == [] and await Attachment.objects.acount() == 0


async def test_an_image_over_the_pixel_limit_is_refused(alice_room, settings):
    _, room, client = alice_room
    settings.CHAT_ATTACHMENT_MAX_PIXELS = 10_000
    # Between the limit and twice it Pillow only warns: that is refused as well.
    for size in ((150, 100), (300, 300)):
        response = await upload(client, room.pk, "big.png", png_bytes(*size))
        assert response.status_code == 400 and response.json()["error"] == "invalid"


async def test_over_the_limit_is_413_and_nothing_is_stored(alice_room, settings, media):
    _, room, client = alice_room
    settings.CHAT_ATTACHMENT_MAX_BYTES = 10_000
    seen: list[attachments_views.LimitedUploadHandler] = []
    original = attachments_views.LimitedUploadHandler

    class Recording(original):
        def __init__(self, request=None) -> None:
            super().__init__(request)
            seen.append(self)

    attachments_views.LimitedUploadHandler = Recording
    try:
        # Within the body's slack for multipart framing, so the streaming check decides.
        response = await upload(client, room.pk, "big.bin", b"x" * 30_000)
    finally:
        attachments_views.LimitedUploadHandler = original
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert seen[0].exceeded and seen[0].received <= 10_000 + 64 * 1024
    assert stored_files(media) == [] and await Attachment.objects.acount() == 0


async def test_a_declared_content_length_over_the_limit_is_refused_unread(alice_room, settings):
    _, room, client = alice_room
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1000
    response = await upload(client, room.pk, "big.bin", b"x" * 200_000)
    assert response.status_code == 413


def asgi_upload_scope(room_id: int, headers: list) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/rooms/{room_id}/attachments/",
        "raw_path": f"/api/rooms/{room_id}/attachments/".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


class EndlessBody:
    """A client streaming a body with no end in sight, counting what the server pulled."""

    def __init__(self, chunk: int = 64 * 1024) -> None:
        self.chunk = b"\x00" * chunk
        self.pulled = 0
        self.first = True

    async def __call__(self) -> dict:
        if self.first:
            self.first = False
            head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="z"\r\n\r\n'
            self.pulled += len(head)
            return {"type": "http.request", "body": head, "more_body": True}
        self.pulled += len(self.chunk)
        return {"type": "http.request", "body": self.chunk, "more_body": True}


async def run_asgi(scope: dict, receive) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(application(scope, receive, send), 10)
    return sent


async def test_a_streamed_body_past_the_limit_never_lands_in_memory_or_on_disk(
    alice_room, settings, media, tmp_path, monkeypatch
):
    """No Content-Length (chunked): the body is cut at the limit as it streams; what Django
    spooled is dropped; the peak memory stays far below what the client offered."""
    _, room, _ = alice_room
    settings.CHAT_ATTACHMENT_MAX_BYTES = 1024 * 1024
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    body = EndlessBody()
    tracemalloc.start()
    try:
        sent = await run_asgi(
            asgi_upload_scope(room.pk, [(b"content-type", b"multipart/form-data; boundary=b")]),
            body,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent[0]["status"] == 413
    limit = 1024 * 1024 + 64 * 1024
    assert body.pulled <= limit + 64 * 1024 + 100, "stopped at the limit, not drained"
    assert peak < 4 * limit
    assert stored_files(media) == [] and list(spool.iterdir()) == []


async def test_a_declared_length_past_the_limit_is_answered_before_any_read(alice_room):
    _, room, _ = alice_room
    body = EndlessBody()
    sent = await run_asgi(
        asgi_upload_scope(room.pk, [(b"content-length", str(50 * 1024 * 1024).encode())]), body
    )
    assert sent[0]["status"] == 413 and body.pulled == 0


async def test_the_quota_is_per_user(alice_room, settings):
    _, room, client = alice_room
    settings.CHAT_ATTACHMENT_QUOTA_BYTES = 150
    assert (await upload(client, room.pk, "a.txt", b"a" * 100)).status_code == 201
    response = await upload(client, room.pk, "b.txt", b"b" * 100)
    assert response.status_code == 413
    assert response.json()["error"] == "quota_exceeded" and "quota" in response.json()["detail"]


async def test_uploads_are_rate_limited_per_user(alice_room, settings):
    _, room, client = alice_room
    settings.CHAT_UPLOAD_BURST = 2
    settings.CHAT_UPLOAD_RATE_PER_SECOND = 0.001
    codes = [(await upload(client, room.pk, "a.txt", b"a")).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


async def test_a_non_member_cannot_upload(alice_room, media):
    _, room, _ = alice_room
    mallory = await logged_in(await make_user("mallory"))
    response = await upload(mallory, room.pk, "x.txt", b"x")
    assert response.status_code == 403
    assert stored_files(media) == [] and await Attachment.objects.acount() == 0
    anonymous = await upload(AsyncClient(), room.pk, "x.txt", b"x")
    assert anonymous.status_code == 401


async def test_fetching_checks_access(alice_room):
    _, room, client = alice_room
    created = (await upload(client, room.pk, "p.png", png_bytes(30, 30))).json()
    mallory = await logged_in(await make_user("mallory"))
    for url in (created["url"], created["thumbnail_url"]):
        forbidden = await mallory.get(url)
        assert forbidden.status_code == 403
        assert_inert(forbidden)
        anonymous = await AsyncClient().get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert (await client.get("/attachments/999999/")).status_code == 404
    # An unsent upload is its uploader's alone, even within the room.
    bob = await make_user("bob")
    await room.users.aadd(bob)
    assert (await (await logged_in(bob)).get(created["url"])).status_code == 403


async def test_a_member_who_left_loses_access(alice_room):
    alice, room, client = alice_room
    created = (await upload(client, room.pk, "t.txt", b"t")).json()
    await room.users.aremove(alice)
    assert (await client.get(created["url"])).status_code == 403


async def test_uploaded_files_are_not_under_any_static_path(settings):
    from django.conf import settings as live

    media_root = Path(live.MEDIA_ROOT).resolve()
    static_dirs = [Path(p).resolve() for p in live.STATICFILES_DIRS]
    if live.STATIC_ROOT:
        static_dirs.append(Path(live.STATIC_ROOT).resolve())
    assert all(not media_root.is_relative_to(d) and not d.is_relative_to(media_root)
               for d in static_dirs)  # fmt: skip
