"""The JSON API (docs/protocol.md): thin views over selectors and services."""

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from chat import ratelimit
from chat.api_auth import MAX_ID, ApiError, api_user, page_params, parse_int
from chat.selectors.messages import MessagePage, messages_page, messages_since
from chat.selectors.rooms import room_get, room_is_member
from chat.selectors.search import (
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    SEARCH_QUERY_MAX_LENGTH,
    SearchPage,
    search_messages,
)
from chat.serializers import message_to_dict
from chat.services.errors import ConflictError, ServiceError
from chat.services.messages import message_create, message_delete, message_edit
from chat.services.reactions import reaction_set
from chat.services.validation import storable_text

# What a refused write answers over HTTP; any other code is bad input (400).
SERVICE_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}


def json_api(
    view: Callable[..., Awaitable[JsonResponse]],
) -> Callable[..., Awaitable[JsonResponse]]:
    """Authentication is the view's own (401, not a login redirect); errors become JSON."""

    @login_not_required
    @csrf_exempt  # CSRF is enforced in api_user for session-authenticated writes
    @wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return await view(request, *args, **kwargs)
        except ApiError as error:
            return error.response()

    return wrapper


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[...]]]]"
        raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid", "the request body must be a JSON object")
    return data


async def member_room(request: HttpRequest, room_id: int):
    """(user, room) for a member, else 401 / 404 / 403 as the contract orders them."""
    user = await api_user(request)
    room = await room_get(room_id=room_id)
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    if not await room_is_member(room_id=room_id, user_id=user.pk):
        raise ApiError(403, "forbidden", "you are not a member of this room")
    return user, room


async def rate_limit(user_id: int) -> None:
    if not await ratelimit.allow_message(user_id=user_id):
        raise ApiError(429, "rate_limited", "too many messages; slow down")


async def request_limit(user_id: int) -> None:
    if not await ratelimit.allow_request(user_id=user_id):
        raise ApiError(429, "rate_limited", "too many requests; slow down")


@json_api
async def room_messages(request: HttpRequest, room_id: int) -> JsonResponse:
    if request.method == "GET":
        return await _list_messages(request, room_id)
    if request.method == "POST":
        return await _post_message(request, room_id)
    raise ApiError(405, "method_not_allowed", "use GET or POST")


def service_error(error: ServiceError) -> ApiError:
    api_error = ApiError(SERVICE_STATUS.get(error.code, 400), error.code, error.detail)
    if isinstance(error, ConflictError):
        api_error.extra = {"message": error.current}  # the newer message, to show and retry
    return api_error


async def _list_messages(request: HttpRequest, room_id: int) -> JsonResponse:
    user, room = await member_room(request, room_id)
    await request_limit(user.pk)
    after, before, limit = page_params(request.GET)
    if "since" in request.GET:
        if after is not None or before is not None:
            raise ApiError(400, "invalid", "'since' pages by version: not with 'after' or 'before'")
        since = parse_int(request.GET["since"], "since", low=0, high=MAX_ID)
        page = await messages_since(room_id=room.pk, since=since, limit=limit)
    else:
        page = await messages_page(room_id=room.pk, after_id=after, before_id=before, limit=limit)
    return JsonResponse(page_body(page))


def page_body(page: MessagePage) -> dict[str, Any]:
    return {"messages": [message_to_dict(m) for m in page.messages], "has_more": page.has_more}


async def _post_message(request: HttpRequest, room_id: int) -> JsonResponse:
    user, room = await member_room(request, room_id)
    data = json_body(request)
    await request_limit(user.pk)
    await rate_limit(user.pk)
    try:
        result = await message_create(
            room=room,
            author=user,
            body=data.get("body"),
            client_id=data.get("client_id"),
            reply_to=data.get("reply_to"),
            attachments=data.get("attachments"),
        )
    except ServiceError as error:
        raise service_error(error) from error
    return JsonResponse(message_to_dict(result.message), status=201 if result.created else 200)


@json_api
async def room_message(request: HttpRequest, room_id: int, message_id: int) -> JsonResponse:
    """PATCH edits (the author), DELETE leaves a tombstone (author, staff)."""
    if request.method not in ("PATCH", "DELETE"):
        raise ApiError(405, "method_not_allowed", "use PATCH or DELETE")
    user, room = await member_room(request, room_id)
    data = json_body(request) if request.method == "PATCH" else {}
    await request_limit(user.pk)
    try:
        if request.method == "PATCH":
            message = await message_edit(
                room=room,
                user=user,
                message_id=message_id,
                body=data.get("body"),
                version=data.get("version"),
            )
        else:
            message = await message_delete(room=room, user=user, message_id=message_id)
    except ServiceError as error:
        raise service_error(error) from error
    return JsonResponse(message_to_dict(message))


def utf8_path_text(value: str) -> str:
    """A path segment as text. ASGI servers hand Django the path decoded as UTF-8; Django's
    own test client decodes it as ISO-8859-1 (the WSGI convention), which turns an emoji
    into mojibake: undone here when the bytes are UTF-8."""
    try:
        return value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


@json_api
async def message_reaction(
    request: HttpRequest, room_id: int, message_id: int, emoji: str
) -> JsonResponse:
    """PUT adds the caller's reaction, DELETE removes it; both idempotent."""
    if request.method not in ("PUT", "DELETE"):
        raise ApiError(405, "method_not_allowed", "use PUT or DELETE")
    user, room = await member_room(request, room_id)
    await request_limit(user.pk)
    try:
        message = await reaction_set(
            room=room,
            user=user,
            message_id=message_id,
            emoji=utf8_path_text(emoji),
            on=request.method == "PUT",
        )
    except ServiceError as error:
        raise service_error(error) from error
    return JsonResponse(
        {"id": message.id, "version": message.version, "reactions": message.reactions}
    )


def search_text(query: QueryDict) -> str:
    """`q` as a person typed it: 400 `invalid` when empty or over the length limit."""
    text = query.get("q", "").strip()
    if not text or not storable_text(text):
        raise ApiError(400, "invalid", "'q' must not be empty")
    if len(text) > SEARCH_QUERY_MAX_LENGTH:
        raise ApiError(400, "invalid", f"'q' is longer than {SEARCH_QUERY_MAX_LENGTH} characters")
    return text


def search_params(query: QueryDict) -> dict[str, Any]:
    """The search's keyword arguments from `q`, `room`, `before` and `limit`."""
    optional_id = {
        name: parse_int(query[key], key, low=1, high=MAX_ID) if key in query else None
        for name, key in (("room_id", "room"), ("before_id", "before"))
    }
    limit = parse_int(
        query.get("limit", SEARCH_LIMIT_DEFAULT), "limit", low=1, high=SEARCH_LIMIT_MAX
    )
    return {"text": search_text(query), "limit": limit, **optional_id}


def search_body(page: SearchPage) -> dict[str, Any]:
    results = [
        {"message": message_to_dict(hit.message), "highlight": hit.highlight} for hit in page.hits
    ]
    return {"results": results, "has_more": page.has_more}


@json_api
async def search(request: HttpRequest) -> JsonResponse:
    """Messages the caller may read now that match `q`, newest first."""
    if request.method != "GET":
        raise ApiError(405, "method_not_allowed", "use GET")
    user = await api_user(request)
    await request_limit(user.pk)
    page = await search_messages(user_id=user.pk, **search_params(request.GET))
    return JsonResponse(search_body(page))
