"""channels' thread hop before every handler, kept for the handlers that need it.

channels (>= 4.2) runs `close_old_connections` in a thread before each handler and once more
after `disconnect`, so that the async ORM, which runs on that thread, never meets a connection
past its age. That hop costs 170-190 us of CPU here (docs/performance.md), and group events
arrive once per member: handlers that keep to memory, or whose database work recycles its own
connection, skip it.
"""

from typing import Any

from channels.exceptions import StopConsumer

from mychannels.runtime import asyncdb


class DatabaseHopMixin:
    """For a channels consumer: events in NO_DATABASE_EVENTS go straight to their handler;
    the others take channels' hop first. With "websocket.disconnect" in it, closing skips
    the hop channels' `websocket_disconnect` ends with, too: `disconnect` must then not use
    the async ORM."""

    NO_DATABASE_EVENTS: frozenset[str] = frozenset()
    # Events whose database work runs on the event loop's own connections where those are on
    # (PostgreSQL, asyncdb.py) and through the async ORM elsewhere: the hop only elsewhere.
    LOOP_DATABASE_EVENTS: frozenset[str] = frozenset()

    channel_layer: Any
    channel_name: str
    groups: list[str]

    async def dispatch(self, message: dict) -> None:
        event_type = message.get("type")
        if event_type in self.NO_DATABASE_EVENTS or (
            event_type in self.LOOP_DATABASE_EVENTS and asyncdb.enabled()
        ):
            await getattr(self, event_type.replace(".", "_"))(message)
            return
        await super().dispatch(message)  # type: ignore[misc]

    async def websocket_disconnect(self, message: dict) -> None:
        if "websocket.disconnect" not in self.NO_DATABASE_EVENTS:
            await super().websocket_disconnect(message)  # type: ignore[misc]
            return
        for group in self.groups:  # as channels' own, without the hop at its end
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.disconnect(message["code"])  # type: ignore[attr-defined]
        raise StopConsumer()
