"""The broadcast fast path in a real Daphne (mychannels/serve.py, runtime/wsprotocol.py,
runtime/layers.py): the server runs Twisted on uvloop; long non-ASCII messages reach every
member intact, framed with the right length form as seen on the wire; history pages far over
the 64 KiB limit on what clients send are sent whole, by a server with its default limits;
and a member whose socket stops reading while the room is busy gets every message exactly
once, in id order, once it reads again. On PostgreSQL and the Redis pub/sub layer, as
deployed."""

import asyncio
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from django.conf import settings

from tests.e2e.livechat import next_of, open_room_socket
from tests.e2e.rawsocket import RawSocket
from tests.liveserver import (
    BASE_DIR,
    FAST_POSTING,
    ServerProcess,
    login,
    room_id,
    start_daphne,
)

pytestmark = pytest.mark.e2e

MAX_LENGTH = settings.CHAT_MESSAGE_MAX_LENGTH
# 2, 3, 4 and 2 bytes in UTF-8: the longest body allowed, far more bytes than characters.
LONG_BODY = ("é€😀ж" * MAX_LENGTH)[:MAX_LENGTH]
WIDEST_BODY = "😀" * MAX_LENGTH  # the most bytes one message can carry


@pytest.fixture
def fast_posting(scaled_config, tmp_path) -> Iterator[ServerProcess]:
    scaled_config.extra_env.update(FAST_POSTING)
    # The slow-reader test here holds about 2 MB in Daphne's buffer to prove the write path
    # keeps order under back-pressure; the 1 MiB bound that closes such a socket 1012 has its
    # own test (tests/e2e/test_slow_reader.py).
    scaled_config.extra_env["CHAT_SOCKET_SEND_BUFFER_BYTES"] = str(64 << 20)
    server = start_daphne(scaled_config, tmp_path)
    yield server
    server.stop()


def socket_queues(local_port: int, remote_port: int) -> tuple[int, int]:
    """(bytes queued to send, bytes received and unread) in the kernel for the TCP socket
    from local_port to remote_port on 127.0.0.1 (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == (
            remote_port
        ):
            tx_queue, rx_queue = queues.split(":")
            return int(tx_queue, 16), int(rx_queue, 16)
    raise AssertionError(f"no TCP socket {local_port} -> {remote_port}")


def test_mychannels_serve_runs_twisted_on_uvloop():
    """What `python -m mychannels.serve` (start_daphne) does before Daphne starts, in a fresh
    interpreter: the policy is uvloop's, and the loop daphne.server made for Twisted's
    reactor when it was imported is a uvloop Loop."""
    probe = """
import asyncio, sys
assert "daphne.server" not in sys.modules
import mychannels.serve
import daphne.server, uvloop
from twisted.internet import reactor
loop = daphne.server.twisted_loop
assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
assert isinstance(loop, uvloop.Loop), type(loop)
assert reactor._asyncioEventloop is loop
assert mychannels.serve.ChatCommandLine.server_class is mychannels.serve.ChatServer
print("ok", type(loop).__module__, type(reactor).__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mychannels.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "uvloop", "AsyncioSelectorReactor"], done.stdout


