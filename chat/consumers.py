"""The room socket: authenticate, check membership, join groups, validate frames, call a
service, and forward group events. Everything else lives in services and selectors."""

import json
import time
import uuid
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from chat import ratelimit
from chat.groups import room_activity_group, room_group, user_group, user_rooms_group
from chat.latest_pages import latest_pages
from chat.selectors.messages import MessagePage, messages_before
from chat.selectors.read_state import UnreadState, unread_states
from chat.selectors.room_list_opening import room_list_counts, room_list_room_ids
from chat.selectors.room_opening import RoomOpening, room_opening
from chat.selectors.rooms import room_object
from chat.selectors.sidebar import active_counts, mention_counts
from chat.serializers import dumps, message_to_dict
from chat.services.errors import ConflictError, ServiceError
from chat.services.messages import message_create, message_delete, message_edit
from chat.services.presence import presence_frame, tracker
from chat.services.reactions import reaction_set
from chat.services.read_state import room_mark_read
from chat.services.typing import typing_notify
from chat.services.validation import clean_client_id
from chat.socketcap import socket_admit, socket_release
from mychannels.runtime.closedsocket import QuietAfterCloseMixin
from mychannels.runtime.databasehop import DatabaseHopMixin
from mychannels.runtime.dispatchloop import SerialDispatchMixin

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_NO_ROOM = 4404
CLOSE_TOO_MANY_SOCKETS = 4409
CLOSE_FLOODING = 4429
CLOSE_TOO_BIG = 1009
# The channel layer lost events meant for this socket (mychannels/runtime/layers.py): reconnect with
# `?since=` (or `?after=`) and catch up from the database.
CLOSE_CATCH_UP = 1012
# Typing frames closer together than this are dropped: room.js sends one per 2.5 s, and a
# hostile client must not make the server fan out a broadcast per frame.
TYPING_MIN_INTERVAL_SECONDS = 1.0


class SendOnlySocketMixin:
    """For sockets that only send (alert feeds, the dashboard): a client frame is refused
    with the subclass's `error_for(text_data)` frame, past the frame limit with 1009, and a
    client that keeps sending with 4429. Needs `open` and `junk_frames` (MemoryBuckets)."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.open:
            return
        if frame_size(text_data, bytes_data) > settings.CHAT_MAX_FRAME_BYTES:
            await self.close_with(CLOSE_TOO_BIG)
            return
        allowed = await self.junk_frames.take(
            "frames", settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
        )
        if not allowed:
            await self.close_with(CLOSE_FLOODING)
            return
        await self.send(text_data=dumps(self.error_for(text_data)))

    async def close_with(self, code: int) -> None:
        self.open = False
        await self.close(code)


class FrameError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def query_int(scope: dict, name: str) -> int | None:
    """An integer query-string parameter, or None when absent or malformed."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        return None
    return value if value >= 0 else None


def int_field(content: dict, name: str, *, required: bool, low: int, high: int) -> int | None:
    value = content.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or not low <= value <= high:
        raise FrameError("invalid", f"'{name}' must be an integer from {low} to {high}")
    return value


def parse_frame(text_data: str | None) -> dict:
    """A client frame as a JSON object, or a FrameError saying what is wrong with it."""
    if text_data is None:
        raise FrameError("bad_frame", "binary frames are not accepted; send JSON text")
    try:
        content = json.loads(text_data)
    except ValueError:
        raise FrameError("bad_json", "the frame is not valid JSON") from None
    except RecursionError:  # "[[[[...]]]]" fits in 64 KiB and breaks the parser's stack
        raise FrameError("bad_json", "the frame is nested too deeply") from None
    if not isinstance(content, dict):
        raise FrameError("bad_frame", "the frame must be a JSON object")
    return content


def message_client_id(content: dict | None) -> str | None:
    """A message frame's client_id if it is one the service would store, else None: an
    error frame echoes only what a page could have sent, never hostile text."""
    if content is None or content.get("type") != "message":
        return None
    try:
        return clean_client_id(content.get("client_id"))
    except ServiceError:
        return None


def frame_size(text_data: str | None, bytes_data: bytes | None) -> int:
    return len(text_data.encode()) if text_data is not None else len(bytes_data or b"")


def history_frame(page: MessagePage, version: int | None = None) -> dict[str, Any]:
    """A page of messages; the opening one also says the room's latest version."""
    frame = {
        "type": "history",
        "messages": [message_to_dict(m) for m in page.messages],
        "has_more": page.has_more,
    }
    if version is not None:
        frame["version"] = version
    return frame


