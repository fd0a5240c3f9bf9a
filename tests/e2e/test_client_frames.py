"""What clients send, on a real `python -m mychannels.serve` (mychannels/runtime/wsprotocol.py
and framefast.py take one whole text frame per read without autobahn's parser; anything else
is autobahn's): messages sent as single frames, split across TCP writes or several in one
write arrive whole, in order, and are stored; invalid UTF-8 still closes 1007, an unmasked
frame 1002, a frame over the limit 1009 with autobahn's reason. Frames are built by hand
(tests/wsframes.py) and sent on a raw socket (tests/e2e/rawsocket.py)."""

import asyncio
import json
import os
from collections.abc import Iterator

import pytest

from tests.e2e.livechat import next_of, open_room_socket, stored_messages
from tests.e2e.rawsocket import RawSocket
from tests.liveserver import (
    FAST_POSTING,
    ServerProcess,
    ServiceConfig,
    login,
    prepare_database,
    room_id,
    start_daphne,
)
from tests.wsframes import client_frame

pytestmark = pytest.mark.e2e

PROTOCOL_LIMIT_REASON = "exceeds payload limit"  # autobahn's words, not the application's
SERVER_FAILURES = ("Traceback", "Exception inside application")
PAUSE = 0.05  # between two writes, so that the server reads them apart


