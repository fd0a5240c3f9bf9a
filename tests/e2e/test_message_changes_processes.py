"""Edits, deletions and reactions across two real Daphne processes on one Redis and one
PostgreSQL, as docs/deploy.md runs them: made through a socket on one process, they reach a
socket on the other live, and a socket that was closed meanwhile gets each of them once, in
version order, when it reopens with `?since=` the last version it saw."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.livechat import next_of, open_room_socket, post_message
from tests.liveserver import (
    ServerProcess,
    login,
    room_id,
)
from tests.services import scaled_service

pytestmark = pytest.mark.e2e

FAST = {"CHAT_RATE_PER_SECOND": "1000", "CHAT_RATE_BURST": "1000"}


@pytest.fixture(scope="module")
def processes(tmp_path_factory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one fresh PostgreSQL database and one Redis, for the whole module."""
    with scaled_service(tmp_path_factory.mktemp("message-changes"), extra_env=FAST) as service:
        yield tuple(service.servers)


async def frame_of(socket, frame_type: str, message_id: int) -> dict:
    """The next frame of this type about this message (others in between are skipped)."""
    async with asyncio.timeout(10):
        while True:
            frame = await next_of(socket, frame_type)
            about = frame.get("id") or frame.get("message", {}).get("id")
            if about == message_id:
                return frame


async def quiet_frames(socket, quiet: float = 1.0) -> list[dict]:
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), quiet)))
    return frames


def three_messages(server: ServerProcess, http, room: int) -> list[int]:
    tag = uuid.uuid4().hex[:6]
    return [post_message(server, http, room, f"{what} {tag}")["id"] for what in "abc"]


async def change_all_three(socket, ids: list[int]) -> None:
    """Through the socket: an edit of the first, deletion of the second, a reaction on the
    third; each confirmed by its own broadcast coming back to this socket."""
    await socket.send(json.dumps({"type": "edit", "id": ids[0], "body": "fixed"}))
    await frame_of(socket, "message_updated", ids[0])
    await socket.send(json.dumps({"type": "delete", "id": ids[1]}))
    await frame_of(socket, "message_deleted", ids[1])
    await socket.send(json.dumps({"type": "react", "id": ids[2], "emoji": "👍", "on": True}))
    await frame_of(socket, "reactions", ids[2])


async def test_changes_through_one_process_reach_a_socket_on_the_other(processes):
    first, second = processes
    alice, bob = login(first, "alice"), login(second, "bob")
    room = room_id(alice, "general")
    ids = three_messages(first, alice, room)
    on_a, _, _ = await open_room_socket(first, alice, room)
    on_b, _, _ = await open_room_socket(second, bob, room)
    try:
        await change_all_three(on_a, ids)
        edited = await frame_of(on_b, "message_updated", ids[0])
        deleted = await frame_of(on_b, "message_deleted", ids[1])
        reacted = await frame_of(on_b, "reactions", ids[2])
    finally:
        await on_a.close()
        await on_b.close()
    assert edited["message"]["body"] == "fixed" and edited["message"]["edited"]
    assert deleted["message"]["deleted"] and deleted["message"]["body"] == ""
    assert reacted["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    assert edited["message"]["version"] < deleted["message"]["version"] < reacted["version"]


async def test_a_socket_reopened_with_since_gets_each_change_once_in_version_order(processes):
    first, second = processes
    alice, bob = login(first, "alice"), login(second, "bob")
    room = room_id(alice, "general")
    ids = three_messages(first, alice, room)
    on_b, history, _ = await open_room_socket(second, bob, room)
    last_seen = max([history["version"], *(m["version"] for m in history["messages"])])
    await on_b.close()

    on_a, _, _ = await open_room_socket(first, alice, room)
    try:
        await change_all_three(on_a, ids)
    finally:
        await on_a.close()

    on_b, caught_up, _ = await open_room_socket(second, bob, room, f"?since={last_seen}")
    try:
        later = await quiet_frames(on_b)
    finally:
        await on_b.close()
    messages = caught_up["messages"]
    assert [m["id"] for m in messages] == ids, messages  # each once, in version order
    versions = [m["version"] for m in messages]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert versions[0] > last_seen and caught_up["has_more"] is False
    edited, deleted, reacted = messages
    assert edited["body"] == "fixed" and edited["edited"]
    assert deleted["deleted"] and deleted["body"] == "" and deleted["reactions"] == []
    assert reacted["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
    # Nothing about them comes again live: the catch-up was the one copy.
    repeated = [f for f in later if f["type"] in ("message", "message_updated", "reactions")]
    assert repeated == [] and not any(f["type"] == "message_deleted" for f in later)


async def test_a_page_kept_on_one_process_shows_changes_made_on_the_other(processes):
    """Each process keeps a room's latest page by the room's version (chat/latest_pages.py):
    a change made through the other process moves the version in PostgreSQL, so the next
    opening here builds the page again instead of showing the kept one."""
    first, second = processes
    alice, bob = login(first, "alice"), login(second, "bob")
    room = room_id(alice, "general")
    ids = three_messages(first, alice, room)
    for _ in range(2):  # the second opening is served from the page kept by the first
        on_b, kept, _ = await open_room_socket(second, bob, room)
        await on_b.close()
    assert {m["id"] for m in kept["messages"]} >= set(ids)

    on_a, _, _ = await open_room_socket(first, alice, room)
    try:
        await change_all_three(on_a, ids)
    finally:
        await on_a.close()

    on_b, reopened, _ = await open_room_socket(second, bob, room)
    await on_b.close()
    assert reopened["version"] > kept["version"]
    shown = {m["id"]: m for m in reopened["messages"]}
    assert shown[ids[0]]["body"] == "fixed" and shown[ids[1]]["deleted"]
    assert shown[ids[2]]["reactions"] == [{"emoji": "👍", "count": 1, "users": ["alice"]}]
