"""Fixtures shared by the chat tests."""

import uuid
from collections.abc import AsyncIterator

import pytest
from django.conf import settings

from mychannels.runtime.layers import PubSubChannelLayer
from mychannels.settings import redis_pubsub_channel_layer
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
