"""Pages. Each view is a few lines: read through selectors, write through services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alert import selectors as alert_selectors
from chat import ratelimit
from chat.api import search_params
from chat.api_auth import ApiError
from chat.models import Room
from chat.selectors.members import room_member_names
from chat.selectors.messages import message_in_room
from chat.selectors.notifications import room_is_muted
from chat.selectors.read_state import last_read_id
from chat.selectors.rooms import (
    public_rooms_to_join,
    room_get,
    room_object,
    room_objects,
    rooms_of_user,
)
from chat.selectors.search import SearchHit, SearchPage, search_messages
from chat.services import direct_rooms, membership
from chat.services.errors import ServiceError
from chat.services.notifications import notification_level_set, room_mute_set


async def room_or_404(room_id: int) -> Room:
    room = await room_get(room_id=room_id)
    if room is None:
        raise Http404(_("No such room"))
    return room


@login_required
async def index(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    context = {
        "my_rooms": await rooms_of_user(user=user),
        "public_rooms": await public_rooms_to_join(user=user),
    }
    return render(request, "chat/index.html", context)


@login_required
async def room(request: HttpRequest, room_id: int) -> HttpResponse:
    user = await request.auser()
    room = await room_or_404(room_id)
    shown = await room_object(room_id=room.pk, user_id=user.pk)  # as this user sees it
    if shown is None:
        raise PermissionDenied(_("You are not a member of this room"))
    alerts, alerts_after = await alert_selectors.alerts_for_room_page(room_id=room.pk, limit=20)
    config = {
        "roomId": room.pk,
        "username": user.get_username(),
        "alertsAfter": alerts_after,
        # What the page needs to offer only the message actions the server would allow.
        "isStaff": bool(user.is_staff),
        "editWindowSeconds": settings.CHAT_EDIT_WINDOW_SECONDS,
        "room": shown,
        # Where the "new messages" line goes: after the newest message this user has read.
        "lastReadId": await last_read_id(room_id=room.pk, user_id=user.pk),
    }
    config["members"] = await room_member_names(room_id=room.pk)  # the @ autocomplete's
    if at := await opened_at(request, room.pk):
        config["at"] = at
    muted = await room_is_muted(user_id=user.pk, room_id=room.pk)
    context = {"room": room, "shown": shown, "config": config, "alerts": alerts, "muted": muted}
    return render(request, "chat/room.html", context)


async def opened_at(request: HttpRequest, room_id: int) -> int | None:
    """`?at=<message id>`: the message of this room the page opens at (else None)."""
    raw = request.GET.get("at", "")
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw) if await message_in_room(room_id=room_id, message_id=int(raw)) else None


@login_required
async def search(request: HttpRequest) -> HttpResponse:
    """The search page: the API's results, server-rendered, with an older page link."""
    context = {"q": request.GET.get("q", ""), "page": None, "error": ""}
    if context["q"].strip():
        if refused := await too_many_requests(request):
            return refused
        try:
            params = search_params(request.GET)
        except ApiError as error:
            context["error"] = error.detail
        else:
            user = await request.auser()
            page = await search_messages(user_id=user.pk, **params)
            context.update(page=page, room_id=params["room_id"])
            context["results"] = await named_results(user.pk, page)
    return render(request, "chat/search.html", context)


async def named_results(user_id: int, page: SearchPage) -> list[tuple[SearchHit, str]]:
    """Each hit with its room's name as this user sees it (a direct room: the others)."""
    room_ids = list({hit.message.room_id for hit in page.hits})
    shown = await room_objects(user_id=user_id, room_ids=room_ids) if room_ids else []
    names = {room["id"]: room["name"] for room in shown}
    return [(hit, names.get(hit.message.room_id, hit.message.room.name)) for hit in page.hits]


async def too_many_requests(request: HttpRequest) -> HttpResponse | None:
    user = await request.auser()
    if await ratelimit.allow_request(user_id=user.pk):
        return None
    return HttpResponse(
        _("Too many requests; slow down."), status=429, content_type="text/plain; charset=utf-8"
    )


@require_POST
@login_required
async def room_join(request: HttpRequest, room_id: int) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    room = await room_or_404(room_id)
    try:
        await membership.room_join(room=room, user=await request.auser())
    except ServiceError as error:
        raise PermissionDenied(error.detail) from error
    return redirect("chat:room", room_id=room.pk)


@require_POST
@login_required
async def room_leave(request: HttpRequest, room_id: int) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    room = await room_or_404(room_id)
    try:
        await membership.room_leave(room=room, user=await request.auser())
    except ServiceError as error:  # the last owner, or a direct room
        raise PermissionDenied(error.detail) from error
    return redirect("chat:index")


@login_required
async def direct_room(request: HttpRequest, username: str) -> HttpResponse:
    """`/dm/<username>/`: the direct room with that user, made on first visit."""
    try:
        room, _ = await direct_rooms.direct_room_open(
            creator=await request.auser(), usernames=[username]
        )
    except ServiceError as error:
        if error.code == "rate_limited":
            return HttpResponse(error.detail, status=429, content_type="text/plain")
        raise Http404(error.detail) from error
    return redirect("chat:room", room_id=room.pk)


def back_to(request: HttpRequest, fallback: str) -> HttpResponse:
    """Where a settings form came from (`next`, this site only), else `fallback`."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = fallback
    return redirect(target)


@require_POST
@login_required
async def notification_settings(request: HttpRequest) -> HttpResponse:
    """The settings page's form: which messages notify (all, mentions and direct, none)."""
    if refused := await too_many_requests(request):
        return refused
    try:
        await notification_level_set(user=await request.auser(), level=request.POST.get("level"))
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Notification setting saved.")
    return back_to(request, "/settings/")


@require_POST
@login_required
async def room_mute(request: HttpRequest, room_id: int) -> HttpResponse:
    """Mute (`muted=1`) or unmute a room's notifications, from the settings or room page."""
    if refused := await too_many_requests(request):
        return refused
    room = await room_or_404(room_id)
    try:
        await room_mute_set(
            user=await request.auser(), room=room, muted=request.POST.get("muted") == "1"
        )
    except ServiceError as error:
        raise PermissionDenied(error.detail) from error
    return back_to(request, "/settings/")
