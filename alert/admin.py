"""Alerts in the admin. One added here goes through `alert_create`, so it is broadcast to
open sockets like any other (after the admin's transaction commits)."""

from asgiref.sync import async_to_sync
from django.contrib import admin, messages

from alert import feeds, services
from alert.models import Alert, FeedKey
from chat.admin import RoomPostAdminForm


class AlertAdminForm(RoomPostAdminForm):
    text_field = "content"
    author_field = "user"

    class Meta:
        model = Alert
        fields = ["room", "user", "level", "content"]

    def clean_text(self, text: str) -> str:
        return services.clean_content(text)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    form = AlertAdminForm
    list_display = ["id", "room", "level", "user", "short_content", "create_at"]
    list_filter = ["room", "level"]
    search_fields = ["content", "user__username", "room__name"]
    list_select_related = ["room", "user"]
    raw_id_fields = ["user"]
    date_hierarchy = "create_at"

    @admin.display(description="content")
    def short_content(self, alert: Alert) -> str:
        return alert.content[:80]

    def save_model(self, request, obj: Alert, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # an edit is not a new alert
            return
        alert = async_to_sync(services.alert_create)(
            room=obj.room, user=obj.user, content=obj.content, level=obj.level
        )
        obj.pk, obj.create_at = alert.pk, alert.create_at


@admin.register(FeedKey)
class FeedKeyAdmin(admin.ModelAdmin):
    """Staff revoke a user's secret feed URL by rotating it (the user sees the new one)."""

    list_display = ["user", "rotated"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "rotated"]
    actions = ["rotate"]

    def has_add_permission(self, request) -> bool:
        return False  # made on first use of the alerts page

    @admin.action(description="Rotate the feed URL (the old one stops working)")
    def rotate(self, request, queryset) -> None:
        for key in queryset.select_related("user"):
            feeds.feed_key_rotate(user=key.user)
        messages.success(request, f"Rotated {queryset.count()} feed URL(s).")