def test_mychannels_serve_runs_the_cycle_collector_less_often():
    """The server's collector threshold (mychannels/serve.py) from settings, the older
    generations' ratios kept; set before Daphne reads its options."""
    probe = """
import gc, sys
import mychannels.serve
before = gc.get_threshold()
mychannels.serve.collect_garbage_less_often()
print(before[0], *gc.get_threshold())
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mychannels.settings",
            "SERVER_GC_GEN0_THRESHOLD": "12345",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["700", "12345", "10", "10"], done.stdout


async def test_a_long_non_ascii_message_reaches_every_member_exactly(fast_posting):
    server = fast_posting
    # The real server process has uvloop loaded (the probe above checks how it is used).
    assert "uvloop/loop" in Path(f"/proc/{server.process.pid}/maps").read_text()
    users = {name: login(server, name) for name in ("alice", "bob", "carol", "dave")}
    general = room_id(users["alice"], "general")
    sockets = {name: (await open_room_socket(server, users[name], general))[0] for name in users}
    wire = await RawSocket.open(server, users["dave"], general)
    await wire.frame_of("presence")
    assert len(LONG_BODY) == MAX_LENGTH and len(LONG_BODY.encode()) > 2 * MAX_LENGTH
    await sockets["bob"].send(json.dumps({"type": "message", "body": LONG_BODY, "client_id": "l"}))
    for name, socket_ in sockets.items():
        frame = await next_of(socket_, "message", timeout=10)
        assert (frame["username"], frame["client_id"]) == ("bob", "l"), name
        assert frame["body"] == LONG_BODY, name
    frame = await wire.frame_of("message")
    assert frame.data["body"] == LONG_BODY
    # On the wire: FIN + text, unmasked, a 16-bit length that counts UTF-8 bytes.
    assert frame.header[0] == 0x81 and frame.length_form == 16
    assert struct.unpack("!H", frame.header[2:4])[0] == len(frame.payload) > 2 * MAX_LENGTH
    # The widest body allowed (4 bytes a character) still fits the 16-bit form.
    await sockets["alice"].send(json.dumps({"type": "message", "body": WIDEST_BODY}))
    frame = await wire.frame_of("message")
    assert frame.data["body"] == WIDEST_BODY and frame.length_form == 16
    assert len(frame.payload) > 4 * MAX_LENGTH
    for socket_ in sockets.values():
        assert (await next_of(socket_, "message", timeout=10))["body"] == WIDEST_BODY
    for socket_ in [*sockets.values(), wire]:
        await socket_.close()


INCOMING_LIMIT = 64 * 1024  # the default limit on what a client sends (CHAT_MAX_FRAME_BYTES)
# More than an opening page (CHAT_HISTORY_LATEST) and a full older page (CHAT_PAGE_MAX) on top.
BIG_ROOM_MESSAGES = settings.CHAT_HISTORY_LATEST + settings.CHAT_PAGE_MAX + 10


def history_payload(messages: list[dict], has_more: bool, version: int | None = None) -> bytes:
    """A history frame's payload exactly as the server makes it (chat/serializers.py: compact
    JSON, UTF-8 unescaped), from the messages as they were broadcast; an opening page also
    carries the room's version."""
    page = [{key: value for key, value in m.items() if key != "type"} for m in messages]
    frame = {"type": "history", "messages": page, "has_more": has_more}
    if version is not None:
        frame["version"] = version
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


async def post(socket_, bodies: list[str], first: int = 0) -> list[dict]:
    """Post the bodies (client ids c0000, c0001, ... from `first`); the messages as
    broadcast back to the sender, in the order sent."""

    async def send_all():
        for number, body in enumerate(bodies, first):
            frame = {"type": "message", "body": body, "client_id": f"c{number:04d}"}
            await socket_.send(json.dumps(frame))

    async def receive_all():
        return [await next_of(socket_, "message", timeout=20) for _ in bodies]

    _, echoed = await asyncio.gather(send_all(), receive_all())
    assert [m["body"] for m in echoed] == bodies
    assert [m["client_id"] for m in echoed] == [f"c{first + i:04d}" for i in range(len(bodies))]
    return echoed


