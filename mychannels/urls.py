from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog, set_language

from mychannels.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # The language control on every page posts here, logged in or not (the login page has one).
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    # The browser clients' texts in the page's language (static/js/i18n.js reads them).
    path(
        "jsi18n/",
        login_not_required(JavaScriptCatalog.as_view(packages=["mychannels"])),
        name="javascript-catalog",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("dashboard/", include("mychannels.dashboard.urls")),
    path("", include("chat.urls")),
    path("", include("alert.urls")),
]
