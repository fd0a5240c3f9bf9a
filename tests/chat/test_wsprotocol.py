"""Daphne's WebSocket protocol with the broadcast fast path (mychannels/runtime/wsprotocol.py): text
frames are exactly what RFC 6455 (5.2) and autobahn make, a text object is framed once, and
`write_now` sends straight away only when nothing is queued, so bytes never overtake each
other. Unit tests: no server, no reactor."""

import contextlib
import json
import pprint
import random
import select
import socket
import struct
import sys

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.websocket.compress import PerMessageDeflate
from autobahn.websocket.protocol import PayloadExceededError
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import defer, main, tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.web.http import HTTPChannel
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from mychannels.runtime.wsprotocol import (
    ChatWebSocketProtocol,
    FrameCache,
    protocol_with_options,
    text_frame,
    write_now,
)
from tests.chat.test_framefast import FALLBACKS, INVALID_UTF8, random_text
from tests.wsframes import client_frame


def parse_frame(data: bytes) -> dict:
    """RFC 6455 section 5.2, written out independently of the code under test."""
    first, second = data[0], data[1]
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,) = struct.unpack("!H", data[2:4])
        offset = 4
    elif length == 127:
        (length,) = struct.unpack("!Q", data[2:10])
        offset = 10
    assert not second & 0x80, "a server frame must not be masked"
    return {
        "fin": bool(first & 0x80),
        "rsv": first & 0x70,
        "opcode": first & 0x0F,
        "length_code": second & 0x7F,
        "header_length": offset,
        "length": length,
        "payload": data[offset:],
    }