async def post_until_the_page_is(socket_, target: int) -> list[dict]:
    """Fill an empty room until its opening page (all of its messages) is `target` bytes
    long, give or take the few bytes by which a new message's id, version and time may differ
    in length from its predecessor's. A body shows twice in the page: as `body` and, rendered,
    in `html` (an ASCII "b" costs 2 bytes, an emoji 8)."""
    posted = await post(socket_, ["first"])
    while True:
        last = posted[-1]
        next_one = {
            **last,
            "id": last["id"] + 1,
            "version": last["version"] + 1,
            "body": "",
            "html": "<p></p>",
            "client_id": f"c{len(posted):04d}",
        }
        version = next_one["version"]  # the opening page carries the room's version too
        base = len(history_payload([*posted, next_one], False, version))
        need = (target - base) // 2  # the "b"s that bring the page to the target
        if need <= MAX_LENGTH:
            return posted + await post(socket_, ["b" * max(need, 1)], first=len(posted))
        per_message = len(history_payload([*posted, next_one, next_one], False, version)) - base
        widest = min(MAX_LENGTH, (target - base - per_message - 2) // 8)  # leaves need >= 1
        posted += await post(socket_, ["😀" * widest], first=len(posted))


async def test_history_pages_far_over_the_incoming_limit_are_sent_whole(
    scaled_config, fast_posting
):
    """The server runs with its default limits: 64 KiB on what a client sends. What the server
    sends is not held to it (mychannels/runtime/wsprotocol.py): a room whose opening page is far
    over 64 KiB, or just over it, opens with its whole history and presence, and the socket
    stays usable; an older page far over 64 KiB is answered whole. Autobahn used to apply
    the client's limit to these pages and close every new socket of such a room with 1011."""
    server = fast_posting
    assert "CHAT_MAX_FRAME_BYTES" not in scaled_config.env()  # the default limits
    assert settings.CHAT_MAX_FRAME_BYTES == INCOMING_LIMIT
    alice, bob, carol = (login(server, name) for name in ("alice", "bob", "carol"))
    general, random_room = room_id(alice, "general"), room_id(alice, "random")
    sender = (await open_room_socket(server, alice, general))[0]
    # Distinct long non-ASCII bodies, about 5.6 KB each in UTF-8.
    bodies = [f"{n:03d} " + LONG_BODY[: MAX_LENGTH - 4] for n in range(BIG_ROOM_MESSAGES)]
    posted = await post(sender, bodies)
    ids = [m["id"] for m in posted]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # A new socket (on the wire): the latest page, whole, in one frame; then presence.
    latest = settings.CHAT_HISTORY_LATEST
    late = await RawSocket.open(server, bob, general)
    history = await late.frame()
    assert history.data["type"] == "history" and history.length_form == 64
    assert struct.unpack("!Q", history.header[2:10])[0] == len(history.payload)
    assert len(history.payload) > 4 * INCOMING_LIMIT
    # Nothing changed since the last post: the room's version is that message's.
    assert history.data["version"] == posted[-1]["version"]
    assert history.payload == history_payload(posted[-latest:], True, posted[-1]["version"])
    assert [m["body"] for m in history.data["messages"]] == bodies[-latest:]
    presence = await late.frame()
    assert presence.data["type"] == "presence"
    assert {"alice", "bob"} <= set(presence.data["users"])

    # The same through a client library, which reads the socket as a browser would.
    reader, history_data, _ = await open_room_socket(server, carol, general)
    assert history_data == json.loads(
        history_payload(posted[-latest:], True, posted[-1]["version"])
    )

    # The socket is still usable: what it sends reaches the room, itself included.
    late.send_text(json.dumps({"type": "message", "body": "after the big page", "client_id": "z"}))
    said = await late.frame_of("message")
    assert (said.data["username"], said.data["body"]) == ("bob", "after the big page")
    for socket_ in (sender, reader):
        assert await next_of(socket_, "message", timeout=10) == said.data

    # An older page of the largest size a client may ask for, far over 64 KiB: whole.
    oldest_shown = history.data["messages"][0]["id"]
    page_max = settings.CHAT_PAGE_MAX
    late.send_text(json.dumps({"type": "history", "before": oldest_shown, "limit": page_max}))
    older = await late.frame_of("history")
    assert older.length_form == 64 and len(older.payload) > 8 * INCOMING_LIMIT
    expected = posted[-latest - page_max : -latest]
    assert older.payload == history_payload(expected, True)
    assert [m["body"] for m in older.data["messages"]] == bodies[-latest - page_max : -latest]

    # A room whose opening page is just over 64 KiB: the smallest that needs the 64-bit
    # length form, and the first size that autobahn's check refused.
    poster = (await open_room_socket(server, alice, random_room))[0]
    small_posted = await post_until_the_page_is(poster, INCOMING_LIMIT + 8)
    edge = await RawSocket.open(server, bob, random_room)
    history = await edge.frame()
    assert history.data["type"] == "history" and history.length_form == 64
    assert INCOMING_LIMIT < len(history.payload) <= INCOMING_LIMIT + 16, len(history.payload)
    assert history.payload == history_payload(small_posted, False, small_posted[-1]["version"])
    assert (await edge.frame()).data["type"] == "presence"
    edge.send_text(json.dumps({"type": "message", "body": "still here", "client_id": "e"}))
    assert (await edge.frame_of("message")).data["body"] == "still here"
    assert (await next_of(poster, "message", timeout=10))["body"] == "still here"

    # What a client sends is still held to 64 KiB on this server: 1009, as before.
    too_big = json.dumps({"type": "message", "body": "x" * INCOMING_LIMIT})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await reader.send(too_big)
        async with asyncio.timeout(10):
            while True:
                await reader.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    for socket_ in (sender, late, poster, edge):
        await socket_.close()
    assert "PayloadExceededError" not in server.log()


MESSAGES = 200


async def test_a_member_that_stops_reading_gets_every_message_once_in_id_order(fast_posting):
    server = fast_posting
    alice, bob, carol = (login(server, name) for name in ("alice", "bob", "carol"))
    general = room_id(alice, "general")
    # Bob's socket stops reading once it has opened.
    slow = await RawSocket.open(server, bob, general, slow=True)
    await slow.frame_of("presence")
    sender = (await open_room_socket(server, alice, general))[0]
    reader = (await open_room_socket(server, carol, general))[0]
    bodies = [f"{number:03d} " + LONG_BODY[: MAX_LENGTH - 4] for number in range(MESSAGES)]

    async def send_all():
        for number, body in enumerate(bodies):
            frame = {"type": "message", "body": body, "client_id": str(number)}
            await sender.send(json.dumps(frame))

    async def receive_all(socket_):
        return [await next_of(socket_, "message", timeout=20) for _ in range(MESSAGES)]

    _, sent, read_live = await asyncio.gather(send_all(), receive_all(sender), receive_all(reader))
    ids = [message["id"] for message in sent]
    assert ids == sorted(ids) and len(set(ids)) == MESSAGES
    assert [m["client_id"] for m in sent] == [str(number) for number in range(MESSAGES)]
    assert read_live == sent

    # All of it has been broadcast and Bob has read none of it. The kernels on both ends
    # hold less than was sent to him: the rest waits in Daphne's (Twisted's) write buffer.
    await asyncio.sleep(0.3)
    server_side, _ = socket_queues(server.port, slow.local_port)
    _, client_side = socket_queues(slow.local_port, server.port)
    held_outside_daphne = server_side + client_side + len(slow.reader._buffer)

    frames = [await slow.frame_of("message", timeout=20) for _ in range(MESSAGES)]
    received = [frame.data for frame in frames]
    assert [m["id"] for m in received] == ids, "messages missing, doubled or out of order"
    assert received == sent
    assert [m["body"] for m in received] == bodies
    sent_to_bob = sum(len(frame.header) + len(frame.payload) for frame in frames)
    print(f"to the slow socket: {sent_to_bob} B, outside Daphne: {held_outside_daphne} B")
    assert sent_to_bob > 2 * held_outside_daphne, "no back-pressure: the test proved nothing"
    # Exactly once: no message follows.
    with pytest.raises(TimeoutError):
        await slow.frame_of("message", timeout=1)
    for socket_ in (slow, sender, reader):
        await socket_.close()
