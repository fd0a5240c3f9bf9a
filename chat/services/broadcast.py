"""The channel layer, as services (and only services) use it."""

from typing import Any

from channels.layers import get_channel_layer


async def group_send(group: str, event: dict[str, Any]) -> None:
    await get_channel_layer().group_send(group, event)