def parsed_by_websockets(data: bytes) -> Frame:
    """A second opinion: the websockets client's own frame parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    assert reader.at_eof(), "bytes left over after the frame"
    return done.value.value


# payload bytes -> the length form RFC 6455 requires (the shortest one)
SIZES = [
    (0, 0, 2),
    (1, 1, 2),
    (125, 125, 2),
    (126, 126, 4),
    (127, 126, 4),
    (65535, 126, 4),
    (65536, 127, 10),
    (70000, 127, 10),
]


@pytest.mark.parametrize(("size", "length_code", "header_length"), SIZES)
def test_text_frame_header_uses_the_shortest_length_form(size, length_code, header_length):
    text = "x" * size
    frame = text_frame(text)
    parsed = parse_frame(frame)
    assert frame[0] == 0x81  # FIN, no RSV bits, opcode 1 (text)
    assert parsed["length_code"] == length_code
    assert parsed["header_length"] == header_length
    assert parsed["length"] == size == len(parsed["payload"])
    assert len(frame) == header_length + size
    assert parsed["payload"].decode() == text
    other = parsed_by_websockets(frame)
    assert (other.fin, other.opcode, bytes(other.data)) == (True, Opcode.TEXT, text.encode())


@pytest.mark.parametrize(
    ("text", "length_code"),
    [
        ("é" * 62, 124),  # 62 characters, 124 bytes: still the 7-bit form
        ("é" * 63, 126),  # 63 characters, 126 bytes: the 16-bit form
        ("€" * 42, 126),  # 3 bytes each
        ("😀" * 16383 + "abc", 126),  # 65,535 bytes
        ("😀" * 16384, 127),  # 16,384 characters, 65,536 bytes: the 64-bit form
        ("mixed é € 😀 ascii " * 500, 126),
    ],
)
def test_non_ascii_length_is_counted_in_utf8_bytes(text, length_code):
    frame = text_frame(text)
    parsed = parse_frame(frame)
    payload = text.encode("utf-8")
    assert parsed["length_code"] == length_code
    assert parsed["length"] == len(payload)
    assert parsed["payload"] == payload
    assert bytes(parsed_by_websockets(frame).data).decode() == text


def distinct_copy(text: str) -> str:
    """An equal string that is another object."""
    copy = "".join([text[:1], text[1:]])
    assert copy == text and copy is not text
    return copy


def test_frame_cache_returns_the_same_bytes_for_the_same_string_object():
    cache = FrameCache()
    text = distinct_copy('{"type":"message","body":"héllo"}' * 10)
    frame = cache.frame(text)
    assert cache.frame(text) is frame
    assert frame == text_frame(text)


def test_frame_cache_builds_a_fresh_correct_frame_for_an_equal_but_different_string():
    cache = FrameCache()
    first = "é" * 100
    second = distinct_copy(first)
    first_frame = cache.frame(first)
    second_frame = cache.frame(second)
    assert second_frame is not first_frame  # found by identity, not by equality
    assert second_frame == first_frame == text_frame(second)
    assert parse_frame(second_frame)["length"] == 200
    assert cache.frame(first) is first_frame  # the first entry is still there


@pytest.mark.parametrize("size", [1, 125, 126, 65535, 65536])
def test_frame_cache_frames_every_length_form_correctly(size):
    frame = FrameCache().frame("y" * size)
    assert frame == text_frame("y" * size)
    assert parse_frame(frame)["length"] == size


def test_frame_cache_stays_bounded_and_correct():
    cache = FrameCache(size=4)
    texts = [distinct_copy(f"text {i} " * (i + 1)) for i in range(20)]
    for text in texts:
        assert cache.frame(text) == text_frame(text)
        assert len(cache) <= 4  # the bound
    # Texts cleared out of the cache come back framed correctly.
    for text in texts:
        assert cache.frame(text) == text_frame(text)


def test_frame_cache_is_never_fooled_by_a_reused_id():
    """Short-lived strings: CPython reuses a freed object's id at once. Every frame must
    still match its own text."""
    cache = FrameCache(size=8)
    for i in range(2000):
        text = distinct_copy(f"message number {i} " + "é" * (i % 50))
        assert cache.frame(text) == text_frame(text), i
        del text


# write_now with a stand-in for Twisted's tcp.Connection ----------------------------------


class FakeTransport:
    """The attributes write_now reads on Twisted's tcp.Connection, with a recording of the
    calls. `accept` decides what its socket's send takes of the data it is given: a count,
    0 for a full buffer (the socket raises BlockingIOError) or CONNECTION_LOST (it raises
    ConnectionResetError)."""

    def __init__(self, accept=len, data_buffer=b"", temp_buffer=(), tls=False):
        if tls is not None:  # None: no TLS attribute at all
            self.TLS = tls
        self.connected = True
        self.disconnecting = False
        self.dataBuffer = data_buffer
        self._tempDataBuffer = list(temp_buffer)
        self.accept = accept
        self.calls = []
        self.socket = self

    def send(self, data):
        result = self.accept(data)
        self.calls.append(("send", bytes(data), result))
        if result is main.CONNECTION_LOST:
            raise ConnectionResetError(104, "Connection reset by peer")
        if result == 0:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return result

    def write(self, data):
        self.calls.append(("write", bytes(data)))
        self._tempDataBuffer.append(bytes(data))

    def sent(self) -> bytes:
        """What went out, in order: what the socket took, then what was buffered."""
        sent = [call for call in self.calls if call[0] == "send" and isinstance(call[2], int)]
        taken = b"".join(data[:result] for _, data, result in sent)
        return taken + b"".join(self._tempDataBuffer)


FRAME = text_frame("é" * 3000)


def test_write_now_sends_at_once_when_nothing_is_buffered():
    transport = FakeTransport()
    write_now(transport, FRAME)
    assert transport.calls == [("send", FRAME, len(FRAME))]


@pytest.mark.parametrize("taken", [0, 1, 2, 1000, len(FRAME) - 1])
def test_write_now_buffers_the_remainder_of_a_partial_send(taken):
    transport = FakeTransport(accept=lambda data: taken)
    write_now(transport, FRAME)
    assert transport.calls == [("send", FRAME, taken), ("write", FRAME[taken:])]
    assert transport.sent() == FRAME


def test_write_now_buffers_everything_when_the_connection_is_lost():
    transport = FakeTransport(accept=lambda data: main.CONNECTION_LOST)
    write_now(transport, FRAME)
    assert transport.calls == [
        ("send", FRAME, main.CONNECTION_LOST),
        ("write", FRAME),  # Twisted meets the same error on its next write and closes
    ]


@pytest.mark.parametrize(
    ("data_buffer", "temp_buffer"),
    [(b"queued", ()), (b"", [b"queued"]), (b"queued", [b"more"])],
)
def test_write_now_never_overtakes_buffered_bytes(data_buffer, temp_buffer):
    transport = FakeTransport(data_buffer=data_buffer, temp_buffer=temp_buffer)
    write_now(transport, FRAME)
    write_now(transport, b"second")
    assert [call[0] for call in transport.calls] == ["write", "write"]
    assert transport._tempDataBuffer == [*temp_buffer, FRAME, b"second"]


def test_write_now_after_a_partial_send_keeps_later_frames_behind_the_remainder():
    transport = FakeTransport(accept=lambda data: 10)
    write_now(transport, FRAME)
    write_now(transport, b"next frame")  # the remainder is buffered now
    assert [call[0] for call in transport.calls] == ["send", "write", "write"]
    assert transport.sent() == FRAME + b"next frame"


@pytest.mark.parametrize("tls", [True, None])  # None: e.g. TLSMemoryBIOProtocol
def test_write_now_takes_the_plain_write_on_tls(tls):
    transport = FakeTransport(tls=tls)
    write_now(transport, FRAME)
    assert transport.calls == [("write", FRAME)]


@pytest.mark.parametrize("state", ["not connected", "disconnecting"])
def test_write_now_takes_the_plain_write_on_a_closing_connection(state):
    transport = FakeTransport()
    if state == "not connected":
        transport.connected = False
    else:
        transport.disconnecting = True
    write_now(transport, FRAME)
    assert transport.calls == [("write", FRAME)]


# write_now on Twisted's real tcp.Connection over a loopback TCP socket -------------------


class NoReactor:
    """Just enough reactor for a Connection that is driven by hand."""

    def __init__(self):
        self.writers = set()

    def addWriter(self, writer):
        self.writers.add(writer)

    def removeWriter(self, writer):
        self.writers.discard(writer)

    def addReader(self, reader):
        pass

    def removeReader(self, reader):
        pass


@pytest.fixture
def tcp_pair():
    """(Twisted connection, its reactor, the peer socket): a real TCP connection on
    loopback with small kernel buffers, so that sends are partial."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        peer = socket.socket()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peer.connect(listener.getsockname())
        ours, _ = listener.accept()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setblocking(False)
    reactor = NoReactor()
    connection = tcp.Connection(ours, Protocol(), reactor)
    connection.connected = True
    yield connection, reactor, peer
    peer.close()
    ours.close()


