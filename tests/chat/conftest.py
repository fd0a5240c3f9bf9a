"""Fixtures shared by the chat tests."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from django.conf import settings

from mychannels.runtime.layers import PubSubChannelLayer
from mychannels.settings import redis_pubsub_channel_layer
from tests.conftest import Socket, communicator, session_cookie
from tests.services import ensure_redis


@pytest.fixture
async def pubsub_layer() -> AsyncIterator[PubSubChannelLayer]:
    url = ensure_redis()
    prefix = f"{settings.CHANNEL_LAYER_PREFIX}d{uuid.uuid4().hex[:8]}"
    config = redis_pubsub_channel_layer(url, prefix)
    assert config["BACKEND"] == "mychannels.runtime.layers.PubSubChannelLayer"
    layer = PubSubChannelLayer(**config["CONFIG"])
    layer.test_prefix = prefix
    try:
        yield layer
    finally:
        await layer.flush()  # unsubscribes and closes its connections; pub/sub keeps no keys


@pytest.fixture
async def open_room_list():
    """open(user or cookie=...) -> (Socket, the opening `rooms` frame) for `/ws/rooms/`."""
    opened: list[Socket] = []

    async def open_list(user=None, cookie: str | None = None):
        comm = communicator("/ws/rooms/", cookie or await session_cookie(user))
        connected, code = await comm.connect(timeout=5)
        assert connected, code
        socket = Socket(comm)
        opened.append(socket)
        opening = await socket.recv()
        assert opening["type"] == "rooms", opening
        return socket, opening

    yield open_list
    for socket in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()
