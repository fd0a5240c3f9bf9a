from django.contrib import admin
from django.urls import include, path

from mychannels.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("dashboard/", include("mychannels.dashboard.urls")),
    path("", include("chat.urls")),
    path("", include("alert.urls")),
]
