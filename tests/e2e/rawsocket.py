"""A WebSocket client written out by hand, for end-to-end tests: it shows the server's frames
exactly as they come on the wire (headers included), can stop reading at the TCP level, and
sends whatever bytes a test makes (tests/wsframes.py), however split or joined."""

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
from typing import NamedTuple

from tests.liveserver import socket_headers
from tests.wsframes import client_frame

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE, PING, PONG, TEXT = 0x88, 0x89, 0x8A, 0x81  # first bytes of whole server frames


class WireFrame(NamedTuple):
    header: bytes  # the first two bytes and the extended length, if any
    payload: bytes
    data: dict  # the payload's JSON

    @property
    def length_form(self) -> int:
        """7, 16 or 64: the width of the frame's length field."""
        return {126: 16, 127: 64}.get(self.header[1] & 0x7F, 7)


class RawSocket:
    def __init__(self, sock, reader, writer):
        self.sock, self.reader, self.writer = sock, reader, writer

    @classmethod
    async def open(cls, server, client, room: int, slow: bool = False):
        sock = socket.socket()
        if slow:
            # A small window, and small segments: the server's kernel sizes its send buffer
            # by the segment size, so it cannot take in megabytes for a reader that is away.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        # Every write its own segment, at once: a test that splits or joins frames on
        # purpose must get exactly the reads it wrote, as far as TCP allows.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        # A small stream limit: asyncio stops reading the socket once 8 KiB wait unread.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = socket_headers(server, client)
        writer.write(
            (
                f"GET /ws/chat/room/{room}/ HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {headers['Origin']}\r\nCookie: {headers['Cookie']}\r\n\r\n"
            ).encode()
        )
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert response.startswith(b"HTTP/1.1 101"), response
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
        assert b"Sec-WebSocket-Accept: " + accept in response, response
        assert b"permessage-deflate" not in response.lower()
        return cls(sock, reader, writer)

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    async def _next_frame(self) -> tuple[bytes, bytes]:
        """The next frame's header (with its extended length) and payload, checked against
        RFC 6455 5.2; pings are answered and skipped."""
        while True:
            header = await self.reader.readexactly(2)
            assert header[1] & 0x80 == 0, "a server frame must not be masked"
            length = header[1] & 0x7F
            if length == 126:
                extended = await self.reader.readexactly(2)
                (length,) = struct.unpack("!H", extended)
                assert length >= 126, "the 16-bit form for a length that fits in 7 bits"
            elif length == 127:
                extended = await self.reader.readexactly(8)
                (length,) = struct.unpack("!Q", extended)
                assert length >= 65536, "the 64-bit form for a length that fits in 16"
            else:
                extended = b""
            payload = await self.reader.readexactly(length)
            if header[0] == PING:  # answer it (client frames are masked)
                self.send_control(PONG, payload)
                continue
            if header[0] == PONG:  # the answer to a ping of the test's
                continue
            return header + extended, payload

    async def frame(self, timeout: float = 10) -> WireFrame:
        """The next data frame (pings are answered)."""
        async with asyncio.timeout(timeout):
            header, payload = await self._next_frame()
        assert header[0] == TEXT, f"expected an unfragmented text frame: {header!r}"
        return WireFrame(header, payload, json.loads(payload.decode("utf-8")))

    async def frame_of(self, frame_type: str, timeout: float = 10) -> WireFrame:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frame(timeout)
                if frame.data["type"] == frame_type:
                    return frame

    async def close_frame(self, timeout: float = 10) -> tuple[int | None, str]:
        """The code and reason of the server's close frame, skipping the data frames before
        it (None for a close frame without a code). Answered with a close frame, as RFC 6455
        (5.5.1) asks; then the server ends the TCP connection. That may come as a reset: when
        autobahn fails a connection it may close the socket before the answer arrives, which
        the server's kernel then refuses."""
        async with asyncio.timeout(timeout):
            while True:
                header, payload = await self._next_frame()
                if header[0] == CLOSE:
                    break
            self.send_control(CLOSE, payload[:2])
            with contextlib.suppress(ConnectionResetError):
                assert await self.reader.read() == b"", "bytes after the close frame"
        code = struct.unpack("!H", payload[:2])[0] if payload else None
        return code, payload[2:].decode("utf-8")

    def send_control(self, opcode: int, payload: bytes) -> None:
        self.send_raw(client_frame(payload, first=opcode, mask=os.urandom(4)))

    def send_text(self, text: str) -> None:
        self.send_raw(client_frame(text.encode(), mask=os.urandom(4)))

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, in one write."""
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