def drain(connection, reactor, peer, expected_length: int) -> bytes:
    """Read the peer while Twisted writes what it buffered, as the reactor would."""
    received = bytearray()
    for _ in range(1_000_000):
        if len(received) >= expected_length:
            return bytes(received)
        with contextlib.suppress(BlockingIOError):
            received += peer.recv(1 << 16)
        if connection in reactor.writers:
            connection.doWrite()
    raise AssertionError(f"received {len(received)} of {expected_length} bytes")


class RecordingSocket:
    """The connection's real socket, with what write_now sends on it directly recorded."""

    def __init__(self, connection):
        self.connection, self.real, self.direct = connection, connection.socket, []

    def send(self, data):
        assert not self.connection.dataBuffer and not self.connection._tempDataBuffer
        self.direct.append(bytes(data))
        return self.real.send(data)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_write_now_on_a_real_tcp_connection_keeps_order_under_back_pressure(tcp_pair):
    connection, reactor, peer = tcp_pair
    assert connection.TLS is False  # the attribute write_now relies on
    real_socket = connection.socket
    recording = connection.socket = RecordingSocket(connection)
    direct = recording.direct
    frames = [text_frame(f"{i:04d} " + "é€😀" * (i * 400 + 1)) for i in range(40)]
    frames.append(text_frame("z" * 200_000))  # more than Twisted's SEND_LIMIT in one go
    for frame in frames:
        write_now(connection, frame)
    # Frames went out directly until the kernel took only part of one; every later frame
    # queued behind that remainder in Twisted's buffer instead of being sent past it.
    assert 0 < len(direct) < len(frames), len(direct)
    assert direct == frames[: len(direct)]
    assert connection in reactor.writers
    connection.socket = real_socket  # Twisted's own writes of its buffer are not recorded
    stream = drain(connection, reactor, peer, sum(map(len, frames)))
    assert stream == b"".join(frames)
    # Once the buffer is empty, the next frame goes straight out again.
    assert connection not in reactor.writers
    connection.socket = recording
    write_now(connection, text_frame("after"))
    assert direct[-1] == text_frame("after")
    connection.socket = real_socket
    assert drain(connection, reactor, peer, len(text_frame("after"))) == text_frame("after")


def test_write_now_on_a_real_tcp_connection_whose_peer_is_gone(tcp_pair):
    connection, _, peer = tcp_pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # a reset
    readable, _, _ = select.select([connection.socket], [], [], 5)
    assert readable, "the reset never arrived"
    with pytest.raises(ConnectionResetError):
        connection.socket.recv(1)
    frames = [text_frame("first"), FRAME, text_frame("third")]
    for frame in frames:
        write_now(connection, frame)
    # Nothing could be sent: all of it waits in Twisted's buffer, in order, for Twisted's own
    # write path to meet the error and close the connection.
    assert connection._tempDataBuffer == frames


# ChatWebSocketProtocol.handle_reply against Daphne's own protocol ------------------------


class TwistedLikeTransport(StringTransport):
    """A StringTransport that looks like a plain, idle tcp.Connection to write_now."""

    TLS = False
    dataBuffer = b""

    def __init__(self):
        super().__init__()
        self._tempDataBuffer = []
        self.direct_sends = []
        self.socket = self

    def send(self, data):
        self.direct_sends.append(data)
        self.io.write(data)
        return len(data)

    def unregisterProducer(self):
        """As a tcp.Connection's: no error when none is registered (autobahn's dropConnection
        unregisters either way)."""
        self.producer, self.streaming = None, None


def open_protocol(protocol_class, **options):
    factory = WebSocketServerFactory()
    factory.protocol = protocol_class
    factory.setProtocolOptions(**options)
    protocol = factory.buildProtocol(None)
    transport = TwistedLikeTransport()
    protocol.makeConnection(transport)
    protocol.state = protocol.STATE_OPEN  # as after the opening handshake...
    protocol.client_addr = None  # ...which Daphne's onConnect would have run
    return protocol, transport


def reply(protocol_class, message, state=None, setup=None, **options):
    """What the protocol writes for a reply, or the exception it raises."""
    protocol, transport = open_protocol(protocol_class, **options)
    if state is not None:
        protocol.state = state
    if setup is not None:
        setup(protocol)
    try:
        protocol.handle_reply(message)
    except Exception as error:
        return type(error), transport.value(), transport.direct_sends
    return None, transport.value(), transport.direct_sends


TEXTS = ["a", "x" * 125, "x" * 126, "é" * 63, "y" * 65535, "😀" * 16384, "{}" * 40000]


@pytest.mark.parametrize("text", TEXTS, ids=lambda text: f"{len(text.encode())}B")
def test_a_text_reply_is_byte_for_byte_what_daphne_sends_and_goes_out_directly(text):
    message = {"type": "websocket.send", "text": text}
    error, fast, direct = reply(ChatWebSocketProtocol, message)
    assert error is None
    assert (None, fast) == reply(WebSocketProtocol, message)[:2]
    assert direct == [fast]  # one direct send, nothing through Twisted's buffer
    assert parse_frame(fast)["payload"].decode() == text


def test_a_broadcast_text_is_framed_once_for_every_member():
    text = distinct_copy('{"type":"message","body":"to everyone"}')
    members = [open_protocol(ChatWebSocketProtocol) for _ in range(3)]
    for protocol, _ in members:
        protocol.handle_reply({"type": "websocket.send", "text": text})
    first = members[0][1].direct_sends[0]
    assert all(transport.direct_sends == [first] for _, transport in members)
    assert all(transport.direct_sends[0] is first for _, transport in members)


