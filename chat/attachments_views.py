"""Attachments over HTTP: the upload API (members only, size limited while streaming) and the
access-checked view that serves stored files inert."""

import re
from collections.abc import AsyncIterator
from typing import IO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload, load_handler
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from chat import ratelimit
from chat.api import json_api, member_room
from chat.api_auth import ApiError
from chat.models import Attachment
from chat.selectors.attachments import attachment_get, attachment_may_fetch
from chat.serializers import attachment_to_dict
from chat.services.attachments import attachment_upload
from chat.services.errors import ServiceError

STATUS_OF_ERROR = {"too_large": 413, "quota_exceeded": 413}
CHUNK_BYTES = 64 * 1024


def upload_body_limit() -> int:
    """The most an upload request's body may carry: the file limit plus multipart framing."""
    return settings.CHAT_ATTACHMENT_MAX_BYTES + settings.CHAT_UPLOAD_BODY_SLACK_BYTES


class LimitedUploadHandler(FileUploadHandler):
    """First in the chain: refuses a body whose Content-Length passes the limit before a byte
    is parsed, and stops the upload the moment the running size of its files passes the file
    limit, so that the handlers after it (memory, temporary file) never get more."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > upload_body_limit():
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.CHAT_ATTACHMENT_MAX_BYTES:
            self.exceeded = True
            # connection_reset: stop reading the body instead of draining the rest of it.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _install_upload_handlers(request: HttpRequest) -> LimitedUploadHandler:
    limiter = LimitedUploadHandler(request)
    defaults = [load_handler(path, request) for path in settings.FILE_UPLOAD_HANDLERS]
    request.upload_handlers = [limiter, *defaults]
    return limiter


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "invalid", "bad Content-Length") from None


def too_large() -> ApiError:
    limit = settings.CHAT_ATTACHMENT_MAX_BYTES
    return ApiError(413, "too_large", f"the file is larger than {limit} bytes")


async def _uploaded_file(request: HttpRequest) -> UploadedFile:
    """The `file` part, parsed off the event loop (parsing writes temporary files)."""
    limiter = _install_upload_handlers(request)
    files = await sync_to_async(lambda: request.FILES)()
    if limiter.exceeded:
        raise too_large()
    upload = files.get("file")
    if upload is None:
        raise ApiError(400, "invalid", "send the file as the multipart field 'file'")
    return upload


async def _upload_limit(user_id: int) -> None:
    allowed = await ratelimit.buckets().take(
        f"upload:{user_id}", settings.CHAT_UPLOAD_RATE_PER_SECOND, settings.CHAT_UPLOAD_BURST
    )
    if not allowed:
        raise ApiError(429, "rate_limited", "too many uploads; slow down")


@json_api
async def room_attachments(request: HttpRequest, room_id: int) -> JsonResponse:
    """`POST /api/rooms/<id>/attachments/` multipart `file`: 201 with the attachment."""
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "use POST")
    if _content_length(request) > upload_body_limit():
        raise too_large()  # before a byte of the body is parsed
    upload = await _uploaded_file(request)
    user, room = await member_room(request, room_id)
    await _upload_limit(user.pk)
    try:
        attachment = await attachment_upload(room=room, uploader=user, upload=upload)
    except ServiceError as error:
        raise ApiError(STATUS_OF_ERROR.get(error.code, 400), error.code, error.detail) from error
    return JsonResponse(attachment_to_dict(attachment), status=201)


class AsyncFileChunks:
    """A stored file read in chunks off the event loop: a StreamingHttpResponse given a sync
    iterator under ASGI reads it whole into memory first (Django warns and calls list())."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await sync_to_async(self.file.read)(CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self.file.close()


def inert_headers(response: HttpResponse) -> HttpResponse:
    """What keeps a stored file from ever running as a page of this origin."""
    response["Cache-Control"] = "private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _what_to_serve(attachment: Attachment, thumbnail: bool) -> tuple[str, str, bool]:
    """(storage name, content type, inline) of the file or its thumbnail."""
    if thumbnail:
        if not attachment.thumbnail_name:
            raise Http404("this file has no thumbnail")
        return attachment.thumbnail_name, attachment.thumbnail_content_type, True
    if attachment.is_image:
        return attachment.storage_name, attachment.content_type, True
    return attachment.storage_name, attachment.content_type or "application/octet-stream", False


async def _serve(request: HttpRequest, attachment_id: int, thumbnail: bool) -> HttpResponse:
    attachment = await attachment_get(attachment_id=attachment_id)
    if attachment is None:
        raise Http404("no such file")
    user = await request.auser()
    if not await attachment_may_fetch(attachment=attachment, user=user):
        return inert_headers(HttpResponse("you may not see this file", status=403))
    name, content_type, inline = _what_to_serve(attachment, thumbnail)
    try:
        file = await sync_to_async(default_storage.open)(name, "rb")
        size = await sync_to_async(default_storage.size)(name)
    except FileNotFoundError:
        raise Http404("the file is gone") from None
    response = StreamingHttpResponse(AsyncFileChunks(file), content_type=content_type)
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not inline, filename=attachment.name
    )
    return inert_headers(response)


async def attachment_file(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """The file itself: inline only for a raster image whose bytes are what they claim."""
    return await _serve(request, attachment_id, thumbnail=False)


async def attachment_thumbnail(request: HttpRequest, attachment_id: int) -> HttpResponse:
    return await _serve(request, attachment_id, thumbnail=True)


UPLOAD_PATH = re.compile(r"^/api/rooms/\d+/attachments/$")


def upload_body_limit_for(scope: dict) -> int | None:
    """For mychannels/runtime/bodylimit.py: upload requests only; other bodies are Django's."""
    return upload_body_limit() if UPLOAD_PATH.match(scope.get("path", "")) else None
