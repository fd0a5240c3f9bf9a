"""The alert JSON API (docs/protocol.md), on the chat API's auth, errors and paging."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from alert import selectors, services
from alert.serializers import alert_to_dict
from chat import ratelimit
from chat.api import json_api, json_body, member_room, request_limit
from chat.api_auth import ApiError, api_user, page_params


async def allow_alert(*, user_id: int) -> bool:
    """Flood control for alerts, per user across every entry point that people reach."""
    return await ratelimit.buckets().take(
        f"alert:{user_id}", settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    )


@json_api
async def room_alerts(request: HttpRequest, room_id: int) -> JsonResponse:
    """POST /api/rooms/<id>/alerts/ {"content": str, "level": str?} -> 201 with the alert."""
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "use POST (read alerts at /api/alerts/)")
    user, room = await member_room(request, room_id)
    data = json_body(request)
    await request_limit(user.pk)
    if not await allow_alert(user_id=user.pk):
        raise ApiError(429, "rate_limited", "too many alerts; slow down")
    try:
        alert = await services.alert_create(
            room=room, user=user, content=data.get("content"), level=data.get("level")
        )
    except services.ServiceError as error:
        raise ApiError(400, error.code, error.detail) from error
    return JsonResponse(alert_to_dict(alert), status=201)


@json_api
async def alerts_feed(request: HttpRequest) -> JsonResponse:
    """GET /api/alerts/?after=&before=&limit=: the user's feed, ascending ids, as messages."""
    if request.method != "GET":
        raise ApiError(405, "method_not_allowed", "use GET (post to /api/rooms/<id>/alerts/)")
    user = await api_user(request)
    await request_limit(user.pk)
    after, before, limit = page_params(request.GET)
    page = await selectors.alerts_page_of_user(
        user_id=user.pk, after_id=after, before_id=before, limit=limit
    )
    return JsonResponse(
        {"alerts": [alert_to_dict(alert) for alert in page.alerts], "has_more": page.has_more}
    )