# The limit on what clients send (mychannels/serve.py gives it to Daphne, which makes it
# autobahn's maxMessagePayloadSize): 64 KiB.
INCOMING_LIMIT = settings.DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE


def history_text(messages: int) -> str:
    """A history frame as the server sends it: compact JSON, bodies of the widest kind."""
    page = [
        {
            "id": 1000 + number,
            "room_id": 1,
            "username": "carol",
            "body": "😀" * settings.CHAT_MESSAGE_MAX_LENGTH,
            "created": "2026-01-02T03:04:05.678901Z",
            "client_id": str(number),
        }
        for number in range(messages)
    ]
    frame = {"type": "history", "messages": page, "has_more": True}
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (1000, "é" * 501),  # 1,002 bytes: just over a small limit, the 16-bit form
        (INCOMING_LIMIT, "x" * (INCOMING_LIMIT + 1)),  # one byte over: the 64-bit form
        (INCOMING_LIMIT, history_text(settings.CHAT_HISTORY_LATEST)),  # a full opening page
    ],
    ids=["small limit", "one byte over 64 KiB", "opening history page"],
)
def test_a_text_reply_over_the_incoming_limit_is_sent_in_full_where_daphne_raises(limit, text):
    """The bug fixed: autobahn applies maxMessagePayloadSize, the limit on what clients send,
    to what the server sends too. Daphne's protocol raises PayloadExceededError for such a
    reply (and writes nothing); that closed every new socket of a room whose opening history
    page had grown past 64 KiB with 1011. The fast path sends it, whole, in one frame."""
    payload = text.encode()
    assert len(payload) > limit
    message = {"type": "websocket.send", "text": text}
    error, fast, direct = reply(ChatWebSocketProtocol, message, maxMessagePayloadSize=limit)
    assert error is None
    assert fast == text_frame(text)
    assert direct == [fast]  # one direct send, nothing through Twisted's buffer
    parsed = parse_frame(fast)
    assert (parsed["fin"], parsed["rsv"], parsed["opcode"]) == (True, 0, 1)
    assert parsed["length"] == len(payload) and parsed["payload"] == payload
    assert parsed["length_code"] == (127 if len(payload) > 0xFFFF else 126)
    assert bytes(parsed_by_websockets(fast).data) == payload
    # What Daphne's own protocol does with the same reply under the same limit.
    assert reply(WebSocketProtocol, message, maxMessagePayloadSize=limit) == (
        PayloadExceededError,
        b"",
        [],
    )


def compressing(protocol):
    protocol._perMessageCompress = PerMessageDeflate(
        is_server=True,
        server_no_context_takeover=False,
        client_no_context_takeover=False,
        server_max_window_bits=15,
        client_max_window_bits=15,
        mem_level=8,
    )


SAME_AS_DAPHNE = {
    "binary": ({"type": "websocket.send", "bytes": b"\x00\x01"}, {}),
    "text and bytes": ({"type": "websocket.send", "text": "t", "bytes": b"b"}, {}),
    "empty text": ({"type": "websocket.send", "text": ""}, {}),
    "no payload": ({"type": "websocket.send"}, {}),
    "auto fragments": (
        {"type": "websocket.send", "text": "f" * 300},
        {"options": {"autoFragmentSize": 100}},
    ),
    "compression": ({"type": "websocket.send", "text": "c" * 300}, {"setup": compressing}),
    "not accepted yet": (
        {"type": "websocket.send", "text": "early"},
        {"state": ChatWebSocketProtocol.STATE_CONNECTING},
    ),
    "closing": (
        {"type": "websocket.send", "text": "late"},
        {"state": ChatWebSocketProtocol.STATE_CLOSING},
    ),
    "close": ({"type": "websocket.close", "code": 4000}, {}),
}


@pytest.mark.parametrize("case", SAME_AS_DAPHNE)
def test_replies_off_the_fast_path_behave_exactly_as_daphne(case):
    message, how = SAME_AS_DAPHNE[case]
    kwargs = {"state": how.get("state"), "setup": how.get("setup"), **how.get("options", {})}
    ours = reply(ChatWebSocketProtocol, dict(message), **kwargs)
    daphne = reply(WebSocketProtocol, dict(message), **kwargs)
    assert ours[:2] == daphne[:2]
    if case != "close":
        assert ours[2] == [], "a frame autobahn must make went out on the fast path"


def test_a_connection_does_not_pretty_print_its_options(monkeypatch):
    """autobahn formats every connection's options for a debug line that is off: not with
    pprint (mychannels/runtime/wsprotocol.py)."""

    def refuse(*args, **kwargs):
        raise AssertionError("pretty-printed on connect")

    monkeypatch.setattr(pprint.PrettyPrinter, "pformat", refuse)
    protocol, _ = open_protocol(ChatWebSocketProtocol)
    assert protocol.autoFragmentSize == 0  # the options were still copied from the factory


# What an open socket keeps (idle memory) ---------------------------------------------------


