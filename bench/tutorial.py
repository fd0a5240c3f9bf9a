"""Baseline (a): the Channels tutorial's chat consumer, served by Daphne on the same Redis
channel layer. Join a group, `group_send` whatever arrives, forward it to every member; no
auth, no origin check, no storage, no flood control. Run: `daphne bench.tutorial:application`.

Its pool gets the same two fixes as the service (DESIGN.md, trap 1), or it could not even hold
the 1,000-member room; everything else is the tutorial as written, on the tutorial's
`RedisChannelLayer`. `TUTORIAL_LAYER=pubsub` puts it on channels-redis's pub/sub layer instead
(the service's default layer), to tell what the layer buys from what the service does.
"""

import json
import os

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["channels"],
        SECRET_KEY="bench-tutorial-baseline-not-a-secret",
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": {
                    "core": "channels_redis.core.RedisChannelLayer",
                    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
                }[os.environ.get("TUTORIAL_LAYER", "core")],
                "CONFIG": {
                    "hosts": [
                        {
                            "address": os.environ["REDIS_URL"],
                            "max_connections": 5000,
                            "socket_timeout": 15,
                        }
                    ],
                    "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "benchtut"),
                },
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import path


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.room_group_name = f"chat_{self.scope['url_route']['kwargs']['room_name']}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data)["body"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


application = URLRouter([path("ws/room/<str:room_name>/", ChatConsumer.as_asgi())])
