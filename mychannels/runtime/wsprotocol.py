"""Daphne's WebSocket protocol with a cheaper path for the frames a broadcast sends.

A message to a room of 100 goes out as 100 identical text frames. Daphne hands each one to
autobahn, which encodes and frames it again for every member, and Twisted then buffers the
bytes and registers the socket for writability, to send them on the next turn of the loop
and unregister it again. Here a text frame is built once per text object (a broadcast
reaches every member as the same string: mychannels/runtime/layers.py) and written at once when
nothing is waiting in the socket's buffer; anything the kernel does not take goes through
Twisted's buffer as before, so order and back-pressure are unchanged. Frames that need
autobahn (compression, fragmenting, a socket not open) take autobahn's path.

The other way, a client's message is one small masked text frame per read. When that read is
exactly one such frame and autobahn has nothing of the socket's in progress, it is unmasked
and decoded here (mychannels/runtime/framefast.py) and handed on as Daphne's `onMessage`
would, with the counters and the ping timeout autobahn keeps per received message; any other
read goes to autobahn untouched, so its checks and close codes (1002, 1007, 1009) stay its
own. Measured in docs/performance.md.
"""

import inspect
import logging
import struct
import time
from collections import deque
from types import MappingProxyType
from typing import Any, NamedTuple

import autobahn.websocket.protocol as autobahn_protocol
from daphne.ws_protocol import WebSocketProtocol
from twisted.web.http import HTTPChannel

from mychannels.runtime import framefast, sendbuffer
from mychannels.runtime.identitycache import IdentityCache

_TEXT_FIN = 0x81  # FIN bit and opcode 1 (text); server frames are never masked
_FRAME_CACHE_SIZE = 64  # broadcasts in flight at once, with room to spare


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented WebSocket text frame carrying `text` (RFC 6455, 5.2)."""
    payload = text.encode()
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", _TEXT_FIN, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", _TEXT_FIN, 126, length)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, length)
    return header + payload


class FrameCache(IdentityCache[str, bytes]):
    """Frames of the latest texts (mychannels/runtime/identitycache.py)."""

    def __init__(self, size: int = _FRAME_CACHE_SIZE) -> None:
        super().__init__(size)

    def frame(self, text: str) -> bytes:
        # The hit, once per member of a broadcast, without the generic lookup's call.
        entry = self._entries.get(id(text))
        if entry is not None and entry[0] is text:
            return entry[1]
        return self.get(text, text_frame)


_frames = FrameCache()

# Daphne's own logger, for its "incoming frame" debug lines: the same lines either way.
_daphne_log = logging.getLogger("daphne.ws_protocol")

# The methods autobahn and Daphne run on a received text message, whose work the fast path
# does itself (ChatWebSocketProtocol._receive_text_fast): a class that overrides any of them
# expects them called, so its sockets keep autobahn's path.
_RECEIVE_PATH = (
    "_dataReceived", "consumeData", "processData", "onFrameBegin", "onFrameData",
    "onFrameEnd", "_onMessageBegin", "onMessageBegin", "_onMessageFrameBegin",
    "onMessageFrameBegin", "_onMessageFrameData", "onMessageFrameData",
    "_onMessageFrameEnd", "onMessageFrameEnd", "_onMessageFrame", "onMessageFrame",
    "_onMessageEnd", "onMessageEnd", "_onMessage", "onMessage", "_cancelAutoPingTimeoutCall",
)  # fmt: skip
_STOCK_RECEIVE_PATH = {name: getattr(WebSocketProtocol, name) for name in _RECEIVE_PATH}


def has_stock_receive_path(cls: type) -> bool:
    """Whether `cls` runs autobahn's and Daphne's own code for a received message."""
    return all(getattr(cls, name) is stock for name, stock in _STOCK_RECEIVE_PATH.items())


# autobahn pretty-prints every new connection's 29 options for a debug log line, whether debug
# logging is on or not: 3% of a socket's opening (docs/performance.md). Its module uses
# `pformat` only for debug text; `repr` says the same on one line, at a tenth of the cost.
autobahn_protocol.pformat = repr


def write_now(transport: Any, data: bytes) -> None:
    """`transport.write(data)`, sent straight away when nothing is queued before it."""
    if (
        getattr(transport, "TLS", True) is False  # a plain TCP connection of Twisted's
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        and not transport._tempDataBuffer
    ):
        # The socket's own non-blocking send, as Twisted's writeSomeData makes it, without
        # its slice and retry wrapper: this runs once per member of every broadcast.
        try:
            sent = transport.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0  # the kernel's buffer is full: Twisted sends it when it can
        except OSError:
            # A lost connection: the buffered write below meets the same error on the next
            # turn of the loop and closes the connection through Twisted's usual path.
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


class _RequestPath(NamedTuple):
    """What Daphne reads of the handshake's request once the socket is open (its log lines)."""

    path: str