def test_the_servers_protocol_class_holds_the_factorys_options_so_connections_do_not():
    factory = WebSocketServerFactory()
    factory.setProtocolOptions(autoPingTimeout=7, maxMessagePayloadSize=1234)
    factory.protocol = protocol_with_options(factory)
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(TwistedLikeTransport())
    copied = set(ChatWebSocketProtocol.CONFIG_ATTRS) & set(vars(protocol))
    assert copied == set(), f"copied onto the connection: {sorted(copied)}"
    assert (protocol.autoPingTimeout, protocol.maxMessagePayloadSize) == (7, 1234)
    for name in set(ChatWebSocketProtocol.CONFIG_ATTRS) - {"failByDrop"}:
        assert getattr(protocol, name) == getattr(factory, name), name
    # A refused frame gets a close frame, not a dropped connection (closecodes.py): every
    # connection of Daphne's sets this in onConnect; the server's class has it already.
    assert protocol.failByDrop is False
    # The compression offer's accept callback is still a plain function, not a method.
    accept = factory.perMessageCompressionAccept
    assert protocol.perMessageCompressionAccept is accept


def test_an_open_socket_forgets_its_handshake_and_the_http_channel_that_carried_it():
    protocol, transport = open_protocol(ChatWebSocketProtocol)
    channel = HTTPChannel()
    transport.registerProducer(channel, True)
    protocol.request = type("Request", (), {"path": "/ws/chat/room/1/", "headers": {"a": "b"}})
    protocol.http_headers = {"host": "example.org", "cookie": "sessionid=x"}
    protocol.http_request_data = b"GET /ws/chat/room/1/ HTTP/1.1\r\n..."
    protocol._forget_handshake()
    assert transport.producer is None
    assert protocol.request.path == "/ws/chat/room/1/"  # what Daphne logs later
    assert protocol.http_headers == {} and protocol.http_request_data == b""


def test_the_lazy_send_queue_keeps_autobahns_order_for_chopped_writes():
    protocol, transport = open_protocol(ChatWebSocketProtocol)
    assert len(protocol.send_queue) == 0 and protocol.send_queue._items is None
    protocol.sendData(b"abcdefgh", chopsize=3)  # queued in three pieces, sent one a turn
    while len(protocol.send_queue):
        protocol._send()
    assert transport.value().endswith(b"abcdefgh")
    assert protocol.send_queue._items is None  # dropped once empty


def handshaken_protocol(**options):
    """A connection of the server's class through autobahn's own opening handshake and
    Daphne's accept, with Daphne's onConnect stood in for (what it sets is set by hand)."""
    factory = WebSocketServerFactory()
    factory.setProtocolOptions(**options)
    factory.protocol = protocol_with_options(factory)
    protocol = factory.buildProtocol(None)
    transport = TwistedLikeTransport()
    protocol.makeConnection(transport)

    def on_connect(request):
        protocol.request = request
        protocol.client_addr = ["127.0.0.1", 1]
        protocol.server = type("Server", (), {"log_action": lambda *args: None})()
        protocol.failByDrop = False  # closecodes.py's onConnect
        protocol.root_path, protocol.protocol_to_accept = "", None
        protocol.clean_headers = [(b"host", b"example.org")]
        protocol.application_deferred = defer.succeed(None)
        protocol.handshake_deferred = defer.Deferred()
        return protocol.handshake_deferred

    protocol.onConnect = on_connect
    protocol.dataReceived(
        b"GET /ws/chat/room/1/ HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: http://example.org\r\n\r\n"
    )
    assert protocol.state == protocol.STATE_CONNECTING
    protocol.serverAccept()  # the application accepted
    assert protocol.state == protocol.STATE_OPEN
    return protocol, transport


def test_an_open_socket_keeps_no_handshake_state_nor_copies_of_its_class_defaults():
    """Once open, the connection keeps only what differs from its class (idle memory): no
    handshake-only value, no counter or flag still at its default, in a dict small enough
    for the next smaller size (21 keys: a dict's table shrinks only when rebuilt)."""
    protocol, transport = handshaken_protocol()
    assert b"101 Switching Protocols" in transport.value()
    kept = vars(protocol)
    for name in ("http_response_data", "_wskey", "websocket_extensions", "http_headers",
                 "websocket_origin", "clean_headers", "wasClean", "closedByMe", "data",
                 "websocket_version", "failByDrop", "application_deferred"):  # fmt: skip
        assert name not in kept, name
    assert len(kept) <= 21, sorted(kept)
    assert sys.getsizeof(kept) == sys.getsizeof({name: None for name in kept})  # rebuilt
    # Read from the class, the values are what autobahn had set.
    assert (protocol.websocket_version, protocol.data, protocol.wasClean) == (13, b"", False)
    assert protocol.http_headers == {} and protocol.http_response_data == ""


def test_an_open_socket_without_its_defaults_still_frames_closes_and_fails_as_before():
    protocol, transport = handshaken_protocol()
    received = []
    protocol.onMessage = lambda payload, binary: received.append(payload)
    masked = bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(
        b ^ m for b, m in zip(b"hello", b"\x01\x02\x03\x04\x01", strict=True)
    )
    protocol.dataReceived(masked)
    assert received == [b"hello"]
    protocol.sendMessage(b"hi")
    assert transport.value().endswith(b"\x81\x02hi")
    protocol.sendClose(4403)
    assert protocol.closedByMe and protocol.localCloseCode == 4403
    assert protocol.state == protocol.STATE_CLOSING