def start(tmp_path_factory, name: str, **env: str) -> ServerProcess:
    log_dir = tmp_path_factory.mktemp(name)
    config = ServiceConfig(
        database_url=f"sqlite:///{log_dir / 'db.sqlite3'}", extra_env={**FAST_POSTING, **env}
    )
    prepare_database(config)
    return start_daphne(config, log_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    """The server entry with its default limits (64 KiB on what a client sends)."""
    server = start(tmp_path_factory, "client-frames")
    yield server
    server.stop()
    for failure in SERVER_FAILURES:
        assert failure not in server.log(), server.log()[-4000:]


def message_frame(body: str, client_id: str) -> bytes:
    text = json.dumps({"type": "message", "body": body, "client_id": client_id})
    return client_frame(text.encode(), mask=os.urandom(4))


async def member(server: ServerProcess, name: str):
    """A user's HTTP session, the room `general` and a raw socket to it, past its opening."""
    client = login(server, name)
    general = room_id(client, "general")
    wire = await RawSocket.open(server, client, general)
    await wire.frame_of("presence")
    return client, general, wire


async def echoes(wire: RawSocket, count: int) -> list[dict]:
    return [(await wire.frame_of("message")).data for _ in range(count)]


BODIES = ["hello", "x" * 90, "é€😀ж" * 40, "y" * 1999, ("😀" * 2000)[:2000]]


async def test_messages_sent_one_frame_a_write_arrive_in_order_and_are_stored(server):
    alice, general, wire = await member(server, "alice")
    bob_socket = (await open_room_socket(server, login(server, "bob"), general))[0]
    for number, body in enumerate(BODIES):  # 7-bit and 16-bit lengths, multi-byte UTF-8
        wire.send_raw(message_frame(body, f"one-{number}"))
        await wire.writer.drain()
        await asyncio.sleep(PAUSE)
    echoed = await echoes(wire, len(BODIES))
    assert [(m["body"], m["client_id"]) for m in echoed] == [
        (body, f"one-{number}") for number, body in enumerate(BODIES)
    ]
    for sent in echoed:
        assert await next_of(bob_socket, "message") == sent
    stored = {m["id"]: m for m in stored_messages(alice, general)}
    assert [stored[m["id"]]["body"] for m in echoed] == BODIES
    await wire.close()
    await bob_socket.close()


SPLIT_BODY = "é€😀ж" * 30  # a 16-bit length, multi-byte payload
SPLIT_HEADER = 8  # 2 bytes, the 16-bit length, the mask
SPLITS = {
    "after the first byte": 1,
    "inside the 16-bit length": 3,
    "inside the mask": 6,
    "after the header": SPLIT_HEADER,
    "inside a 4-byte character": SPLIT_HEADER + len('{"type": "message", "body": "é€'.encode()) + 2,
    "before the last byte": -1,
}


@pytest.mark.parametrize("at", SPLITS.values(), ids=SPLITS.keys())
async def test_a_frame_split_across_two_tcp_writes_arrives_whole(server, at):
    _, _, wire = await member(server, "carol")
    client_id = f"split-{at}"  # the same client_id again would be a resend, stored once
    frame = message_frame(SPLIT_BODY, client_id)
    wire.send_raw(frame[:at])
    await wire.writer.drain()
    await asyncio.sleep(PAUSE)
    wire.send_raw(frame[at:])
    (echoed,) = await echoes(wire, 1)
    assert (echoed["body"], echoed["client_id"]) == (SPLIT_BODY, client_id)
    # And the socket reads whole frames after it as before.
    wire.send_raw(message_frame("after the split", f"{client_id}-after"))
    assert (await echoes(wire, 1))[0]["body"] == "after the split"
    await wire.close()


async def test_frames_joined_in_one_tcp_write_all_arrive_in_order(server):
    alice, general, wire = await member(server, "dave")
    joined = [
        message_frame("first", "j0"),
        message_frame("second, 16-bit: " + "ж" * 100, "j1"),
        client_frame(b"ping", first=0x89, mask=os.urandom(4)),
        message_frame("third", "j2"),
    ]
    wire.send_raw(b"".join(joined))
    echoed = await echoes(wire, 3)
    assert [m["client_id"] for m in echoed] == ["j0", "j1", "j2"]
    assert echoed[1]["body"] == "second, 16-bit: " + "ж" * 100
    stored = [m["client_id"] for m in stored_messages(alice, general)]
    assert stored[-3:] == ["j0", "j1", "j2"]
    # A whole frame and the start of the next in one write, then its rest.
    first, second = message_frame("fourth", "j3"), message_frame("fifth", "j4")
    wire.send_raw(first + second[:5])
    await wire.writer.drain()
    await asyncio.sleep(PAUSE)
    wire.send_raw(second[5:])
    assert [m["client_id"] for m in await echoes(wire, 2)] == ["j3", "j4"]
    await wire.close()


INVALID_UTF8 = {
    "a byte that is never UTF-8": b"\xff",
    "an overlong slash": b"\xc0\xaf",
    "a UTF-16 surrogate": b"\xed\xa0\x80",
    "above U+10FFFF": b"\xf4\x90\x80\x80",
    "a character cut at the end": "😀".encode()[:3],
}


@pytest.mark.parametrize("bad", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
async def test_invalid_utf8_in_a_text_frame_closes_1007_and_stores_nothing(server, bad):
    alice, general, wire = await member(server, "alice")
    before = len(stored_messages(alice, general))
    payload = b'{"type": "message", "body": "bad ' + bad + b'", "client_id": "u"}'
    if bad == INVALID_UTF8["a character cut at the end"]:
        payload = b'{"type": "message", "body": "cut"}' + bad
    wire.send_raw(client_frame(payload, mask=os.urandom(4)))
    code, _ = await wire.close_frame()
    assert code == 1007
    assert len(stored_messages(alice, general)) == before
    await wire.close()


async def test_an_unmasked_client_frame_fails_the_connection_1002(server):
    alice, general, wire = await member(server, "bob")
    before = len(stored_messages(alice, general))
    text = json.dumps({"type": "message", "body": "unmasked", "client_id": "m"})
    wire.send_raw(client_frame(text.encode(), mask=None))
    code, _ = await wire.close_frame()
    assert code == 1002
    assert len(stored_messages(alice, general)) == before
    await wire.close()


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """A limit on what clients send that a 16-bit length can pass (the default, 64 KiB,
    only a 64-bit one can)."""
    server = start(tmp_path_factory, "client-frames-1k", CHAT_MAX_FRAME_BYTES="1024")
    yield server
    server.stop()


def frame_of_size(size: int, client_id: str) -> bytes:
    """A message frame whose payload is exactly `size` bytes."""
    frame = {"type": "message", "body": "", "client_id": client_id}
    frame["body"] = "z" * (size - len(json.dumps(frame)))
    text = json.dumps(frame)
    assert len(text) == size
    return client_frame(text.encode(), mask=os.urandom(4))


async def test_a_frame_over_the_limit_closes_1009_from_the_protocol_and_one_at_it_is_taken(
    small_limit_server,
):
    _, _, wire = await member(small_limit_server, "alice")
    wire.send_raw(frame_of_size(1024, "at"))
    assert (await echoes(wire, 1))[0]["client_id"] == "at"
    wire.send_raw(frame_of_size(1025, "over"))
    code, reason = await wire.close_frame()
    assert code == 1009 and PROTOCOL_LIMIT_REASON in reason, reason
    await wire.close()