class _SendQueue:
    """autobahn's send queue, with its deque made on first use: autobahn fills it only for
    chopped or synchronous writes, which Daphne never asks for, and an empty deque is about
    600 bytes of every open socket (idle memory). Only what autobahn calls is here."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def append(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    def popleft(self) -> Any:
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item


# What autobahn and Daphne set on every connection and an open, idle socket still has as set:
# counters, flags, timers not started, empty buffers. Once open, an attribute whose value is
# its default here is dropped from the connection and read from the class instead (the same
# value), which keeps the attribute dict two size steps smaller (docs/performance.md, idle
# memory). Each is set by `_connectionMade`, the handshake or Daphne's `onConnect` before it
# is first read, so the class value is never seen in its place; a later write puts it back.
_OPEN_DEFAULTS: dict[str, Any] = {
    "_perMessageCompress": None,
    "_raw_query_string": b"",
    "autoPingPending": None,
    "autoPingPendingCall": None,
    "autoPingPendingSent": None,
    "autoPingPendingSeq": 0,
    "autoPingTimeoutCall": None,
    "closeHandshakeTimeoutCall": None,
    "closedByMe": False,
    "control_frame_data": None,  # set when a control frame starts, None once it is handled
    "current_frame": None,
    "data": b"",
    "droppedByMe": False,
    "failedByMe": False,
    "inside_message": False,
    "localCloseCode": None,
    "localCloseReason": None,
    "openHandshakeTimeoutCall": None,
    "protocol_to_accept": None,
    "remoteCloseCode": None,
    "remoteCloseReason": None,
    "root_path": "",
    "send_state": 0,
    "trackedTimings": None,
    "triggered": False,
    "wasClean": False,
    "wasCloseHandshakeTimeout": False,
    "wasMaxFramePayloadSizeExceeded": False,
    "wasMaxMessagePayloadSizeExceeded": False,
    "wasNotCleanReason": None,
    "wasOpenHandshakeTimeout": False,
    "wasServerConnectionDropTimeout": False,
    "wasServingFlashSocketPolicyFile": False,
    "websocket_protocol_in_use": None,
    "websocket_version": 13,  # RFC 6455's; any other version stays on the connection
}

# What only the opening handshake reads (autobahn's server side and Daphne's `onConnect`):
# once open, the connection forgets it and reads these empty values from the class.
_HANDSHAKE_ONLY: dict[str, Any] = {
    "_wskey": None,
    "application_deferred": None,  # Daphne's, fired once the application exists
    "clean_headers": (),  # the scope has the headers (mychannels/runtime/server.py)
    "http_headers": MappingProxyType({}),
    "http_request_data": b"",
    "http_request_host": None,
    "http_request_params": MappingProxyType({}),
    "http_request_path": None,
    "http_request_uri": None,
    "http_response_data": "",
    "http_status_line": b"",
    "websocket_extensions": (),
    "websocket_extensions_in_use": (),
    "websocket_origin": None,
    "websocket_protocols": (),
}

_SCALARS = (type(None), bool, int, float, str, bytes)

# Per-frame state autobahn leaves behind once a frame is done (it makes a new one for each
# frame's header): dropped with the rest whenever no frame is in progress.
_BETWEEN_FRAMES = ("current_frame_masker",)


class ChatWebSocketProtocol(WebSocketProtocol):
    @property
    def send_queue(self) -> _SendQueue:
        return self._send_queue

    @send_queue.setter
    def send_queue(self, queue: deque) -> None:  # autobahn sets an empty deque on connect
        self._send_queue = _SendQueue()
        for item in queue:
            self._send_queue.append(item)

    def onOpen(self) -> None:
        super().onOpen()
        self._forget_handshake()

    def serverAccept(self, subprotocol: str | None = None) -> None:
        """Daphne's, which completes the handshake (onOpen runs inside it) and then deletes
        its handshake deferred: the attribute dict is rebuilt after that, or it would keep
        the larger table that one more key made it grow to."""
        super().serverAccept(subprotocol)
        if self.state == self.STATE_OPEN:
            self._shed_defaults()

    # Set by a pong: the ping's attributes are back at their defaults once it is handled.
    _shed_after_data = False

    def _onPong(self, payload: bytes) -> None:
        super()._onPong(payload)
        self._shed_after_data = True

    # Set per class (__init_subclass__, and below for this one).
    _stock_receive_path = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._stock_receive_path = has_stock_receive_path(cls)

    def dataReceived(self, data: bytes) -> None:
        """autobahn's, unless the read is one whole client text frame that the fast path
        takes (_receive_text_fast); after a pong, the attributes Daphne's ping (every 20 s)
        and its pong put back are dropped again, once the whole read is handled (autobahn
        resets the frame's state after its handler returns)."""
        if not self._receive_text_fast(data):
            super().dataReceived(data)
        if self._shed_after_data and self.state == self.STATE_OPEN:
            self._shed_after_data = False  # back at its default: shed with the rest
            self._shed_defaults()

    def _receive_text_fast(self, data: bytes) -> bool:
        """Take `data` as autobahn and Daphne would when it is exactly one whole client text
        frame and autobahn is between messages; False, with nothing done, otherwise."""
        if not self._between_messages():
            return False
        limit = framefast.payload_limit(self.maxFramePayloadSize, self.maxMessagePayloadSize)
        payload = framefast.masked_text_payload(data, limit)
        if payload is None:
            return False
        try:
            text = payload.decode("utf-8")  # strict, like autobahn's validator
        except UnicodeDecodeError:
            return False  # autobahn's path closes it 1007
        self._count_text_message(len(data), len(payload))
        if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
            self._cancelAutoPingTimeoutCall()  # as autobahn's onFrameEnd, on any data frame
        self._on_text_message(text)
        return True

    def _between_messages(self) -> bool:
        """The socket is open (so no close started, nothing failed) and autobahn holds
        nothing of it: no buffered bytes, no frame or fragmented message in progress, no
        compression. And nothing autobahn would do for a message beyond what the fast path
        does: no logging of octets or frames, no timings, no listeners of its "message"
        event, its UTF-8 check and unmasking on, Daphne's and autobahn's methods unchanged
        (the class's and an `onMessage` set on the socket)."""
        return (
            self.state == self.STATE_OPEN
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self._perMessageCompress is None
            and self._stock_receive_path
            and self.utf8validateIncoming
            and self.applyMask
            and not self.logOctets
            and not self.logFrames
            and not self.trackedTimings
            and self._listeners is None
            and "onMessage" not in self.__dict__
        )

    def _count_text_message(self, wire_octets: int, payload_octets: int) -> None:
        """autobahn's traffic counters for one uncompressed single-frame message, as its
        _dataReceived, onFrameData, onFrameEnd count them on an open socket."""
        stats = self.trafficStats
        stats.incomingOctetsWireLevel += wire_octets
        stats.incomingOctetsWebSocketLevel += payload_octets
        stats.incomingOctetsAppLevel += payload_octets
        stats.incomingWebSocketFrames += 1
        stats.incomingWebSocketMessages += 1

    def _on_text_message(self, text: str) -> None:
        """Daphne's `onMessage` for a text message, with the text it would decode itself."""
        if self.muted:
            _daphne_log.debug("Muting incoming frame on %s", self.client_addr)
            return
        _daphne_log.debug("WebSocket incoming frame on %s", self.client_addr)
        self.last_ping = time.time()
        self.application_queue.put_nowait({"type": "websocket.receive", "text": text})

    def _shed_defaults(self) -> None:
        """Drop every attribute that holds its class's value (_OPEN_DEFAULTS, or the very
        object the class has) and rebuild the attribute dict: a dict never shrinks when keys
        are deleted from it."""
        cls = type(self)
        missing = object()
        between_frames = self.current_frame is None
        kept = {}
        for name, value in vars(self).items():
            default = getattr(cls, name, missing)
            if value is default or (
                type(value) in _SCALARS and type(default) is type(value) and default == value
            ):
                continue
            if between_frames and name in _BETWEEN_FRAMES:
                continue
            kept[name] = value
        self.__dict__ = kept

    def _forget_handshake(self) -> None:
        """Drop what the handshake left behind, which an open socket would otherwise hold for
        its whole life (docs/performance.md, idle memory): autobahn's parsed request and its
        header dict, Daphne's request object, and Twisted's HTTP channel with the upgraded
        request and its headers, kept only as the transport's registered producer. That
        producer does nothing once the request became a WebSocket (it pauses the network
        only between requests), so unregistering it changes no flow control. What else only
        the handshake reads (_HANDSHAKE_ONLY) goes too; the scope's headers stay: the
        application has them."""
        self.request = _RequestPath(self.request.path)
        for name in _HANDSHAKE_ONLY:
            self.__dict__.pop(name, None)
        transport = self.transport
        if isinstance(getattr(transport, "producer", None), HTTPChannel):
            transport.unregisterProducer()

    def handle_reply(self, message: dict) -> None:
        if (
            message.get("type") == "websocket.send"
            and not message.get("bytes")
            and self._send_text_fast(message.get("text"))
        ):
            return
        super().handle_reply(message)

    def send_text(self, text: str) -> None:
        """`handle_reply` of a `websocket.send` with this text, for a caller that holds no
        message dict (mychannels/runtime/fanout.py): once per member of every broadcast, so
        the fast path is written out here rather than called."""
        if (
            type(text) is str
            and text
            and self.state == self.STATE_OPEN
            and self._perMessageCompress is None  # as _plain_frames, without its call
            and not self.autoFragmentSize
            and not self.trackedTimings
        ):
            transport = self.transport
            write_now(transport, _frames.frame(text))
            if getattr(transport, "_tempDataLen", 1):  # see _send_text_fast
                sendbuffer.check(self)
            return
        super().handle_reply({"type": "websocket.send", "text": text})

    def _plain_frames(self) -> bool:
        """Whether a text goes out as one unmasked, uncompressed frame that autobahn would
        make just so (no compression, no fragmenting, no timing records)."""
        return (
            self._perMessageCompress is None
            and not self.autoFragmentSize
            and not self.trackedTimings
        )

    def _send_text_fast(self, text: Any) -> bool:
        if (
            type(text) is not str
            or not text
            or self.state != self.STATE_OPEN
            or not self._plain_frames()
        ):
            return False
        # No size check: autobahn applies the limit on what clients send (64 KiB) to what the
        # server sends too, which closed every new socket of a room whose opening history
        # page had grown past it. What the server sends is bounded by its own page sizes.
        write_now(self.transport, _frames.frame(text))
        # The slow path's check is in Daphne's handle_reply. Called only when something
        # waits (a reading client leaves Twisted's list buffer empty): the call costs
        # 0.25-0.67 us, 1-2% of a delivery; the test alone about 0.05 us
        # (docs/performance.md).
        if getattr(self.transport, "_tempDataLen", 1):
            sendbuffer.check(self)
        return True


for _name, _value in {
    **_OPEN_DEFAULTS,
    **_HANDSHAKE_ONLY,
    **dict.fromkeys(_BETWEEN_FRAMES),
}.items():
    setattr(ChatWebSocketProtocol, _name, _value)
ChatWebSocketProtocol._stock_receive_path = has_stock_receive_path(ChatWebSocketProtocol)


def protocol_with_options(factory: Any) -> type[ChatWebSocketProtocol]:
    """ChatWebSocketProtocol with the factory's options as class attributes. autobahn copies
    each of its 29 options from the factory onto every new connection, unless the protocol
    has it already: as class attributes they are shared instead, which keeps an open
    socket's attribute dict one size smaller (docs/performance.md, idle memory). They are
    the same objects the copies would be; Daphne never changes them after it starts. A
    function (the compression offer's accept callback) stays a plain function, not a method."""
    options = {}
    for name in ChatWebSocketProtocol.CONFIG_ATTRS:
        value = getattr(factory, name)
        options[name] = staticmethod(value) if inspect.isfunction(value) else value
    # Every connection sets it so in Daphne's onConnect (mychannels/runtime/closecodes.py), before
    # the option is first read: as the class's value, an open socket need not keep a copy.
    options["failByDrop"] = False
    # Every connection of the factory has the same factory and Daphne server: an open socket
    # reads them from the class (the same objects).
    options["factory"] = factory
    if hasattr(factory, "server_class"):  # Daphne's factory: its server, as onConnect sets it
        options["server"] = factory.server_class
    return type("ChatWebSocketProtocol", (ChatWebSocketProtocol,), options)
