from django.urls import path

from chat import api, api_rooms, attachments_views, views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("chat/room/<int:room_id>/", views.room, name="room"),
    path("chat/room/<int:room_id>/join/", views.room_join, name="room_join"),
    path("chat/room/<int:room_id>/leave/", views.room_leave, name="room_leave"),
    path("search/", views.search, name="search"),
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("settings/rooms/<int:room_id>/mute/", views.room_mute, name="room_mute"),
    path("api/search/", api.search, name="api_search"),
    path("api/rooms/<int:room_id>/messages/", api.room_messages, name="api_room_messages"),
    path(
        "api/rooms/<int:room_id>/messages/<int:message_id>/",
        api.room_message,
        name="api_room_message",
    ),
    path(
        "api/rooms/<int:room_id>/messages/<int:message_id>/reactions/<str:emoji>/",
        api.message_reaction,
        name="api_message_reaction",
    ),
    path("dm/<str:username>/", views.direct_room, name="direct_room"),
    path("api/rooms/", api_rooms.room_list, name="api_rooms"),
    path("api/rooms/<int:room_id>/", api_rooms.room_detail, name="api_room"),
    path("api/rooms/<int:room_id>/members/", api_rooms.room_member_list, name="api_members"),
    path(
        "api/rooms/<int:room_id>/members/<str:username>/",
        api_rooms.room_member,
        name="api_member",
    ),
    path("api/dms/", api_rooms.direct_room_create, name="api_dms"),
    path("api/users/", api_rooms.user_search, name="api_users"),
    path(
        "api/rooms/<int:room_id>/attachments/",
        attachments_views.room_attachments,
        name="api_room_attachments",
    ),
    path(
        "attachments/<int:attachment_id>/",
        attachments_views.attachment_file,
        name="attachment_file",
    ),
    path(
        "attachments/<int:attachment_id>/thumbnail/",
        attachments_views.attachment_thumbnail,
        name="attachment_thumbnail",
    ),
]