def test_a_protocol_error_on_an_open_socket_closes_it_with_a_frame_not_a_drop():
    """failByDrop comes from the class now: a bad frame still gets a close frame (1002)."""
    protocol, transport = handshaken_protocol()
    before = len(transport.value())
    protocol.dataReceived(bytes([0x81, 0x05]) + b"hello")  # unmasked: a protocol error
    assert protocol.failedByMe and not protocol.droppedByMe
    close = transport.value()[before:]
    assert close[:1] == b"\x88" and struct.unpack("!H", close[2:4]) == (1002,)


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 5.2: masked), payload up to 125 bytes."""
    mask = b"\x0a\x0b\x0c\x0d"
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def test_after_a_ping_and_its_pong_the_socket_sheds_what_they_put_back():
    """Daphne pings every open socket every 20 s: the ping's and the pong's attributes go
    back to their defaults once the pong is handled, and the dict is small again."""
    protocol, transport = handshaken_protocol(autoPingTimeout=30)  # as Daphne sets it
    size = sys.getsizeof(vars(protocol))
    for _ in range(3):
        protocol._sendAutoPing()  # what Daphne's check_timeouts calls
        assert protocol.autoPingPending and protocol.autoPingTimeoutCall is not None
        protocol.dataReceived(masked(10, protocol.autoPingPending))  # the client's pong
        assert protocol.autoPingPending is None and protocol.autoPingTimeoutCall is None
        assert sys.getsizeof(vars(protocol)) <= size, sorted(vars(protocol))
        assert "current_frame_masker" not in vars(protocol)
        assert "_shed_after_data" not in vars(protocol)  # not shedding on every later read
    assert protocol.autoPingPendingSeq == 3  # what differs from the default stays
    # And the socket still reads frames, pings included.
    received = []
    protocol.onMessage = lambda payload, binary: received.append(payload)
    protocol.dataReceived(masked(1, b"still here"))
    assert received == [b"still here"]
    protocol.dataReceived(masked(9, b"ping?"))
    assert transport.value().endswith(b"\x8a\x05ping?")  # answered with a pong


def test_the_servers_class_holds_the_factory_and_daphnes_server():
    factory = WebSocketServerFactory()
    factory.server_class = object()  # Daphne's factory carries its server
    factory.protocol = protocol_with_options(factory)
    assert factory.protocol.factory is factory
    assert factory.protocol.server is factory.server_class


# send_text, the fan-out's writer for our protocol (mychannels/runtime/fanout.py) ---------


@pytest.mark.parametrize("text", TEXTS[:4], ids=lambda text: f"{len(text.encode())}B")
def test_send_text_sends_what_a_text_reply_sends(text):
    protocol, transport = open_protocol(ChatWebSocketProtocol)
    protocol.send_text(text)
    assert transport.direct_sends == [transport.value()]
    assert (
        transport.value() == reply(WebSocketProtocol, {"type": "websocket.send", "text": text})[1]
    )


@pytest.mark.parametrize("state", ["CLOSING", "CLOSED"])
def test_send_text_on_a_socket_that_is_not_open_sends_nothing(state):
    protocol, transport = open_protocol(ChatWebSocketProtocol)
    protocol.state = getattr(protocol, f"STATE_{state}")
    protocol.send_text("after the close")
    assert transport.value() == b"" and transport.direct_sends == []


def test_send_text_with_compression_takes_autobahns_path():
    protocol, transport = open_protocol(ChatWebSocketProtocol)
    compressing(protocol)
    protocol.send_text("x" * 300)
    assert transport.direct_sends == []  # autobahn compressed and wrote it
    assert parse_frame(transport.value())["rsv"] == 0x40  # RSV1: a compressed message


# ChatWebSocketProtocol.dataReceived: one whole client text frame without autobahn --------

LIMITS = {"maxFramePayloadSize": 64 * 1024, "maxMessagePayloadSize": 64 * 1024}  # serve's


class ApplicationQueue(list):
    """What Daphne's onMessage puts for the application, in order."""

    put_nowait = list.append


def reading_protocol(**options):
    """An open connection of the server's class with Daphne's own onMessage, its queue, and a
    record of the reads that went to autobahn (its `_dataReceived`, on this socket only)."""
    protocol, transport = handshaken_protocol(**{**LIMITS, **options})
    protocol.application_queue = ApplicationQueue()
    protocol.last_ping = 0.0  # Daphne's onConnect sets the time; 0 shows whether it moved
    to_autobahn = []
    autobahns = protocol._dataReceived

    def _data_received(data):
        to_autobahn.append(data)
        autobahns(data)

    protocol._dataReceived = _data_received
    return protocol, transport, to_autobahn


OBSERVED = (
    "state", "failedByMe", "droppedByMe", "closedByMe", "localCloseCode", "localCloseReason",
    "remoteCloseCode", "wasMaxFramePayloadSizeExceeded", "wasMaxMessagePayloadSizeExceeded",
    "inside_message", "data", "autoPingPending",
)  # fmt: skip


def observed(protocol, transport) -> dict:
    """Everything of a connection that a read may change and anything reads later."""
    return {
        "written": transport.value(),
        "application": list(protocol.application_queue),
        "last_ping moved": protocol.last_ping > 0,
        "traffic": vars(protocol.trafficStats),
        "frame in progress": protocol.current_frame is not None,
        **{name: getattr(protocol, name) for name in OBSERVED},
    }


def both_paths(reads: list[bytes], setup=None, **options) -> tuple[dict, dict, list[bytes]]:
    """The reads on our protocol and, on an identical one, through Daphne's own
    dataReceived (autobahn's parser all the way); and which of our reads went to autobahn."""
    ours, ours_transport, to_autobahn = reading_protocol(**options)
    theirs, theirs_transport, _ = reading_protocol(**options)
    for protocol in (ours, theirs):
        if setup is not None:
            setup(protocol)
    for data in reads:
        ours.dataReceived(data)
        WebSocketProtocol.dataReceived(theirs, data)
    return observed(ours, ours_transport), observed(theirs, theirs_transport), to_autobahn


