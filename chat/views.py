"""Pages. Each view is a few lines: read through selectors, write through services."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from alert import selectors as alert_selectors
from chat import ratelimit, selectors, services
from chat.models import Room


async def room_or_404(room_id: int) -> Room:
    room = await selectors.room_get(room_id=room_id)
    if room is None:
        raise Http404("No such room")
    return room


@login_required
async def index(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    context = {
        "my_rooms": await selectors.rooms_of_user(user=user),
        "public_rooms": await selectors.public_rooms_to_join(user=user),
    }
    return render(request, "chat/index.html", context)


@login_required
async def room(request: HttpRequest, room_id: int) -> HttpResponse:
    user = await request.auser()
    room = await room_or_404(room_id)
    if not await selectors.room_is_member(room_id=room.pk, user_id=user.pk):
        raise PermissionDenied("You are not a member of this room")
    alerts, alerts_after = await alert_selectors.alerts_for_room_page(room_id=room.pk, limit=20)
    config = {"roomId": room.pk, "username": user.get_username(), "alertsAfter": alerts_after}
    context = {"room": room, "config": config, "alerts": alerts}
    return render(request, "chat/room.html", context)


async def too_many_requests(request: HttpRequest) -> HttpResponse | None:
    user = await request.auser()
    if await ratelimit.allow_request(user_id=user.pk):
        return None
    return HttpResponse("Too many requests; slow down.", status=429, content_type="text/plain")


@require_POST
@login_required
async def room_join(request: HttpRequest, room_id: int) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    room = await room_or_404(room_id)
    try:
        await services.room_join(room=room, user=await request.auser())
    except services.ServiceError as error:
        raise PermissionDenied(error.detail) from error
    return redirect("chat:room", room_id=room.pk)


@require_POST
@login_required
async def room_leave(request: HttpRequest, room_id: int) -> HttpResponse:
    if refused := await too_many_requests(request):
        return refused
    room = await room_or_404(room_id)
    await services.room_leave(room=room, user=await request.auser())
    return redirect("chat:index")
