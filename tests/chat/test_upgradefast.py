"""Which first reads the project's entry hands to autobahn directly (mychannels/runtime/
upgradefast.py): exactly one whole plain upgrade request; everything else goes to Twisted's
parser, whose answers tests/e2e/test_upgrade_handshakes.py compares with plain Daphne's."""

import pytest

from mychannels.runtime.upgradefast import MAX_HEAD_BYTES, plain_upgrade_query

PLAIN = (
    b"GET /ws/chat/room/5/?since=3 HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: http://127.0.0.1:8000\r\n"
    b"Cookie: sessionid=abc; csrftoken=def\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) \xc3\xa9\r\n"
    b"\r\n"
)


def test_a_plain_upgrade_is_taken_with_its_query_string():
    assert plain_upgrade_query(PLAIN) == b"since=3"
    assert plain_upgrade_query(PLAIN.replace(b"?since=3", b"")) == b""
    assert plain_upgrade_query(PLAIN.replace(b"websocket", b"WebSocket")) == b"since=3"
    assert plain_upgrade_query(PLAIN.replace(b"Upgrade: ", b"upgrade:\t")) == b"since=3"


@pytest.mark.parametrize(
    "read",
    [
        PLAIN[:-2],  # the head is not over
        PLAIN[:40],
        PLAIN + b"\x81\x80\x00\x00\x00\x00",  # bytes after it
        PLAIN.replace(b"\r\n", b"\n"),
        PLAIN.replace(b"\r\nCookie", b"\nCookie"),  # a bare line feed inside
        PLAIN.replace(b"GET ", b"POST ", 1),
        PLAIN.replace(b"GET ", b"get ", 1),
        PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        PLAIN.replace(b"GET /", b"GET http://127.0.0.1:8000/", 1),
        PLAIN.replace(b"/ws/chat/", "/ws/chät/".encode()),
        PLAIN.replace(b"room/5/", b"room/5/ x"),
        PLAIN.replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        PLAIN.replace(b"Upgrade: websocket\r\n", b""),
        PLAIN.replace(b"Connection: Upgrade", b"Cookie: sessionid=other"),  # a name twice
        PLAIN.replace(b"Connection: Upgrade", b"Content-Length: 0"),
        PLAIN.replace(b"Connection: Upgrade", b"Transfer-Encoding: chunked"),
        PLAIN.replace(b"Connection:", b"Conn ection:"),
        PLAIN.replace(b"Connection: Upgrade", b"Connection"),  # no colon
        PLAIN.replace(b"\r\nConnection", b"\r\n Connection"),  # a folded line
        PLAIN.replace(b"Upgrade\r\n", b"Up\x0bgrade\r\n"),  # Daphne refuses the byte
        PLAIN.replace(b"Upgrade\r\n", b"Up\x00grade\r\n"),
        PLAIN.replace(b"Upgrade\r\n", b"Up\x7fgrade\r\n"),
        PLAIN.replace(b"Upgrade\r\n", b"Up\xc2\x85grade\r\n"),
        PLAIN[:-2] + b"X-Long: " + b"x" * MAX_HEAD_BYTES + b"\r\n\r\n",
    ],
)
def test_anything_else_goes_to_twisteds_parser(read):
    assert plain_upgrade_query(read) is None
