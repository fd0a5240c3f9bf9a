from django.urls import path

from alert.consumers import AlertFeedConsumer, AlertRoomConsumer

websocket_urlpatterns = [
    path("ws/alert/room/<int:room_id>/", AlertRoomConsumer.as_asgi()),
    path("ws/alerts/", AlertFeedConsumer.as_asgi()),
]
