from django.urls import path

from chat import api, views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("chat/room/<int:room_id>/", views.room, name="room"),
    path("chat/room/<int:room_id>/join/", views.room_join, name="room_join"),
    path("chat/room/<int:room_id>/leave/", views.room_leave, name="room_leave"),
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
]
