from django.urls import path

from alert import api, feeds, views

app_name = "alert"

urlpatterns = [
    path("alerts/", views.feed_page, name="feed_page"),
    path("alerts/feed/<str:token>/", feeds.AlertAtomFeed(), name="feed"),
    path("alerts/room/<int:room_id>/post/", views.room_post, name="room_post"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/tokens/", views.token_new, name="token_new"),
    path("settings/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("settings/feed/rotate/", views.feed_rotate, name="feed_rotate"),
    path("api/rooms/<int:room_id>/alerts/", api.room_alerts, name="api_room_alerts"),
    path("api/alerts/", api.alerts_feed, name="api_alerts"),
]
