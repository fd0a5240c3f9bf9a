"""The scenarios, run against one system at a time through the load client."""

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.client import LoadClient, SocketSpec, StepPlan
from bench.servers import Server, process_cpu_seconds

HEADLINE_P99_MS = 200.0


@dataclass
class Scale:
    """How big each scenario is. `full()` is the recorded benchmark, `tiny()` the smoke test."""

    room100_rates: list[int]  # deliveries per second
    room1000_rates: list[int]
    pair_rooms: int
    pair_rates: list[int]
    storm: int
    idle: list[int]  # socket counts at which memory per connection is read
    step_seconds: float = 3.0
    # A step lasts at least this many deliveries: one second of the lowest rungs held only
    # 1,000, and CPU per delivery read off so few moved by a fifth to a third between runs.
    step_deliveries: int = 0
    drain_seconds: float = 2.0
    refine_steps: int = 0  # bisections between the last passed and the first failed rate
    idle_seconds: float = 40.0  # time allowed for opening the idle sockets
    open_concurrency: int = 200  # handshakes in flight while opening a scenario's sockets
    beyond: int = 0  # rungs past the ladder for a system that passes all of it (rate_ladder)
    # The 100-member room with every member's room list open too (the service only).
    sidebar_rates: list[int] = field(default_factory=list)
    # Messages already in each room of the storm with history (the service only): more than
    # one opening page, as in a room people have used.
    history_messages: int = 60

    @classmethod
    def full(cls) -> "Scale":
        return cls(
            room100_rates=[1000, 2000, 4000, 7000, 10000, 20000, 30000, 40000],
            room1000_rates=[10000, 20000],
            sidebar_rates=[1000, 4000, 10000],
            pair_rooms=250,
            pair_rates=[500, 1000, 2000],
            storm=2000,
            idle=[1000, 10000],
            # About 3 minutes for the whole run on a slow 2-core machine: a ramp stops at its
            # first failed rate (the rates past it only show more of the same saturation) and
            # bisects twice below it, steps of 1 s (longer at the rates where 1 s holds
            # fewer than 4,000 deliveries) with a 0.8 s drain, 10 s to open idle sockets (a
            # server that is slower is measured on what it holds), 500 handshakes at once.
            step_seconds=1.0,
            step_deliveries=4000,
            drain_seconds=0.8,  # 4x the 200 ms p99 limit: later frames are loss either way
            refine_steps=2,
            idle_seconds=10.0,
            open_concurrency=500,
            # 40,000 x 1.5^6 = 456,000: far past what one client process or one core serves.
            beyond=6,
        )

    @classmethod
    def tiny(cls) -> "Scale":
        return cls(
            room100_rates=[200],
            room1000_rates=[],
            sidebar_rates=[200],
            pair_rooms=3,
            pair_rates=[20],
            storm=20,
            idle=[10],
            step_seconds=1.0,
            drain_seconds=2.0,
        )

    def users(self) -> int:
        return max(
            [*self.idle, self.storm, 2 * self.pair_rooms, 1000 if self.room1000_rates else 100]
        )

    def rooms(self) -> dict[str, list[int]]:
        """Room name -> member indices. Idle sockets and the storm fill rooms of 100 (a user
        per socket): one room of 10,000 would make every join a 10,000-name presence frame."""
        rooms = {"r100": list(range(100))}
        if self.room1000_rates:
            rooms["r1000"] = list(range(1000))
        for i in range(self.pair_rooms):
            rooms[f"p{i}"] = [2 * i, 2 * i + 1]
        for i in range(-(-self.users() // 100)):
            rooms[f"g{i}"] = list(range(100 * i, min(100 * (i + 1), self.users())))
        # The storm's clients again, in rooms that have a history (storm_history).
        for i in range(-(-self.storm // 100)):
            rooms[f"h{i}"] = list(range(100 * i, min(100 * (i + 1), self.storm)))
        return rooms

    def histories(self) -> dict[str, int]:
        """Room name -> how many messages it holds before the run."""
        return {name: self.history_messages for name in self.rooms() if name.startswith("h")}


@dataclass
class Context:
    server: Server
    client: LoadClient
    room_ids: dict[str, object]  # room name -> what goes in the URL
    sessions: list[str]  # session key per user index (the service only)
    scale: Scale
    results: dict = field(default_factory=dict)
    messages_sent: int = 0
    only: list[str] = field(default_factory=list)

    def spec(self, room: str, user: int) -> SocketSpec:
        headers = {"Origin": self.server.origin}
        opening = 0
        if self.server.needs_login:
            headers["Cookie"] = f"sessionid={self.sessions[user]}"
            opening = 2  # history, presence
        return SocketSpec(
            url=self.server.url(self.room_ids[room]),
            room=room,
            headers=headers,
            opening_frames=opening,
        )

    def room_list_spec(self, room: str, user: int) -> SocketSpec:
        """The user's room list (`/ws/rooms/`, the sidebar every page of a tab holds), told
        apart from `room`'s own sockets: what it hears of the room's messages (unread
        counts) is the server's work, not a delivery the bench counts."""
        return SocketSpec(
            url=f"ws://127.0.0.1:{self.server.port}/ws/rooms/",
            room=f"{room} lists",
            headers={"Origin": self.server.origin, "Cookie": f"sessionid={self.sessions[user]}"},
            opening_frames=1,  # rooms
        )


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def client_cpu(client: LoadClient) -> float:
    total = 0.0
    for pid in client.pids:
        total += process_cpu_seconds(pid)
    return total


def step_duration(scale: Scale, deliveries_per_second: int) -> float:
    """Seconds of traffic in a step at this rate: `step_seconds`, or as long as it takes
    to make `step_deliveries`."""
    return max(scale.step_seconds, scale.step_deliveries / deliveries_per_second)


def run_step(ctx: Context, step: int, deliveries_per_second: int, room_members: dict[str, int],
             senders: list[tuple[int, int]], sender_rooms: list[str]) -> dict:  # fmt: skip
    members = room_members[sender_rooms[0]]
    rate = deliveries_per_second / members  # messages per second
    plan = StepPlan(
        step=step,
        rate=rate,
        duration=step_duration(ctx.scale, deliveries_per_second),
        senders=senders,
        sender_rooms=sender_rooms,
        drain=ctx.scale.drain_seconds,
    )
    cpu_before, client_before = ctx.server.cpu_seconds(), client_cpu(ctx.client)
    result = ctx.client.step(plan)
    cpu = ctx.server.cpu_seconds() - cpu_before
    client_used = client_cpu(ctx.client) - client_before
    ctx.messages_sent += round(rate * plan.duration)
    latencies = result.pop("latencies")
    elapsed = max(plan.duration, result["finished"] - result["t0"])
    received = result["received"]
    row = {
        "target": deliveries_per_second,
        "messages_per_second": round(rate, 1),
        "deliveries_per_second": round(received / elapsed),
        "expected": result["expected"],
        "received": received,
        "loss": result["loss"],
        "duplicates": result["duplicates"],
        "errors": result["errors"],
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else None,
        "cpu_per_1000": round(cpu / received * 1000, 4) if received else None,
        "server_cpu_share": round(cpu / elapsed, 2),
        "client_cpu_share": round(client_used / elapsed, 2),
        "send_lag_max_ms": round(result["send_lag_max_ms"], 1),
    }
    row["ok"] = (
        row["loss"] == 0
        and row["duplicates"] == 0
        and not row["errors"]
        and row["p99_ms"] is not None
        and row["p99_ms"] < HEADLINE_P99_MS
    )
    return row


SETTLED_CPU_SHARE = 0.15
SETTLE_LIMIT_SECONDS = 15.0


def settle(server: Server, window: float = 0.25) -> float:
    """Wait until the server is quiet (under 15% of a core over a short window), so that a
    scenario is not charged for the work the one before left behind: closing 1,000 sockets
    keeps the service busy for seconds. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_LIMIT_SECONDS:
        before = server.cpu_seconds()
        time.sleep(window)
        if (server.cpu_seconds() - before) / window < SETTLED_CPU_SHARE:
            break
    return time.monotonic() - started


PROGRESS_KEYS = ("target", "deliveries_per_second", "loss", "p50_ms", "p99_ms",
                 "server_cpu_share", "client_cpu_share")  # fmt: skip
RECOVERY_SECONDS = 1.0


def rate_ladder(rates: list[int], refine_steps: int, rows: list[dict], beyond: int = 0,
                factor: float = 1.5) -> Iterator[int]:  # fmt: skip
    """The rates of a ramp, given the rows measured so far: up the ladder until the first
    failed rate, then `refine_steps` bisections between the best passed rate and the lowest
    failed one, so that the headline is not rounded down to the ladder's last rung. A system
    that passes every rung climbs up to `beyond` more, each `factor` times the last: the bare
    server passed the whole ladder, so its maximum (the ratio's denominator) was a cap."""
    passed = failed = None
    ladder = list(rates)
    extra = 0
    while ladder:
        rate = ladder.pop(0)
        yield rate
        if not rows[-1]["ok"]:
            failed = rate
            break
        passed = rate
        if not ladder and extra < beyond:
            extra += 1
            ladder.append(int(round(rate * factor, -3)))
    if failed is None or passed is None:
        return
    for _ in range(refine_steps):
        middle = int(round((passed + failed) / 2, -2))
        if not passed < middle < failed:
            return
        yield middle
        if rows[-1]["ok"]:
            passed = middle
        else:
            failed = middle


def next_step(ctx: Context) -> int:
    """A new step number: each step's messages are told apart by it (bench/client.py)."""
    steps = ctx.results.setdefault("_steps", [])
    steps.append(len(steps) + 1)
    return steps[-1]


def warm_up(ctx: Context, rate: int, room_members: dict[str, int], senders: list,
            sender_rooms: list[str]) -> dict:  # fmt: skip
    """One step at the ramp's first rate, not recorded: what a server pays once for its
    first messages (connections opened on first use, statements prepared after a few runs,
    caches filled) is no rate's cost, and it made the first rung of every ramp look dearer
    than the second. Every system gets it; its messages are sent and stored like any."""
    row = run_step(ctx, next_step(ctx), rate, room_members, senders, sender_rooms)
    settle(ctx.server)
    return row


def ramp(ctx: Context, name: str, rooms: list[str], members: int, rates: list[int],
         senders_per_room: int, room_lists: bool = False) -> list[dict]:  # fmt: skip
    """The rooms' members at rising rates (`rate_ladder`); with `room_lists`, each member's
    room list open too, at `rates` only (no climb past them)."""
    specs, order = [], []
    for room in rooms:
        for user in ctx.scale.rooms()[room]:
            specs.append(ctx.spec(room, user))
            order.append(room)
            if room_lists:
                specs.append(ctx.room_list_spec(room, user))
                order.append(f"{room} lists")
    opened, addresses = ctx.client.connect(specs, concurrency=ctx.scale.open_concurrency)
    if opened["opened"] != len(specs):
        raise RuntimeError(f"{name}: only {opened} of {len(specs)} sockets opened")
    time.sleep(0.5)  # let the coalesced presence frames of the joins go by
    settle(ctx.server)  # and whatever the scenario before left (closing sockets is work too)
    senders, sender_rooms = [], []
    by_room: dict[str, list] = {}
    for address, room in zip(addresses, order, strict=True):
        by_room.setdefault(room, []).append(address)  # lists under "<room> lists": no sender
    # Interleave rooms, so that consecutive messages go to different rooms.
    for i in range(senders_per_room):
        for room in rooms:
            senders.append(by_room[room][i])
            sender_rooms.append(room)
    rooms_members = dict.fromkeys(rooms, members)
    warm_up(ctx, rates[0], rooms_members, senders, sender_rooms)
    rows = []
    climb = rate_ladder(rates, ctx.scale.refine_steps, rows, beyond=ctx.scale.beyond)
    for rate in rates if room_lists else climb:
        if rows and not rows[-1]["ok"]:
            time.sleep(RECOVERY_SECONDS)  # a saturated step leaves a backlog behind it
        rows.append(run_step(ctx, next_step(ctx), rate, rooms_members, senders, sender_rooms))
        progress(name, {k: rows[-1][k] for k in PROGRESS_KEYS})
    ctx.client.close_all()
    time.sleep(0.3)
    return rows


STORM_OPEN_TIMEOUT = 10.0  # twice the 5 s target: a client still waiting then has failed it


def idle_memory(ctx: Context) -> list[dict]:
    """RSS growth per socket while `n` logged-in sockets sit idle, read off the server process
    (after a warm-up, so that imports and caches are not charged to the sockets)."""
    warm = [ctx.spec("g0", user) for user in range(min(10, ctx.scale.idle[0]))]
    ctx.client.connect(warm)
    ctx.client.close_all()
    time.sleep(1.0)
    base = ctx.server.rss()
    rows, held = [], 0
    rooms = ctx.scale.rooms()
    group_rooms = [name for name in rooms if name.startswith("g")]
    users = [(room, user) for room in group_rooms for user in rooms[room]]
    started, refused, cursor = time.monotonic(), {}, 0
    for target in ctx.scale.idle:
        # Only while there is time: a server that opens sockets slowly is measured on the
        # sockets it holds, and the row says how many that was. No socket starts after the
        # deadline; those started finish opening.
        batch = users[cursor : cursor + target - held]
        cursor += len(batch)
        specs = [ctx.spec(r, u) for r, u in batch]
        opened, _ = ctx.client.connect(
            specs,
            concurrency=ctx.scale.open_concurrency,
            start_by=started + ctx.scale.idle_seconds,
        )
        held += opened["opened"]
        for name, count in opened["refused"].items():
            refused[name] = refused.get(name, 0) + count
        time.sleep(1.5)
        rss = ctx.server.rss()
        rows.append(
            {
                "sockets": target,
                "opened": held,
                "refused": dict(refused),
                "connect_seconds": round(time.monotonic() - started, 1),
                "rss_mb": round(rss / 2**20, 1),
                "kb_per_socket": round((rss - base) / held / 1024, 1) if held else None,
            }
        )
    ctx.client.close_all()
    time.sleep(1.0)
    return rows


def connect_storm(ctx: Context, prefix: str = "g", room_lists: bool = False) -> dict:
    """Every client at once: the time until the last one has its opening frames. The rooms
    are those named `prefix<n>`: `g` empty ones, `h` rooms with a history. With
    `room_lists`, each client is a browser tab: its room socket and its room list."""
    rooms = ctx.scale.rooms()
    group_rooms = [name for name in rooms if name.startswith(prefix)]
    users = [(room, user) for room in group_rooms for user in rooms[room]][: ctx.scale.storm]
    settle(ctx.server)
    cpu_before = ctx.server.cpu_seconds()
    specs = [ctx.spec(room, user) for room, user in users]
    if room_lists:
        specs += [ctx.room_list_spec(room, user) for room, user in users]
    opened, _ = ctx.client.connect(specs, concurrency=len(specs), open_timeout=STORM_OPEN_TIMEOUT)
    cpu = ctx.server.cpu_seconds() - cpu_before
    ctx.client.close_all()
    time.sleep(1.0)
    return {
        "clients": len(users),
        "opened": opened["opened"],
        "refused": opened["refused"],
        "seconds": round(opened["seconds"], 2),
        "server_cpu_seconds": round(cpu, 2),
    }


STARTED = time.monotonic()


def log(line: str) -> None:
    """A progress line on stderr, stamped with the seconds since the run started."""
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {line}", file=sys.stderr, flush=True)


def progress(name: str, result: object) -> None:
    log(f"  {name}: {result}")


PHASES = [
    ["idle"],
    ["room100", "sidebars", "room1000", "pairs", "storm", "storm_history", "storm_tabs"],
]


def run_phase(ctx: Context, phase: list[str], results: dict) -> None:
    """Idle memory gets a fresh server of its own (a heap grown by the ramps would hide what
    sockets cost); the storm runs last, as a server that falls behind on it may take a while
    to recover."""
    scale, only = ctx.scale, ctx.only or [name for p in PHASES for name in p]
    wanted = [name for name in phase if name in only]
    if "idle" in wanted:
        results["idle"] = idle_memory(ctx)
        progress("idle", results["idle"])
    if "room100" in wanted:
        results["room100"] = ramp(ctx, "room100", ["r100"], 100, scale.room100_rates, 100)
    if ctx.server.needs_login and scale.sidebar_rates and "sidebars" in wanted:  # the service
        rows = ramp(ctx, "sidebars", ["r100"], 100, scale.sidebar_rates, 100, room_lists=True)
        results["sidebars"] = rows
    if scale.room1000_rates and "room1000" in wanted:
        results["room1000"] = ramp(ctx, "room1000", ["r1000"], 1000, scale.room1000_rates, 100)
    if "pairs" in wanted:
        pairs = [f"p{i}" for i in range(scale.pair_rooms)]
        results["pairs"] = ramp(ctx, "pairs", pairs, 2, scale.pair_rates, 2)
    if "storm" in wanted:
        results["storm"] = connect_storm(ctx)
        progress("storm", results["storm"])
    if ctx.server.needs_login and "storm_history" in wanted:  # the others keep no history
        results["storm_history"] = connect_storm(ctx, prefix="h")
        progress("storm_history", results["storm_history"])
    if ctx.server.needs_login and "storm_tabs" in wanted:  # the others have no room lists
        results["storm_tabs"] = connect_storm(ctx, prefix="h", room_lists=True)
        progress("storm_tabs", results["storm_tabs"])


def headline(results: dict) -> int:
    ok = [row["deliveries_per_second"] for row in results.get("room100", []) if row["ok"]]
    return max(ok) if ok else 0


def run_all(ctx: Context) -> dict:
    """Every phase on the one running server (the smoke test's way)."""
    results: dict = {}
    for phase in PHASES:
        run_phase(ctx, phase, results)
    results["headline"] = headline(results)
    return results
