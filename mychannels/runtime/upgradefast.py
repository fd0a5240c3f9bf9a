"""A plain WebSocket upgrade handed to autobahn as it arrives, without Twisted's HTTP parser.

Daphne reads every request with Twisted's HTTP/1.1 channel: line by line into a `Request` and
its header objects; for an upgrade, `WebRequest.process` then checks the headers, builds the
WebSocket protocol, writes the request back out as bytes and hands them to autobahn, which
parses them again. In a connect storm that was about a tenth of the server's CPU
(docs/performance.md). Here a first read that is exactly one whole, plain upgrade request goes
to autobahn at once, as `WebRequest.process` would hand it over; any other read (a page, a
request split over reads, anything unusual in it) takes Twisted's path unchanged, so what is
refused there is refused still.

Plain means: `GET <origin-form URI> HTTP/1.1`, CRLF line ends, no body, each header name once,
names and values within Daphne's checks (`HEADER_NAME_RE`, `INVALID_HEADER_VALUE_BYTES`) and
no control bytes, an `Upgrade: websocket` header, no Content-Length or Transfer-Encoding, a
head no longer than Twisted's longest line. Used by the project's entry
(mychannels/runtime/server.py).
"""

import re
from typing import Any

from daphne.utils import HEADER_NAME_RE, INVALID_HEADER_VALUE_BYTES
from twisted.protocols.policies import ProtocolWrapper
from twisted.web.http import HTTPChannel, _GenericHTTPChannelProtocol

MAX_HEAD_BYTES = 16384  # Twisted's longest header line: a longer head takes its path
_REQUEST_LINE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")  # printable ASCII, as Daphne asks
# Daphne's refused bytes, and control bytes but tab: Twisted's path decides on those.
_REFUSED_BYTES = INVALID_HEADER_VALUE_BYTES | (frozenset(range(0x20)) - {0x09}) | {0x7F}
_NOT_HERE = frozenset({b"content-length", b"transfer-encoding"})


def plain_upgrade_query(data: bytes) -> bytes | None:
    """The query string of `data` (b"" for none) when it is exactly one whole plain upgrade
    request, else None."""
    if len(data) > MAX_HEAD_BYTES or not data.startswith(b"GET ") or not data.endswith(b"\r\n\r\n"):
        return None
    request_line, *header_lines = data[:-4].split(b"\r\n")
    found = _REQUEST_LINE.fullmatch(request_line)
    if found is None or not _plain_headers_upgrade(header_lines):
        return None
    return found.group(1).partition(b"?")[2]


def _plain_headers_upgrade(lines: list[bytes]) -> bool:
    seen: set[bytes] = set()
    upgrade = None
    for line in lines:
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        if not colon or not HEADER_NAME_RE.fullmatch(name) or _REFUSED_BYTES.intersection(value):
            return False
        name = name.lower()
        if name in seen or name in _NOT_HERE:
            return False
        seen.add(name)
        if name == b"upgrade":
            upgrade = value
    return upgrade is not None and upgrade.lower() == b"websocket"


class UpgradeFastHTTPProtocol(_GenericHTTPChannelProtocol):
    """Twisted's HTTP/1.1 protocol (the one Daphne's factory builds), its first read taken
    as a WebSocket upgrade when it is a plain one (plain_upgrade_query)."""

    _first_read = True

    def dataReceived(self, data: bytes) -> None:
        if self._first_read:
            self._first_read = False
            query = plain_upgrade_query(data) if self._plain_http() else None
            if query is not None and self._hand_over(data, query):
                return
        super().dataReceived(data)

    def _plain_http(self) -> bool:
        """HTTP/1.1, not HTTP/2 negotiated over TLS (Twisted's own check, which then runs)."""
        negotiated = getattr(self._channel.transport, "negotiatedProtocol", None)
        return negotiated in (None, b"http/1.1")

    def _hand_over(self, data: bytes, query: bytes) -> bool:
        """What WebRequest.process does for an upgrade, with the request as it came."""
        channel = self._channel
        protocol = self._factory.server.ws_factory.buildProtocol(channel.transport.getPeer())
        if not protocol:
            return False  # Twisted's path answers it (Daphne: 500)
        protocol._raw_query_string = query
        transport = channel.transport
        channel.setTimeout(None)  # as Twisted does once a whole request is in
        if isinstance(transport, ProtocolWrapper):  # TLS wraps the connection
            transport.wrappedProtocol = protocol
        else:
            transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(data)
        return True


def upgrade_fast_protocol() -> Any:
    """The protocol factory for Daphne's HTTP factory (`http_factory.protocol`)."""
    return UpgradeFastHTTPProtocol(HTTPChannel())
