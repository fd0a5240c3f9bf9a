"""`/dashboard/`: the operations dashboard page, staff only (403 for other users; anonymous
users are sent to the login page by LoginRequiredMiddleware, as for every page)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from mychannels.dashboard.counters import LEVELS


@require_GET
async def dashboard_page(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    if not user.is_staff:
        raise PermissionDenied(_("The operations dashboard is for staff"))
    return render(request, "dashboard/page.html", {"levels": LEVELS})
