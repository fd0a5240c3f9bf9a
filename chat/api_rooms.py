"""The JSON API for rooms, members, direct rooms and finding users (docs/protocol.md):
thin views over selectors and services."""

from typing import Any

from django.http import HttpRequest, JsonResponse

from chat.api import json_api, json_body, member_room, request_limit
from chat.api_auth import ApiError, api_user
from chat.models import Room
from chat.selectors.members import room_members, usernames_by_prefix
from chat.selectors.rooms import public_room_objects, room_object
from chat.selectors.sidebar import sidebar_rooms
from chat.services import direct_rooms, membership, rooms
from chat.services.errors import ServiceError

STATUS_OF_CODE = {"forbidden": 403, "not_found": 404, "rate_limited": 429, "unavailable": 503}
USER_QUERY_MAX = 150


def refused(error: ServiceError) -> ApiError:
    return ApiError(STATUS_OF_CODE.get(error.code, 400), error.code, error.detail)


async def _answer(status: int, call: Any) -> JsonResponse:
    """Run a service call; its refusal becomes the matching API error."""
    try:
        body = await call
    except ServiceError as error:
        raise refused(error) from error
    return JsonResponse(body, status=status)


def _method_not_allowed(allowed: str) -> ApiError:
    return ApiError(405, "method_not_allowed", f"use {allowed}")


@json_api
async def room_list(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return await _list_rooms(request)
    if request.method == "POST":
        return await _create_room(request)
    raise _method_not_allowed("GET or POST")


async def _list_rooms(request: HttpRequest) -> JsonResponse:
    user = await api_user(request)
    await request_limit(user.pk)
    if request.GET.get("public") == "1":
        query = request.GET.get("q", "")[:60].strip()
        return JsonResponse({"rooms": await public_room_objects(user_id=user.pk, query=query)})
    return JsonResponse({"rooms": await sidebar_rooms(user_id=user.pk)})


async def _create_room(request: HttpRequest) -> JsonResponse:
    user = await api_user(request)
    data = json_body(request)
    await request_limit(user.pk)

    async def create() -> dict:
        room = await rooms.room_create(
            creator=user,
            name=data.get("name"),
            topic=data.get("topic", ""),
            is_public=data.get("is_public", False),
        )
        return await room_object(room_id=room.pk, user_id=user.pk)

    return await _answer(201, create())


@json_api
async def room_detail(request: HttpRequest, room_id: int) -> JsonResponse:
    if request.method != "PATCH":
        raise _method_not_allowed("PATCH")
    user, room = await member_room(request, room_id)
    data = json_body(request)
    await request_limit(user.pk)

    async def update() -> dict:
        await rooms.room_update(room=room, actor=user, changes=data)
        return await room_object(room_id=room.pk, user_id=user.pk)

    return await _answer(200, update())


@json_api
async def room_member_list(request: HttpRequest, room_id: int) -> JsonResponse:
    user, room = await member_room(request, room_id)
    if request.method == "GET":
        await request_limit(user.pk)
        return JsonResponse({"members": await room_members(room_id=room.pk)})
    if request.method != "POST":
        raise _method_not_allowed("GET or POST")
    data = json_body(request)
    await request_limit(user.pk)
    return await _add_member(room, user, data)


async def _add_member(room: Room, user: Any, data: dict) -> JsonResponse:
    try:
        result = await membership.member_add(
            room=room, actor=user, username=data.get("username"), role=data.get("role")
        )
    except ServiceError as error:
        raise refused(error) from error
    body = {"username": result.username, "role": result.role}
    return JsonResponse(body, status=201 if result.created else 200)


@json_api
async def room_member(request: HttpRequest, room_id: int, username: str) -> JsonResponse:
    if request.method != "DELETE":
        raise _method_not_allowed("DELETE")
    user, room = await member_room(request, room_id)
    await request_limit(user.pk)

    async def remove() -> dict:
        await membership.member_remove(room=room, actor=user, username=username)
        return {"removed": username}

    return await _answer(200, remove())


@json_api
async def direct_room_create(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        raise _method_not_allowed("POST")
    user = await api_user(request)
    data = json_body(request)
    await request_limit(user.pk)
    try:
        room, created = await direct_rooms.direct_room_open(
            creator=user, usernames=data.get("usernames")
        )
    except ServiceError as error:
        raise refused(error) from error
    body = await room_object(room_id=room.pk, user_id=user.pk)
    return JsonResponse(body, status=201 if created else 200)


@json_api
async def user_search(request: HttpRequest) -> JsonResponse:
    if request.method != "GET":
        raise _method_not_allowed("GET")
    user = await api_user(request)
    await request_limit(user.pk)
    prefix = request.GET.get("q", "").strip()
    if not prefix or len(prefix) > USER_QUERY_MAX:
        raise ApiError(400, "invalid", f"'q' must be 1 to {USER_QUERY_MAX} characters")
    return JsonResponse({"users": await usernames_by_prefix(prefix=prefix)})
