"""Alert pages: the live feed, the room page's post form (without JavaScript), and the
settings page where users manage their API tokens and their secret feed URL."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alert import feeds, selectors, services
from alert.api import allow_alert
from chat.api_auth import MAX_ID
from chat.models import NotificationSetting
from chat.selectors.notifications import notification_level, rooms_with_mute
from chat.selectors.rooms import room_is_member
from chat.services.errors import ServiceError
from chat.tokens import token_create, token_revoke
from chat.views import room_or_404, too_many_requests

PAGE_SIZE = 50


def before_param(request: HttpRequest) -> int | None:
    raw = request.GET.get("before")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise BadRequest("'before' must be a positive integer alert id")
    return int(raw)


@require_GET
@login_required
async def feed_page(request: HttpRequest) -> HttpResponse:
    """Newest first, 50 a page; `?before=<id>` pages back. The first page stays live."""
    user = await request.auser()
    before = before_param(request)
    page = await selectors.alerts_page_of_user(
        user_id=user.pk, after_id=None, before_id=before, limit=PAGE_SIZE
    )
    alerts = list(reversed(page.alerts))
    key = await sync_to_async(feeds.feed_key_get_or_create)(user=user)
    context = {
        "alerts": alerts,
        "older_before": alerts[-1].pk if page.has_more else None,
        "paged": before is not None,
        "feed_url": request.build_absolute_uri(feeds.feed_path(key)),
        "config": {
            "live": before is None,
            "pageSize": PAGE_SIZE,
            "rooms": {
                str(room_id): name
                for room_id, name in (await selectors.rooms_of_user_by_id(user_id=user.pk)).items()
            },
        },
    }
    return render(request, "alert/feed.html", context)


@require_POST
@login_required
async def room_post(request: HttpRequest, room_id: int) -> HttpResponse:
    """The room page's alert form when JavaScript is off (with it, the page uses the API)."""
    if refused := await too_many_requests(request):
        return refused
    user = await request.auser()
    room = await room_or_404(room_id)
    if not await room_is_member(room_id=room.pk, user_id=user.pk):
        raise PermissionDenied(_("You are not a member of this room"))
    if not await allow_alert(user_id=user.pk):
        messages.error(request, _("Too many alerts; slow down."))
    else:
        try:
            await services.alert_create(
                room=room,
                user=user,
                content=request.POST.get("content"),
                level=request.POST.get("level") or None,
            )
        except services.ServiceError as error:
            messages.error(
                request, _("The alert was not posted: %(reason)s.") % {"reason": error.detail}
            )
    return redirect("chat:room", room_id=room.pk)


async def _settings_context(user) -> dict:
    key = await sync_to_async(feeds.feed_key_get_or_create)(user=user)
    return {
        "notify_level": await notification_level(user_id=user.pk),
        "notify_levels": NotificationSetting.LEVELS,
        "room_mutes": await rooms_with_mute(user_id=user.pk),
        "tokens": await selectors.api_tokens_of_user(user_id=user.pk),
        "feed_key": key,
        "feed_path": feeds.feed_path(key),
    }


@require_GET
@login_required
async def settings_page(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    context = await _settings_context(user)
    context["feed_url"] = request.build_absolute_uri(context["feed_path"])
    return render(request, "alert/settings.html", context)


@require_POST
@login_required
async def token_new(request: HttpRequest) -> HttpResponse:
    """Creates a token and shows it on this one response; it is never stored or shown again."""
    if refused := await too_many_requests(request):
        return refused
    user = await request.auser()
    name = request.POST.get("name", "").strip()
    if len(name) > 60:
        messages.error(request, _("A token name is at most 60 characters."))
        return redirect("alert:settings")
    try:
        _row, token = await token_create(user=user, name=name)
    except ServiceError:
        limit = settings.CHAT_API_TOKENS_MAX
        messages.error(
            request,
            _("You have %(limit)s active tokens, the most allowed: revoke one first.")
            % {"limit": limit},
        )
        return redirect("alert:settings")
    context = await _settings_context(user)
    context.update(feed_url=request.build_absolute_uri(context["feed_path"]), new_token=token)
    response = render(request, "alert/settings.html", context, status=201)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
async def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    user = await request.auser()
    if await token_revoke(user=user, token_id=token_id):
        messages.success(request, _("The token is revoked; requests with it now get 401."))
    else:
        messages.error(request, _("No such active token."))
    return redirect("alert:settings")


@require_POST
@login_required
async def feed_rotate(request: HttpRequest) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    user = await request.auser()
    await sync_to_async(feeds.feed_key_rotate)(user=user)
    messages.success(request, _("Your feed has a new secret address; the old one no longer works."))
    return redirect("alert:settings")