def history_text(opening: RoomOpening) -> str | None:
    """The opening's history frame, for a member: the kept one while the room is unchanged.
    The room's version comes from the same statement as the page: exactly what it shows, so
    a client that keeps the highest version it has seen misses nothing."""
    if opening.reused is not None:
        return opening.reused.text
    if opening.page is None:
        return None
    return dumps(history_frame(opening.page, opening.room.version))


class RoomConsumer(
    QuietAfterCloseMixin, SerialDispatchMixin, DatabaseHopMixin, AsyncJsonWebsocketConsumer
):
    room = None  # set once the socket has joined the room, cleared when it leaves
    taking_frames = False
    presence_version = -1  # newest presence version sent: older broadcasts are stale
    last_typing = 0.0

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.room_id = int(self.scope["url_route"]["kwargs"]["room_id"])
        self.conn_id = uuid.uuid4().hex
        self.flood_strikes = 0
        # Accept first, then close with a code, so that the browser can tell why.
        await self.accept()
        if not self.user.is_authenticated:
            await self.close(CLOSE_NOT_LOGGED_IN)
            return
        # Joined before reading history: a message broadcast meanwhile waits in our channel
        # and arrives after the history frame (clients drop ids they have already seen). A
        # socket refused below leaves again before anything that waited is handled, and a
        # closed socket sends nothing (QuietAfterCloseMixin).
        await self._join_groups()
        try:
            opening, history = await self._read_opening()
            close_code = await self._refusal(opening)
        except BaseException:
            await self._leave_groups()
            raise
        if close_code:
            await self._leave_groups()
            await self.close(close_code)
            return
        await self.send(text_data=history)
        presence = await tracker().enter(
            self.room_id, self.conn_id, self.user.pk, self.user.get_username()
        )
        self.presence_version = max(self.presence_version, presence.version)
        frame = presence_frame(room_id=self.room_id, usernames=presence.usernames)
        await self.send_json(frame)
        self.taking_frames = True
        self.deliver_directly()

    async def _read_opening(self) -> tuple[RoomOpening, str | None]:
        """The opening's reads, and the history frame for a member. The latest page is the
        same for everyone who opens the room, so it is kept (chat/latest_pages.py) and, while
        one opening builds it, the room's others wait for that one."""
        after, since = query_int(self.scope, "after"), query_int(self.scope, "since")
        if after is not None or since is not None:
            limit = settings.CHAT_HISTORY_AFTER_MAX
            opening = await room_opening(
                self.room_id, self.user.pk, after_id=after, since=since, limit=limit
            )
            return opening, history_text(opening)
        pages = latest_pages()
        builds = await pages.wait_or_build(self.room_id)
        try:
            opening = await room_opening(
                self.room_id,
                self.user.pk,
                after_id=None,
                since=None,
                limit=settings.CHAT_HISTORY_LATEST,
                held=partial(pages.held, self.room_id),
            )
            text = history_text(opening)
            if text is not None and opening.reused is None:
                pages.keep(self.room_id, opening.room.version, text)
        finally:
            if builds:
                pages.built(self.room_id)
        return opening, text

    async def _refusal(self, opening: RoomOpening) -> int | None:
        if opening.room is None:
            return CLOSE_NO_ROOM
        if not opening.is_member:
            return CLOSE_NOT_MEMBER
        if not await socket_admit(user_id=self.user.pk, conn_id=self.conn_id):
            return CLOSE_TOO_MANY_SOCKETS
        self.room = opening.room  # set only when admitted: disconnect releases what it holds
        return None

    async def _join_groups(self) -> None:
        await self.channel_layer.group_add(room_group(self.room_id), self.channel_name)
        await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)

    async def _leave_groups(self) -> None:
        await self.channel_layer.group_discard(room_group(self.room_id), self.channel_name)
        await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.room is None:
            return
        await socket_release(user_id=self.user.pk, conn_id=self.conn_id)
        await self._leave_groups()
        await tracker().leave(self.room_id, self.conn_id, self.user.pk, self.user.get_username())
        self.room = None

    # Client frames. The base class would close the socket with 1011 on bad JSON or a binary
    # frame (DESIGN.md, trap 4): every bad frame gets an error frame and the socket stays.
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.taking_frames:
            return  # refused or closing: nothing is taken
        if frame_size(text_data, bytes_data) > settings.CHAT_MAX_FRAME_BYTES:
            await self.close_with(CLOSE_TOO_BIG)
            return
        content, bad_frame = None, None
        try:
            content = parse_frame(text_data)
        except FrameError as error:
            bad_frame = error  # answered once its request token is taken: garbage costs too
        try:
            # A frame is a request, and a message frame a message too: one call takes both.
            is_message = content is not None and content.get("type") == "message"
            if not await self._within_limit(partial(ratelimit.allow_frame, is_message=is_message)):
                return
            if bad_frame is not None:
                raise bad_frame
            await self.receive_json(content)
        except (FrameError, ServiceError) as error:
            # A refused message names its client_id, so that the page can mark that one copy.
            client_id = message_client_id(content)
            await self.send_error(error.code, error.detail, client_id=client_id)
        except DatabaseError:  # a history page or read marker while the database is away
            await self.send_error("unavailable", "the database is unavailable; try again")

    async def receive_json(self, content: dict, **kwargs: Any) -> None:
        handlers = {
            "message": self.on_message,
            "typing": self.on_typing,
            "history": self.on_history,
            "read": self.on_read,
            "edit": self.on_edit,
            "delete": self.on_delete,
            "react": self.on_react,
        }
        frame_type = content.get("type")
        handler = handlers.get(frame_type) if isinstance(frame_type, str) else None
        if handler is None:
            raise FrameError("unknown_type", f"unknown frame type: {str(frame_type)[:40]!r}")
        self.flood_strikes = 0  # its tokens were taken (receive)
        if frame_type in self.DB_FRAMES:
            await aclose_old_connections()  # the hop channels makes before every handler
        await handler(content)

    async def on_message(self, content: dict) -> None:
        await message_create(
            room=self.room,
            author=self.user,
            body=content.get("body"),
            client_id=content.get("client_id"),
            reply_to=content.get("reply_to"),
            attachments=content.get("attachments"),
        )

    async def on_edit(self, content: dict) -> None:
        try:
            await message_edit(
                room=self.room,
                user=self.user,
                message_id=content.get("id"),
                body=content.get("body"),
                version=content.get("version"),
            )
        except ConflictError as conflict:
            # The newer message rides along, so that the editor can show it and retry.
            frame = {"type": "error", "code": conflict.code, "detail": conflict.detail}
            await self.send_json({**frame, "message": conflict.current})

    async def on_delete(self, content: dict) -> None:
        await message_delete(room=self.room, user=self.user, message_id=content.get("id"))

    async def on_react(self, content: dict) -> None:
        await reaction_set(
            room=self.room,
            user=self.user,
            message_id=content.get("id"),
            emoji=content.get("emoji"),
            on=content.get("on"),
        )

    async def _within_limit(self, allow: Any) -> bool:
        """Take a token; over the limit, answer rate_limited (FrameError) or, after too many
        refusals in a row, close 4429 and return False. A frame that is taken resets the
        count (its handler does)."""
        if await allow(user_id=self.user.pk):
            return True
        await self._flood_strike()
        return False

    async def _flood_strike(self) -> None:
        self.flood_strikes += 1
        if self.flood_strikes > settings.CHAT_FLOOD_CLOSE_AFTER:
            await self.close_with(CLOSE_FLOODING)
            return
        raise FrameError("rate_limited", "too many messages; slow down")

    async def on_typing(self, content: dict) -> None:
        now = time.monotonic()
        if now - self.last_typing < TYPING_MIN_INTERVAL_SECONDS:
            return  # best effort by nature: the earlier frame already told the room
        self.last_typing = now
        await typing_notify(room_id=self.room_id, user=self.user)

    async def on_history(self, content: dict) -> None:
        before = int_field(content, "before", required=True, low=1, high=2**63 - 1)
        limit = int_field(content, "limit", required=False, low=1, high=settings.CHAT_PAGE_MAX)
        page = await messages_before(
            room_id=self.room_id, before_id=before, limit=limit or settings.CHAT_HISTORY_LATEST
        )
        await self.send_json(history_frame(page))

    async def on_read(self, content: dict) -> None:
        message_id = int_field(content, "id", required=True, low=1, high=2**63 - 1)
        await room_mark_read(room_id=self.room_id, user=self.user, message_id=message_id)

    async def send_error(self, code: str, detail: str, client_id: str | None = None) -> None:
        frame = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send(text_data=dumps(frame))

    async def send_json(self, content: Any, close: bool = False) -> None:
        await self.send(text_data=dumps(content), close=close)

    # Group events that only forward text touch no database, so they skip the thread-pool hop
    # (close_old_connections) that channels >= 4.2 makes before every handler: one hop per
    # member per broadcast otherwise (DESIGN.md, trap 2; measured in docs/performance.md).
    FORWARD_ONLY_EVENTS = frozenset(
        {"chat.message", "chat.change", "chat.presence", "chat.typing", "alert.created"}
    )

    # Opening and closing touch the database only through selectors that run in a hop of their
    # own (database_sync_to_async recycles connections itself), so the pre-handler hop is
    # skipped for them too: a connect storm paid for it once per socket.
    OWN_HOP_EVENTS = frozenset({"websocket.connect", "websocket.disconnect"})

    # Client frames take the hop only when they use the async ORM (DB_FRAMES, in
    # receive_json): a message is stored in a hop that recycles the connection itself
    # (_store_message) and a typing frame touches no database, so the two frames
    # a chat sends most pay for one thread hop instead of two, or none.
    DB_FRAMES = frozenset({"history", "read"})

    NO_DATABASE_EVENTS = FORWARD_ONLY_EVENTS | OWN_HOP_EVENTS | {"websocket.receive"}

    # Group events: already serialized once by the service, forwarded as they are. Each one's
    # text for this socket comes from a plain method, so that the channel layer can also
    # deliver it in its own pass over the room while the consumer is idle (DIRECT_EVENTS,
    # mychannels/runtime/fanout.py); the async handlers are the path when it is busy.
    DIRECT_EVENTS = {
        "chat.message": "forwarded_text",
        "chat.change": "forwarded_text",  # an edit, a deletion or reactions
        "alert.created": "forwarded_text",  # alerts show on the room page too
        "chat.presence": "presence_text",
        "chat.typing": "typing_text",
    }

    def forwarded_text(self, event: dict) -> str:
        return event["text"]

    def presence_text(self, event: dict) -> str | None:
        # Broadcasts from several processes may arrive out of order: the newest one wins.
        version = event.get("version", 0)
        if version < self.presence_version:
            return None
        self.presence_version = version
        return event["text"]

    def typing_text(self, event: dict) -> str | None:
        return event["text"] if event["user_id"] != self.user.pk else None

    async def send_event_text(self, text: str | None) -> None:
        if text is not None:
            await self.send(text_data=text)

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=event["text"])

    async def chat_change(self, event: dict) -> None:
        await self.send(text_data=event["text"])

    async def chat_presence(self, event: dict) -> None:
        await self.send_event_text(self.presence_text(event))

    async def alert_created(self, event: dict) -> None:
        await self.send(text_data=event["text"])

    async def chat_typing(self, event: dict) -> None:
        await self.send_event_text(self.typing_text(event))

    async def close_with(self, code: int) -> None:
        """Close, and take no more frames meanwhile (cleanup runs in disconnect)."""
        self.taking_frames = False
        await self.close(code)

    async def user_logout(self, event: dict) -> None:
        await self.close_with(CLOSE_NOT_LOGGED_IN)

    async def layer_gap(self, event: dict) -> None:
        await self.close_with(CLOSE_CATCH_UP)

    async def user_removed(self, event: dict) -> None:
        if event["room_id"] == self.room_id:
            await self.close_with(CLOSE_NOT_MEMBER)

    async def chat_room_updated(self, event: dict) -> None:
        await self.send_json({"type": "room_updated", "room": room_as_seen(event, self.user.pk)})