def text_read(text: str) -> bytes:
    return client_frame(text.encode(), mask=random.Random(text).randbytes(4))


FAST_TEXTS = ["", "a", "x" * 125, "x" * 126, "é" * 63, "€" * 42, "😀" * 31, "y" * 65535,
              '{"type":"message","body":"hello"}', "ж😀€é" * 2000]  # fmt: skip


@pytest.mark.parametrize("text", FAST_TEXTS, ids=lambda text: f"{len(text.encode())}B")
def test_one_whole_text_frame_skips_autobahn_and_ends_exactly_as_its_path_does(text):
    ours, theirs, to_autobahn = both_paths([text_read(text)])
    assert to_autobahn == []
    assert ours == theirs
    assert ours["application"] == [{"type": "websocket.receive", "text": text}]
    assert ours["last_ping moved"] and ours["traffic"]["incomingWebSocketMessages"] == 1


def test_random_multibyte_texts_reach_the_application_as_on_autobahns_path():
    rng = random.Random(1007)
    reads = []
    for _ in range(200):
        text = random_text(rng, rng.choice([0, 1, 2, 41, 42, 125, 126, 500, 16383]))
        if len(text.encode()) <= 0xFFFF:
            reads.append(client_frame(text.encode(), mask=rng.randbytes(4)))
    ours, theirs, to_autobahn = both_paths(reads)
    assert to_autobahn == []
    assert ours == theirs and len(ours["application"]) == len(reads)


UTF8_ERRORS = {name: client_frame(payload) for name, payload in INVALID_UTF8.items()}


@pytest.mark.parametrize("data", UTF8_ERRORS.values(), ids=UTF8_ERRORS.keys())
def test_invalid_utf8_goes_to_autobahn_untouched_and_is_closed_1007(data):
    ours, theirs, to_autobahn = both_paths([data])
    assert to_autobahn == [data]
    assert ours == theirs
    assert ours["application"] == [] and ours["failedByMe"]
    assert close_code(ours["written"]) == 1007


def close_code(written: bytes) -> int:
    """The code of the close frame the server wrote last (after the handshake's response)."""
    close = written[written.rindex(b"\x88") :]
    return struct.unpack("!H", close[2:4])[0]


