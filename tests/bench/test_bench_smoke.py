"""The benchmark's machinery at a tiny scale: it must count every delivery, and show a dropped
or doubled frame as loss or a duplicate, never as speed. No timing is asserted."""

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
import websockets

from bench.client import LoadClient, SocketSpec, StepPlan
from bench.scenarios import Context, Scale, run_all
from bench.servers import (
    ServiceEnv,
    bench_database,
    migrate_and_populate,
    raise_open_files_limit,
    start_bare,
    start_service,
    stored_messages,
)
from tests.liveserver import free_port
from tests.services import ensure_postgres, ensure_redis

pytestmark = pytest.mark.e2e


class FaultyBroadcast:
    """A broadcast server that drops message k when k % 5 == 0 and sends it twice when
    k % 7 == 0 (k is the message's number in the body), in a thread of the test process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),))
        self.stopping: asyncio.Future | None = None

    async def _serve(self) -> None:
        members: set = set()
        self.stopping = self.loop.create_future()

        async def handler(socket) -> None:
            members.add(socket)
            try:
                async for text in socket:
                    body = json.loads(text)["body"]
                    number = int(body.split("|")[2])
                    frame = json.dumps({"type": "message", "body": body})
                    if number % 5 == 0:
                        continue
                    websockets.broadcast(members, frame)
                    if number % 7 == 0:
                        websockets.broadcast(members, frame)
            finally:
                members.discard(socket)

        async with websockets.serve(handler, "127.0.0.1", self.port):
            self.ready.set()
            await self.stopping

    def __enter__(self) -> "FaultyBroadcast":
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set_result, None)
        self.thread.join(10)


@pytest.fixture
def load_client() -> Iterator[LoadClient]:
    raise_open_files_limit()
    client = LoadClient(workers=2)
    yield client
    client.stop()


def room_plan(client: LoadClient, url: str, members: int, rate: float, seconds: float):
    specs = [SocketSpec(url=url, room="r") for _ in range(members)]
    opened, addresses = client.connect(specs)
    assert opened["opened"] == members and not opened["refused"]
    return StepPlan(
        step=1,
        rate=rate,
        duration=seconds,
        senders=addresses,
        sender_rooms=["r"] * members,
        drain=1.5,
    )


def test_every_delivery_is_counted_against_the_bare_server(load_client, tmp_path):
    server = start_bare(tmp_path)
    try:
        plan = room_plan(load_client, server.url("r"), members=6, rate=40, seconds=1.0)
        result = load_client.step(plan)
    finally:
        server.stop()
    messages = 40  # rate x seconds, every one due inside the step
    assert result["expected"] == messages * 6
    assert result["received"] == messages * 6
    assert (result["loss"], result["duplicates"], result["errors"]) == (0, 0, {})
    assert len(result["latencies"]) == messages * 6
    assert all(latency >= 0 for latency in result["latencies"])


def test_dropped_and_doubled_frames_show_as_loss_and_duplicates(load_client):
    with FaultyBroadcast() as server:
        plan = room_plan(load_client, f"ws://127.0.0.1:{server.port}/", 4, rate=35, seconds=1.0)
        result = load_client.step(plan)
    numbers = range(35)
    dropped = sum(1 for k in numbers if k % 5 == 0)
    doubled = sum(1 for k in numbers if k % 7 == 0 and k % 5 != 0)
    assert result["expected"] == 35 * 4
    assert result["loss"] == dropped * 4
    assert result["received"] == (35 - dropped) * 4
    assert result["duplicates"] == doubled * 4


async def first_frame(spec: SocketSpec) -> dict:
    async with websockets.connect(spec.url, additional_headers=spec.headers) as socket:
        return json.loads(await socket.recv())


def test_tiny_benchmark_against_the_real_service(tmp_path):
    """The whole path: PostgreSQL, Redis, logged-in users, Daphne; every message stored and
    delivered to every member."""
    ensure_postgres()
    ensure_redis()
    raise_open_files_limit()
    scale = Scale.tiny()
    client = LoadClient(workers=1)
    try:
        with bench_database() as database_url:
            service = ServiceEnv(database_url=database_url)
            data = migrate_and_populate(service, scale.users(), scale.rooms(), scale.histories())
            server = start_service(service, tmp_path)
            try:
                ctx = Context(server, client, data["rooms"], data["sessions"], scale)
                outcome = run_all(ctx)
                history = asyncio.run(first_frame(ctx.spec("h0", 0)))
            finally:
                server.stop()
            preloaded = [data["rooms"][name] for name in scale.histories()]
            stored = stored_messages(database_url, preloaded)
    finally:
        client.stop()
    assert stored == ctx.messages_sent > 0
    for scenario in ("room100", "pairs"):
        for row in outcome[scenario]:
            assert row["received"] == row["expected"] > 0, row
            assert (row["loss"], row["duplicates"], row["errors"]) == (0, 0, {}), row
    assert outcome["storm"]["opened"] == scale.storm
    assert outcome["storm_history"]["opened"] == scale.storm
    assert outcome["storm_tabs"]["opened"] == 2 * scale.storm  # a room socket and a list each
    # The storm with a history opened on full pages, not on empty rooms.
    assert (history["type"], len(history["messages"]), history["has_more"]) == ("history", 50, True)
    assert outcome["idle"][0]["opened"] == scale.idle[0]
