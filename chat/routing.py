from django.urls import path

from chat.consumers import RoomConsumer, RoomListConsumer

websocket_urlpatterns = [
    path("ws/chat/room/<int:room_id>/", RoomConsumer.as_asgi()),
    path("ws/rooms/", RoomListConsumer.as_asgi()),
]
