"""Attachments: store an upload (kind from its bytes, thumbnail for images), claim uploads for
a message, delete a message's files, purge uploads never sent."""

import io
import logging
import secrets
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import filetype
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from chat.models import Attachment, Message, Room
from chat.services.errors import ServiceError

logger = logging.getLogger(__name__)

# The raster images a browser may show inline: the MIME type filetype reads from the bytes,
# and the format Pillow must agree on. Anything else (SVG and HTML included) is a download.
INLINE_IMAGE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}
# filetype needs at most this many leading bytes to recognise a format.
SNIFF_BYTES = 8192
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    thumbnail: bytes
    thumbnail_content_type: str


def safe_display_name(raw: str | None) -> str:
    """The name to show: the last path segment, no control characters (NUL included), at most
    200 characters. It is only ever text on a page or in a header, never a path."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    return name[:MAX_NAME_LENGTH] or "file"


def random_storage_name(suffix: str = "") -> str:
    return f"attachments/{secrets.token_urlsafe(18)}{suffix}"


def sniff_content_type(upload: File) -> str:
    """The file's real type from its leading bytes; application/octet-stream when unknown."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head)
    return kind.mime if kind is not None else "application/octet-stream"


def _open_image(upload: File, expected_format: str) -> Image.Image | None:
    """Pillow's reading of the file, or None when it is not the image its bytes claim.
    A decompression bomb is refused outright (ServiceError)."""
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(upload)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError("invalid", "the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    if image.format != expected_format:
        return None
    return image


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    """At most CHAT_ATTACHMENT_THUMBNAIL_WIDTH wide (and three times that high), first frame
    of an animation; PNG where there is transparency, JPEG otherwise."""
    width = settings.CHAT_ATTACHMENT_THUMBNAIL_WIDTH
    thumb = image.copy()
    thumb.thumbnail((width, width * 3))
    has_alpha = thumb.mode in ("RGBA", "LA", "P") or "transparency" in thumb.info
    out = io.BytesIO()
    if has_alpha:
        thumb.convert("RGBA").save(out, "PNG", optimize=True)
        return out.getvalue(), "image/png"
    thumb.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


def image_facts(upload: File, content_type: str) -> ImageFacts | None:
    """Size and thumbnail of an inline-able raster image; None for anything else."""
    expected = INLINE_IMAGE_FORMATS.get(content_type)
    if expected is None:
        return None
    # Pillow's bomb check (at open, before decoding) reads this module global: keep it in
    # step with the setting, which the explicit check after opening enforces as well.
    Image.MAX_IMAGE_PIXELS = settings.CHAT_ATTACHMENT_MAX_PIXELS
    image = _open_image(upload, expected)
    if image is None:
        return None
    with image:
        if image.width * image.height > settings.CHAT_ATTACHMENT_MAX_PIXELS:
            raise ServiceError("invalid", "the image has too many pixels")
        thumbnail, thumbnail_type = _thumbnail(image)
        return ImageFacts(image.width, image.height, thumbnail, thumbnail_type)


def _check_size(size: int, uploader: AbstractBaseUser) -> None:
    if size <= 0:
        raise ServiceError("invalid", "the file is empty")
    limit = settings.CHAT_ATTACHMENT_MAX_BYTES
    if size > limit:
        raise ServiceError("too_large", f"the file is larger than {limit} bytes")
    used = Attachment.objects.filter(uploader=uploader).aggregate(total=Sum("size"))["total"]
    quota = settings.CHAT_ATTACHMENT_QUOTA_BYTES
    if (used or 0) + size > quota:
        raise ServiceError(
            "quota_exceeded",
            f"your uploads would pass your quota of {quota} bytes; delete some messages "
            "with files first",
        )


def _store_upload(room: Room, uploader: AbstractBaseUser, upload: File) -> Attachment:
    _check_size(upload.size, uploader)
    content_type = sniff_content_type(upload)
    facts = image_facts(upload, content_type)
    upload.seek(0)
    stored = default_storage.save(random_storage_name(), upload)
    thumb_name = ""
    try:
        if facts is not None:
            thumb_name = default_storage.save(
                random_storage_name("-thumb"), ContentFile(facts.thumbnail)
            )
        return Attachment.objects.create(
            room=room,
            uploader=uploader,
            name=safe_display_name(getattr(upload, "name", "")),
            size=upload.size,
            content_type=content_type if facts is not None else _download_type(content_type),
            is_image=facts is not None,
            width=facts.width if facts else None,
            height=facts.height if facts else None,
            storage_name=stored,
            thumbnail_name=thumb_name,
            thumbnail_content_type=facts.thumbnail_content_type if facts else "",
        )
    except BaseException:
        _delete_files([stored, thumb_name])  # no row, so nothing would ever delete them
        raise


def _download_type(content_type: str) -> str:
    """A download keeps its real type, except a claimed image that Pillow could not read:
    nothing that says image/* is served unless it is one."""
    return "application/octet-stream" if content_type.startswith("image/") else content_type


async def attachment_upload(*, room: Room, uploader: AbstractBaseUser, upload: File) -> Attachment:
    """Check limits and quota, read the kind from the bytes, make the thumbnail, store.

    ServiceError codes: `invalid` (empty, decompression bomb), `too_large`, `quota_exceeded`.
    """
    return await sync_to_async(_store_upload)(room, uploader, upload)


def clean_attachment_ids(value: Any) -> list[int]:
    """The `attachments` of a message frame: a list of at most 10 distinct ids."""
    if value is None:
        return []
    limit = settings.CHAT_ATTACHMENTS_PER_MESSAGE
    if not isinstance(value, list) or not all(type(item) is int for item in value):
        raise ServiceError("invalid", "attachments must be a list of upload ids")
    if len(value) > limit:
        raise ServiceError("invalid", f"at most {limit} attachments per message")
    if len(set(value)) != len(value):
        raise ServiceError("invalid", "an attachment is listed twice")
    return value


def attachments_claim(*, message: Message, ids: list[int]) -> list[Attachment]:
    """Attach the author's own unsent uploads to this room to `message` (sync, inside the
    transaction that stores the message, so a refusal stores neither). Locked, so that two
    messages racing for one upload cannot both get it."""
    if not ids:
        message.attachment_list = []
        return []
    claimable = (
        Attachment.objects.select_for_update()
        .filter(id__in=ids, room_id=message.room_id, uploader_id=message.author_id)
        .filter(message__isnull=True)
    )
    found = {attachment.id: attachment for attachment in claimable}
    if len(found) != len(ids):
        raise ServiceError(
            "invalid", "attachments must be your own uploads to this room, not yet sent"
        )
    Attachment.objects.filter(id__in=ids).update(message=message)
    attached = [found[attachment_id] for attachment_id in ids]
    for attachment in attached:
        attachment.message = message
    message.attachment_list = attached
    return attached


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            # The row goes anyway: a file left behind is found by name in the storage's logs,
            # a row left behind would keep counting against the quota.
            logger.warning("could not delete stored file %s", name, exc_info=True)


def _delete_rows_and_files(attachments: list[Attachment]) -> int:
    with transaction.atomic():
        Attachment.objects.filter(id__in=[a.id for a in attachments]).delete()
    for attachment in attachments:
        _delete_files([attachment.storage_name, attachment.thumbnail_name])
    return len(attachments)


def attachments_remove(message: Message) -> int:
    """A message's attachments, for the delete path (sync, in its transaction): the rows go
    now, the files once the transaction commits, so that a rollback keeps both."""
    attachments = list(Attachment.objects.filter(message_id=message.pk))
    Attachment.objects.filter(id__in=[a.id for a in attachments]).delete()
    names = [name for a in attachments for name in (a.storage_name, a.thumbnail_name)]
    transaction.on_commit(lambda: _delete_files(names))
    message.attachment_list = []
    return len(attachments)


def _delete_for_message(message: Message) -> int:
    with transaction.atomic():
        return attachments_remove(message)


async def attachments_delete_for_message(message: Message) -> int:
    """Delete a message's files and their rows, for callers outside the delete path."""
    return await sync_to_async(_delete_for_message)(message)


def attachments_purge_orphans(*, older_than: timedelta | None = None) -> int:
    """Remove uploads never attached to a message, older than CHAT_ATTACHMENT_ORPHAN_HOURS."""
    age = older_than or timedelta(hours=settings.CHAT_ATTACHMENT_ORPHAN_HOURS)
    cutoff = timezone.now() - age
    orphans = list(Attachment.objects.filter(message__isnull=True, created__lt=cutoff))
    return _delete_rows_and_files(orphans)
