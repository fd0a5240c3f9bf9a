"""Who is calling the JSON API: a session (CSRF enforced on writes) or an API token."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, JsonResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware


class ApiError(Exception):
    """Turned into the contract's error body: `{"error": code, "detail": str}`."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra: dict[str, Any] = {}  # more for the body (a conflict's current message)

    def response(self) -> JsonResponse:
        body = {"error": self.code, "detail": self.detail, **self.extra}
        return JsonResponse(body, status=self.status)


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def csrf_failure(request: HttpRequest) -> str | None:
    """Django's own CSRF check, run by hand for session-authenticated API writes."""
    check = _CsrfCheck(lambda _request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


async def user_from_token(token: str) -> AbstractBaseUser | None:
    from chat.tokens import token_user

    return await token_user(token)


async def api_user(request: HttpRequest) -> AbstractBaseUser:
    """The authenticated caller, or ApiError 401 / 403 (CSRF)."""
    token = bearer_token(request)
    if token is not None:
        user = await user_from_token(token)
        if user is None:
            raise ApiError(401, "unauthenticated", "the API token is invalid or revoked")
        return user
    user = await request.auser()
    if not user.is_authenticated:
        raise ApiError(401, "unauthenticated", "log in or send 'Authorization: Bearer <token>'")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        reason = csrf_failure(request)
        if reason:
            raise ApiError(403, "csrf", f"CSRF check failed: {reason}")
    return user


def parse_int(value: Any, name: str, *, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid", f"'{name}' must be an integer") from None
    if not low <= number <= high:
        raise ApiError(400, "invalid", f"'{name}' must be from {low} to {high}")
    return number


MAX_ID = 2**63 - 1


def page_params(query: QueryDict) -> tuple[int | None, int | None, int]:
    """The paging parameters every list endpoint takes: `after`, `before` (ids) and `limit`."""
    after = parse_int(query["after"], "after", low=0, high=MAX_ID) if "after" in query else None
    before = parse_int(query["before"], "before", low=1, high=MAX_ID) if "before" in query else None
    limit = parse_int(
        query.get("limit", settings.CHAT_HISTORY_LATEST),
        "limit",
        low=1,
        high=settings.CHAT_PAGE_MAX,
    )
    return after, before, limit
