"""API tokens: made with `secrets`, stored as SHA-256, looked up by that hash."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from chat.models import ApiToken
from chat.services.errors import ServiceError

TOKEN_PREFIX = "mct_"
# last_used is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """A new token for the user. Returns the row and the token itself, which is never stored.
    Refused (`too_many_tokens`) when the user already has CHAT_API_TOKENS_MAX active ones; two
    creations at the same instant may both pass the count (the request budget keeps such
    races to a handful), which is fine for a cap that is about hygiene, not security."""
    active = await ApiToken.objects.filter(user=user, revoked=None).acount()
    if active >= settings.CHAT_API_TOKENS_MAX:
        raise ServiceError(
            "too_many_tokens",
            f"at most {settings.CHAT_API_TOKENS_MAX} active tokens; revoke one first",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await ApiToken.objects.acreate(
        user=user, name=name[:60], prefix=token[:12], key_hash=hash_token(token)
    )
    return row, token


async def token_revoke(*, user: AbstractBaseUser, token_id: int) -> bool:
    revoked = await ApiToken.objects.filter(pk=token_id, user=user, revoked=None).aupdate(
        revoked=timezone.now()
    )
    return revoked > 0


async def token_user(token: str) -> AbstractBaseUser | None:
    """The active user a token belongs to, or None; records when the token was last used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = (
        await ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(token), revoked=None, user__is_active=True)
        .afirst()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used is None or now - row.last_used > LAST_USED_RESOLUTION:
        await ApiToken.objects.filter(pk=row.pk).aupdate(last_used=now)
    return row.user
