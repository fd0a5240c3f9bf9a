"""Several real Daphne processes on one Redis and one PostgreSQL, as docs/deploy.md runs
them: delivery and presence across processes, a SIGKILLed process's users leaving presence,
catch-up after a drop (also while messages keep arriving), a Redis restart in the middle of a
chat (under the project's entry, plain daphne and uvicorn: every socket is closed 1012 and
catches up), and logging out on one process closing the sockets held by another."""

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
import websockets

from tests.e2e.livechat import (
    RoomClient,
    next_of,
    open_socket,
    post_message,
    stored_messages,
)
from tests.liveserver import (
    ServerProcess,
    ServiceConfig,
    fresh_postgres_database,
    login,
    prepare_database,
    room_id,
    start_servers,
)
from tests.services import RedisServer, ensure_postgres, scaled_service

pytestmark = pytest.mark.e2e

DEMO_USERS = ["alice", "bob", "carol", "dave"]
# The tests post faster than a person types; flood control has its own tests.
FAST_POSTING = {"CHAT_RATE_PER_SECOND": "1000", "CHAT_RATE_BURST": "1000"}


@pytest.fixture
def two_processes(tmp_path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Per test: one kills a process, and the catch-up tests count every message of the room."""
    with scaled_service(tmp_path, extra_env=FAST_POSTING) as service:
        yield tuple(service.servers)


async def presence_until(socket, users: list[str], timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_of(socket, "presence", timeout=timeout)
            if frame["users"] == users:
                return frame


async def frames_for(socket, quiet: float) -> list[dict]:
    """Every frame until the socket has been quiet for `quiet` seconds."""
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), quiet)))
    return frames


async def latest_presence(socket, settle: float = 1.0) -> list[str] | None:
    """The last presence list the socket shows once the room has been quiet for `settle` s."""
    presence = [f["users"] for f in await frames_for(socket, settle) if f["type"] == "presence"]
    return presence[-1] if presence else None


async def test_a_message_through_one_process_reaches_members_on_the_other_and_presence_agrees(
    two_processes,
):
    first, second = two_processes
    clients = {
        name: login(first if name in ("alice", "bob") else second, name) for name in DEMO_USERS
    }
    general = room_id(clients["alice"], "general")
    sockets = {}
    for name in DEMO_USERS:
        server = first if name in ("alice", "bob") else second
        sockets[name] = await open_socket(server, clients[name], general)
    # A second tab of alice, on the other process: she still counts once.
    alice_tab_two = await open_socket(second, login(second, "alice"), general)

    await sockets["alice"].send(
        json.dumps({"type": "message", "body": "from A", "client_id": "x1"})
    )
    for name in DEMO_USERS:
        frame = await next_of(sockets[name], "message")
        assert (frame["username"], frame["body"], frame["client_id"]) == ("alice", "from A", "x1")
    assert (await next_of(alice_tab_two, "message"))["body"] == "from A"
    await sockets["dave"].send(json.dumps({"type": "message", "body": "from B"}))
    assert (await next_of(sockets["bob"], "message"))["body"] == "from B"

    # Every socket on either process ends on the same list, each user once.
    views = [await latest_presence(s) for s in [*sockets.values(), alice_tab_two]]
    assert views == [DEMO_USERS] * 5, views

    # Alice closes her tab on A; her tab on B keeps her present on both processes.
    await sockets.pop("alice").close()
    views = [await latest_presence(s) for s in [*sockets.values(), alice_tab_two]]
    assert all(view in (None, DEMO_USERS) for view in views), views
    # Her last tab closes: she leaves the list everywhere.
    await alice_tab_two.close()
    for name, socket in sockets.items():
        frame = await presence_until(socket, ["bob", "carol", "dave"], timeout=10)
        assert frame["count"] == 3, name
    for socket in sockets.values():
        await socket.close()


# Presence timings a tenth of the defaults' (40, 20, 10 s): the same sweep, sooner.
SHORT_PRESENCE = {
    "CHAT_PRESENCE_TTL_SECONDS": "6",
    "CHAT_PRESENCE_HEARTBEAT_SECONDS": "2",
    "CHAT_PRESENCE_SWEEP_SECONDS": "1",
}


@pytest.fixture
def two_processes_short_presence(tmp_path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with scaled_service(tmp_path, extra_env=FAST_POSTING | SHORT_PRESENCE) as service:
        yield tuple(service.servers)


async def test_sigkill_of_one_process_drops_its_users_from_presence_on_the_other(
    two_processes_short_presence,
):
    first, second = two_processes_short_presence
    alice, bob = login(first, "alice"), login(second, "bob")
    carol, dave = login(second, "carol"), login(second, "dave")
    general = room_id(alice, "general")
    watcher = await open_socket(first, alice, general)
    doomed = [await open_socket(second, client, general) for client in (bob, carol, dave)]
    await presence_until(watcher, DEMO_USERS, timeout=10)

    second.kill(signal.SIGKILL)  # no disconnect handler runs: only the sweep can tell
    killed_at = time.monotonic()
    frame = await presence_until(watcher, ["alice"], timeout=30)
    took = time.monotonic() - killed_at
    print(f"\nSIGKILLed process's users left presence on the survivor after {took:.1f} s")
    assert frame["count"] == 1
    assert took < 6 + 1 + 5  # TTL + SWEEP, and time to spare on a busy machine
    for socket in (watcher, *doomed):
        with contextlib.suppress(Exception):
            await socket.close()


async def test_logging_out_through_one_process_closes_sockets_on_the_other(two_processes):
    first, second = two_processes
    alice = login(first, "alice")
    general = room_id(alice, "general")
    on_second = await open_socket(second, alice, general)
    await next_of(on_second, "presence")
    page = alice.get("/")
    token = alice.cookies["csrftoken"]
    assert page.status_code == 200
    response = alice.post(
        "/accounts/logout/",
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{first.url}/", "Origin": first.origin},
    )
    assert response.status_code == 302
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await next_of(on_second, "never", timeout=10)
    assert closed.value.rcvd.code == 4401


async def test_catch_up_after_a_drop_returns_exactly_the_50_missed_messages(two_processes):
    first, second = two_processes
    alice, bob = login(first, "alice"), login(second, "bob")
    general = room_id(alice, "general")
    post_message(first, alice, general, "before the drop")
    socket = await open_socket(second, bob, general)
    history = await next_of(socket, "history")
    last_seen = history["messages"][-1]["id"]
    await socket.close()

    posted = [post_message(first, alice, general, f"missed {i}")["id"] for i in range(50)]
    # Reconnect to the other process than the one the messages went through.
    socket = await open_socket(first, bob, general, f"?after={last_seen}")
    history = await next_of(socket, "history")
    assert [m["id"] for m in history["messages"]] == posted
    assert [m["body"] for m in history["messages"]] == [f"missed {i}" for i in range(50)]
    assert history["has_more"] is False
    # Nothing arrives twice: after the history, no message frame at all.
    later = await frames_for(socket, 1.0)
    assert [f for f in later if f["type"] == "message"] == []
    await socket.close()


async def test_catch_up_while_messages_keep_arriving_misses_and_repeats_nothing(two_processes):
    first, second = two_processes
    alice, bob = login(first, "alice"), login(second, "bob")
    general = room_id(alice, "general")
    reader = RoomClient(server=second, http=bob, room=general, name="bob")
    reader.start()
    await asyncio.wait_for(reader.connected.wait(), 10)
    for i in range(5):
        post_message(first, alice, general, f"seen {i}")

    async def writer(count: int) -> list[int]:
        ids = []
        for i in range(count):
            message = await asyncio.to_thread(post_message, first, alice, general, f"live {i}")
            ids.append(message["id"])
            await asyncio.sleep(0.01)
        return ids

    writing = asyncio.ensure_future(writer(150))
    await asyncio.sleep(0.3)
    for _ in range(3):  # drop the socket while the writer keeps posting, three times
        await reader._socket.close()
        await asyncio.sleep(0.4)
        await asyncio.wait_for(reader.connected.wait(), 15)
    posted = await writing
    stored = [m["id"] for m in await asyncio.to_thread(stored_messages, bob, general)]
    async with asyncio.timeout(15):
        while sorted(reader.ids()) != stored:
            await asyncio.sleep(0.1)
    assert reader.connects >= 4
    assert set(posted) <= set(reader.ids())
    assert len(reader.ids()) == len(set(reader.ids()))  # every message shown once
    print(
        f"\ncatch-up under load: {len(stored)} stored, {reader.connects} connects, "
        f"{reader.duplicates_dropped} replayed frames dropped by id"
    )
    await reader.stop()


@pytest.fixture
def redis_restart_service(own_redis, tmp_path) -> Iterator[tuple[ServiceConfig, "RedisServer"]]:
    ensure_postgres()
    with fresh_postgres_database() as database_url:
        config = ServiceConfig(database_url=database_url, redis_url=own_redis.url)
        config.extra_env.update(FAST_POSTING, CHANNEL_LAYER_PREFIX=f"rr{uuid.uuid4().hex[:6]}")
        prepare_database(config)
        yield config, own_redis


# The servers whose sockets are built differently: the project's entry (its own protocol
# class), plain daphne (Daphne's) and uvicorn. `runserver` runs the project's entry's classes.
@pytest.mark.parametrize("kind", ["serve", "daphne", "uvicorn"])
async def test_redis_restart_mid_chat_loses_no_stored_message_from_any_view(
    redis_restart_service, tmp_path, kind
):
    config, own_redis = redis_restart_service
    first, second = start_servers(config, tmp_path, 2, kind)
    clients: list[RoomClient] = []
    try:
        https = {
            name: login(first if i % 2 == 0 else second, name) for i, name in enumerate(DEMO_USERS)
        }
        general = room_id(https["alice"], "general")
        for i, name in enumerate(DEMO_USERS):
            server = first if i % 2 == 0 else second
            clients.append(RoomClient(server=server, http=https[name], room=general, name=name))
        for client in clients:
            client.start()
        for client in clients:
            await asyncio.wait_for(client.connected.wait(), 15)

        sent = 0

        async def chat(seconds: float) -> None:
            nonlocal sent
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for client in clients:
                    await client.send(f"{client.name} says {sent}", f"{client.name}-{sent}")
                    sent += 1
                await asyncio.sleep(0.15)

        await chat(2)
        own_redis.stop()  # mid chat: every socket loses its channel layer
        await chat(2)  # typed while Redis is down: pending, resent after the reconnect
        own_redis.start()  # empty: no groups, no presence, no buckets
        await chat(3)

        # Pending messages go out again on each open, so the record may still grow a little.
        deadline = time.monotonic() + 30
        while True:
            record = await asyncio.to_thread(stored_messages, https["bob"], general)
            stored = [m["id"] for m in record]
            settled = all(sorted(c.ids()) == stored and not c.pending for c in clients)
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        for client in clients:
            missing = sorted(set(stored) - set(client.ids()))
            assert sorted(client.ids()) == stored, (client.name, missing, client.close_codes)
            assert len(client.ids()) == len(set(client.ids()))
            assert client.pending == {}, client.name
            assert client.connects >= 2, client.name  # it did lose its socket and come back
            # Lost events close with 1012, "catch up now", never 1011 or a dropped connection.
            assert set(client.close_codes) == {1012}, (client.name, client.close_codes)
        # Every message typed was stored exactly once (client_id resends stored nothing twice).
        bodies = [m["body"] for m in record]
        assert len(bodies) == len(set(bodies)) == sent
        for server in (first, second):
            assert "Exception inside application" not in server.log(), server.log()[-4000:]
        print(
            f"\nRedis restart: {sent} messages, reconnects per client "
            f"{[c.connects - 1 for c in clients]}, close codes {[c.close_codes for c in clients]}"
        )
    finally:
        for client in clients:
            await client.stop()
        first.stop()
        second.stop()