def room_as_seen(event: dict, user_id: int) -> dict[str, Any]:
    """A `room_updated` event's room object with this user's own role filled in."""
    return {**event["room"], "role": event["roles"].get(str(user_id), "member")}


class RoomListConsumer(
    QuietAfterCloseMixin, SerialDispatchMixin, DatabaseHopMixin, AsyncWebsocketConsumer
):
    """`/ws/rooms/`: each of the user's rooms with its unread and mention counts and how many
    people are in it, live, for the sidebar of every page (docs/live-state.md); rooms joined
    and left. It hears where new messages are, never what they say, and only for rooms the
    user belongs to; it takes no frames from the client."""

    listening = False  # in its groups (disconnect leaves them)
    taking_frames = False

    # Kept in memory (the counts, the frame from the event): these skip channels' hop, which
    # every member's list paid on every message of the room (docs/performance.md). The open,
    # a read marker and a room joined recount through the async ORM, and keep it.
    NO_DATABASE_EVENTS = frozenset(
        {
            "rooms.message",
            "rooms.notify",
            "rooms.updated",
            "rooms.active",
            "user.removed",
            "user.logout",
            "layer.gap",
            "websocket.receive",
            "websocket.disconnect",
        }
    )
    # The open reads on the loop on PostgreSQL (chat/selectors/room_list_opening.py): the
    # hop, 170-190 us, was a tenth of a list's opening in a storm of tabs.
    LOOP_DATABASE_EVENTS = frozenset({"websocket.connect"})

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.counts: dict[int, UnreadState] = {}
        self.mentions: dict[int, int] = {}
        # Per room: the newest presence version heard and the count it gave; broadcasts from
        # several processes may arrive out of order, and the newest one wins.
        self.active: dict[int, tuple[int, int]] = {}
        self.subscribed: set[int] = set()  # rooms whose activity group this socket is in
        self.bad_frames = 0
        await self.accept()
        if not self.user.is_authenticated:
            await self.close(CLOSE_NOT_LOGGED_IN)
            return
        self.conn_id = uuid.uuid4().hex
        # Counted against the same per-user socket cap as room sockets.
        if not await socket_admit(user_id=self.user.pk, conn_id=self.conn_id):
            await self.close(CLOSE_TOO_MANY_SOCKETS)
            return
        self.listening = True
        # Joined before counting, like the room socket before its history: a message
        # posted meanwhile is either in the count or arrives after it, and `latest_id`
        # tells which.
        await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        await self.channel_layer.group_add(user_rooms_group(self.user.pk), self.channel_name)
        for room_id in await room_list_room_ids(user_id=self.user.pk):
            await self._subscribe(room_id)
        states, self.mentions = await room_list_counts(
            user_id=self.user.pk, username=self.user.get_username()
        )
        for state in states:
            self.counts[state.room_id] = state
        active = await active_counts(room_ids=list(self.counts))
        rooms = [self._room_counts(state, active[state.room_id]) for state in states]
        await self.send(text_data=dumps({"type": "rooms", "rooms": rooms}))
        self.taking_frames = True
        self.deliver_directly()

    async def disconnect(self, code: int) -> None:
        if not self.listening:
            return
        self.listening = False
        await socket_release(user_id=self.user.pk, conn_id=self.conn_id)
        await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        await self.channel_layer.group_discard(user_rooms_group(self.user.pk), self.channel_name)
        for room_id in list(self.subscribed):
            await self._unsubscribe(room_id)

    async def _subscribe(self, room_id: int) -> None:
        self.subscribed.add(room_id)
        await self.channel_layer.group_add(room_activity_group(room_id), self.channel_name)

    async def _unsubscribe(self, room_id: int) -> None:
        self.subscribed.discard(room_id)
        await self.channel_layer.group_discard(room_activity_group(room_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.taking_frames:
            return
        if frame_size(text_data, bytes_data) > settings.CHAT_MAX_FRAME_BYTES:
            await self._close(CLOSE_TOO_BIG)
            return
        self.bad_frames += 1
        if self.bad_frames > settings.CHAT_FLOOD_CLOSE_AFTER:
            await self._close(CLOSE_FLOODING)
            return
        try:
            parse_frame(text_data)
            error = FrameError("unknown_type", "this socket takes no frames; it only sends")
        except FrameError as bad_frame:
            error = bad_frame
        frame = {"type": "error", "code": error.code, "detail": error.detail}
        await self.send(text_data=dumps(frame))

    async def _close(self, code: int) -> None:
        self.taking_frames = False
        await self.close(code)

    def _room_counts(self, state: UnreadState, active: int) -> dict[str, int]:
        self.active.setdefault(state.room_id, (-1, active))
        return {
            "room_id": state.room_id,
            "unread": state.unread,
            "mentions": self.mentions.get(state.room_id, 0),
            "active": active,
        }

    async def _send_count(self, state: UnreadState) -> None:
        await self.send(text_data=self._count_text(state))

    def _count_text(self, state: UnreadState) -> str:
        frame = {
            "type": "unread",
            "room_id": state.room_id,
            "unread": state.unread,
            "mentions": self.mentions.get(state.room_id, 0),
        }
        return dumps(frame)

    async def _mention_counts(self, room_id: int) -> dict[int, int]:
        return await mention_counts(
            user_id=self.user.pk, room_ids=[room_id], username=self.user.get_username()
        )

    async def _recount(self, room_id: int) -> None:
        states = await unread_states(user_id=self.user.pk, room_id=room_id)
        if not states:  # not a member (any more): hear nothing of the room
            await self._unsubscribe(room_id)
            self.counts.pop(room_id, None)
            return
        before, mentions_before = self.counts.get(room_id), self.mentions.get(room_id, 0)
        self.counts[room_id] = states[0]
        self.mentions.update(await self._mention_counts(room_id))
        changed = before is None or before.unread != states[0].unread
        if changed or mentions_before != self.mentions[room_id]:
            await self._send_count(states[0])

    # Group events. A message's count, a notification, the count of people present and a
    # room's new details are worked out in memory, so the channel layer hands them to an idle
    # list in its one pass over the room, without waking this consumer
    # (mychannels/runtime/fanout.py): every member's list hears every message.
    DIRECT_EVENTS = {
        "rooms.message": "message_count_text",
        "rooms.notify": "notify_text",
        "rooms.active": "active_text",
        "rooms.updated": "updated_text",
    }

    def message_count_text(self, event: dict) -> str | None:
        """The room's new unread count, if this message changes it."""
        state = self.counts.get(event["room_id"])
        if state is None or event["id"] <= state.latest_id:
            return None  # not (or no longer) our room, or already in the count
        counts = event["author_id"] != self.user.pk and event["id"] > state.last_read_id
        state = state.after_message(event["id"], counts=counts)
        self.counts[state.room_id] = state
        if counts and self.user.get_username() in event.get("mentions", ()):
            self.mentions[state.room_id] = self.mentions.get(state.room_id, 0) + 1
        return self._count_text(state) if counts else None

    def notify_text(self, event: dict) -> str:
        """A message this user should hear of (chat/services/notifications.py): as encoded."""
        return event["text"]

    async def rooms_message(self, event: dict) -> None:
        await self._send_text(self.message_count_text(event))

    async def rooms_notify(self, event: dict) -> None:
        await self.send(text_data=self.notify_text(event))

    async def rooms_read(self, event: dict) -> None:
        if event["room_id"] in self.counts:
            await self._recount(event["room_id"])

    async def rooms_joined(self, event: dict) -> None:
        # Subscribing twice is harmless; missing a room joined while this socket opened is not.
        room_id = event["room_id"]
        await self._subscribe(room_id)
        if room_id in self.counts:
            await self._recount(room_id)
            return
        room = await room_object(room_id=room_id, user_id=self.user.pk)
        states = await unread_states(user_id=self.user.pk, room_id=room_id)
        if room is None or not states:  # left again meanwhile
            await self._unsubscribe(room_id)
            return
        self.counts[room_id] = states[0]
        self.mentions.update(await self._mention_counts(room_id))
        active = await active_counts(room_ids=[room_id])
        room.update(self._room_counts(states[0], active[room_id]))
        del room["room_id"]
        await self.send(text_data=dumps({"type": "room_joined", "room": room}))

    def updated_text(self, event: dict) -> str | None:
        if event["room"]["id"] not in self.counts:
            return None
        return dumps({"type": "room_updated", "room": room_as_seen(event, self.user.pk)})

    def active_text(self, event: dict) -> str | None:
        """The room's count of people present, if it changed (presence broadcasts reach every
        member's list, at most one a second per room)."""
        room_id = event["room_id"]
        if room_id not in self.counts:
            return None
        version, count = self.active.get(room_id, (-1, -1))
        if event["version"] < version:
            return None  # an older broadcast than one already heard
        self.active[room_id] = (event["version"], event["count"])
        if event["count"] == count:
            return None
        return dumps({"type": "active", "room_id": room_id, "count": event["count"]})

    async def rooms_updated(self, event: dict) -> None:
        await self._send_text(self.updated_text(event))

    async def rooms_active(self, event: dict) -> None:
        await self._send_text(self.active_text(event))

    async def _send_text(self, text: str | None) -> None:
        if text is not None:
            await self.send(text_data=text)

    async def user_removed(self, event: dict) -> None:
        room_id = event["room_id"]
        await self._unsubscribe(room_id)
        self.active.pop(room_id, None)
        if self.counts.pop(room_id, None) is not None:
            await self.send(text_data=dumps({"type": "room_left", "room_id": room_id}))

    async def user_logout(self, event: dict) -> None:
        await self._close(CLOSE_NOT_LOGGED_IN)

    async def layer_gap(self, event: dict) -> None:
        await self._close(CLOSE_CATCH_UP)  # counts may have missed messages: recount on open