@pytest.mark.parametrize("data", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_every_other_read_goes_to_autobahn_untouched_and_ends_as_its_path_does(data):
    ours, theirs, to_autobahn = both_paths([data])
    assert to_autobahn == [data]
    assert to_autobahn[0] is data  # the very bytes: nothing consumed or copied before
    assert ours == theirs


def test_an_unmasked_text_frame_still_fails_the_connection_1002():
    ours, theirs, _ = both_paths([client_frame(b"hello", mask=None)])
    assert ours == theirs and ours["failedByMe"] and close_code(ours["written"]) == 1002


@pytest.mark.parametrize(
    ("limits", "size"),
    [
        ({"maxFramePayloadSize": 1000, "maxMessagePayloadSize": 0}, 1001),
        ({"maxFramePayloadSize": 0, "maxMessagePayloadSize": 1000}, 1001),
        ({"maxFramePayloadSize": 5000, "maxMessagePayloadSize": 100}, 101),
        ({"maxFramePayloadSize": 100, "maxMessagePayloadSize": 5000}, 101),
        ({"maxFramePayloadSize": 200, "maxMessagePayloadSize": 5000}, 201),
        ({"maxFramePayloadSize": 126, "maxMessagePayloadSize": 126}, 127),
    ],
)
def test_a_frame_over_either_limit_goes_to_autobahn_and_is_closed_1009(limits, size):
    data = client_frame(b"o" * size)
    ours, theirs, to_autobahn = both_paths([data], **limits)
    assert to_autobahn == [data] and ours == theirs
    assert ours["wasMaxFramePayloadSizeExceeded"] or ours["wasMaxMessagePayloadSizeExceeded"]
    assert close_code(ours["written"]) == 1009
    # At the limit it is taken.
    at_limit = client_frame(b"o" * (size - 1))
    ours, theirs, to_autobahn = both_paths([at_limit], **limits)
    assert to_autobahn == [] and ours == theirs and len(ours["application"]) == 1


LONG = client_frame("ü".encode() * 200)
SHORT = client_frame(b'{"type":"typing"}')
SEQUENCES = {
    "split in the header": ([SHORT[:1], SHORT[1:]], 2),
    "split in the mask": ([SHORT[:4], SHORT[4:]], 2),
    "split in the payload": ([SHORT[:-1], SHORT[-1:]], 2),
    "split in a 16-bit length": ([LONG[:3], LONG[3:]], 2),
    "split inside a 2-byte character": ([LONG[:9], LONG[9:]], 2),
    "split, then a whole frame": ([LONG[:100], LONG[100:], SHORT], 2),
    # autobahn holds the first bytes of a frame: a read that alone is a whole frame is not.
    "a frame's first byte, then what looks like a whole frame": ([SHORT[:1], SHORT], 2),
    "a frame's first two bytes, then what looks like a whole frame": ([LONG[:2], SHORT], 2),
    "part of a ping, then what looks like a whole frame": (
        [client_frame(b"ping", first=0x89)[:7], SHORT],
        2,
    ),
    "a frame and the start of the next, then its rest": ([SHORT + LONG[:5], LONG[5:], SHORT], 2),
    "two frames in one read, then one": ([SHORT + LONG, SHORT], 1),
    "a fragmented message": (
        [client_frame(b"frag", first=0x01), client_frame(b"ment", first=0x80), SHORT],
        2,
    ),
    "a ping inside a fragmented message": (
        [
            client_frame(b"a", first=0x01),
            client_frame(b"?", first=0x89),
            client_frame(b"b", first=0x80),
        ],
        3,
    ),
    "a whole text frame inside a fragmented message (1002)": (
        [client_frame(b"frag", first=0x01), SHORT],
        2,
    ),
    "a text frame after the client's close": ([client_frame(b"\x03\xe8", first=0x88), SHORT], 2),
    "a text frame after invalid UTF-8": ([UTF8_ERRORS["overlong slash"], SHORT], 2),
    "a ping, then text": ([client_frame(b"ping", first=0x89), SHORT, SHORT], 1),
}


@pytest.mark.parametrize("case", SEQUENCES)
def test_reads_around_autobahns_state_end_as_its_path_does(case):
    """A read that looks like a whole frame but comes while autobahn holds part of a frame or
    message, or after a close, is autobahn's; once it holds nothing again, the next read may
    be taken."""
    reads, to_autobahn_expected = SEQUENCES[case]
    ours, theirs, to_autobahn = both_paths(reads)
    assert ours == theirs
    assert to_autobahn == reads[:to_autobahn_expected]


def test_a_muted_socket_counts_the_message_and_hands_nothing_on_like_daphne():
    def mute(protocol):
        protocol.muted = True

    ours, theirs, to_autobahn = both_paths([SHORT], setup=mute)
    assert to_autobahn == [] and ours == theirs
    assert ours["application"] == [] and not ours["last_ping moved"]
    assert ours["traffic"]["incomingWebSocketMessages"] == 1


def test_a_text_message_while_a_ping_waits_cancels_its_timeout_as_autobahn_does():
    def ping(protocol):
        protocol._sendAutoPing()  # what Daphne's check_timeouts calls
        assert protocol.autoPingTimeoutCall is not None

    ours, theirs, to_autobahn = both_paths([SHORT], setup=ping, autoPingTimeout=30)
    # The pings carry the time they were sent: the same length, not the same bytes.
    assert len(ours.pop("written")) == len(theirs.pop("written"))
    assert to_autobahn == [] and ours == theirs and ours["autoPingPending"] is None


def with_octets_logged(protocol):
    protocol.logOctets = True


def with_frames_logged(protocol):
    protocol.logFrames = True


def with_tracked_timings(protocol):
    protocol.setTrackTimings(True)


def with_a_message_listener(protocol):
    protocol.on("message", lambda *args, **kwargs: None)


OFF_THE_FAST_PATH = {
    "compression in use": ({"setup": compressing}),
    "octets logged": ({"setup": with_octets_logged}),
    "frames logged": ({"setup": with_frames_logged}),
    "timings tracked": ({"setup": with_tracked_timings}),
    "a listener of the message event": ({"setup": with_a_message_listener}),
    "no UTF-8 validation": ({"utf8validateIncoming": False}),
    "no unmasking": ({"applyMask": False}),
}


@pytest.mark.parametrize("case", OFF_THE_FAST_PATH)
def test_a_socket_set_up_for_more_than_the_fast_path_does_keeps_autobahns_path(case):
    how = dict(OFF_THE_FAST_PATH[case])
    ours, theirs, to_autobahn = both_paths([SHORT], **how)
    assert to_autobahn == [SHORT] and ours == theirs


def test_an_onmessage_of_the_sockets_own_or_a_subclasss_keeps_autobahns_path():
    protocol, _, to_autobahn = reading_protocol()
    received = []
    protocol.onMessage = lambda payload, binary: received.append(payload)
    protocol.dataReceived(SHORT)
    assert to_autobahn == [SHORT] and received == [b'{"type":"typing"}']

    assert ChatWebSocketProtocol._stock_receive_path
    assert protocol_with_options(WebSocketServerFactory())._stock_receive_path
    protocol, _, to_autobahn = reading_protocol()
    frames = []

    def onMessageFrame(self, payload):
        frames.append(payload)
        super(overriding, self).onMessageFrame(payload)

    overriding = type("Overriding", (type(protocol),), {"onMessageFrame": onMessageFrame})
    assert not overriding._stock_receive_path
    protocol.__class__ = overriding
    protocol.dataReceived(SHORT)
    assert to_autobahn == [SHORT] and frames == [[b'{"type":"typing"}']]
    assert protocol.application_queue == [
        {"type": "websocket.receive", "text": '{"type":"typing"}'}
    ]


def test_a_message_on_the_fast_path_leaves_no_per_message_state_on_the_socket():
    """autobahn's path leaves a message's bookkeeping on the connection (its attribute dict
    grows past the idle size); the fast path adds nothing."""
    protocol, _, to_autobahn = reading_protocol()
    before = dict(vars(protocol))
    for text in ("one", "two", "ж" * 300):
        protocol.dataReceived(text_read(text))
    assert to_autobahn == []
    assert vars(protocol).keys() == before.keys()
    assert len(protocol.application_queue) == 3
