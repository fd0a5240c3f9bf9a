"""The ramp's rates: up the ladder to the first failure, then bisecting below it, so that a
headline is not rounded down to the ladder's last passed rung (no server, no timing), and the
CPU clock the rows are measured with."""

import subprocess
import sys
import time

import pytest

from bench import scenarios
from bench.scenarios import rate_ladder
from bench.servers import process_cpu_seconds

LADDER = [1000, 2000, 4000, 7000, 10000, 14000, 20000, 30000]


def rates_tried(capacity: int, refine_steps: int = 2) -> list[int]:
    """Run the ladder against a system that passes every rate up to `capacity`."""
    rows: list[dict] = []
    tried = []
    for rate in rate_ladder(LADDER, refine_steps, rows):
        tried.append(rate)
        rows.append({"ok": rate <= capacity})
    return tried


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (2300, [1000, 2000, 4000, 3000, 2500]),  # the tutorial here: 2,000 passed, 4,000 failed
        (8000, [1000, 2000, 4000, 7000, 10000, 8500, 7800]),
        (1000, [1000, 2000, 1500, 1200]),
    ],
)
def test_a_ramp_bisects_between_the_last_pass_and_the_first_failure(capacity, expected):
    assert rates_tried(capacity) == expected
    assert all(isinstance(rate, int) for rate in rates_tried(capacity))


def test_a_system_that_passes_everything_climbs_the_whole_ladder():
    assert rates_tried(10**6) == LADDER


def test_a_system_that_fails_the_first_rung_is_not_bisected():
    assert rates_tried(500) == [1000]  # nothing passed: there is no interval to bisect


def test_no_refinement_stops_at_the_first_failure():
    assert rates_tried(8000, refine_steps=0) == [1000, 2000, 4000, 7000, 10000]


def test_bisection_stops_when_the_interval_is_too_narrow_to_split():
    rows: list[dict] = []
    tried = []
    for rate in rate_ladder([1000, 1100], 5, rows):
        tried.append(rate)
        rows.append({"ok": rate <= 1000})
    assert tried == [1000, 1100]  # the midpoint rounds to one of the ends


def rates_tried_beyond(capacity: int, beyond: int) -> list[int]:
    rows: list[dict] = []
    tried = []
    for rate in rate_ladder(LADDER, 2, rows, beyond=beyond):
        tried.append(rate)
        rows.append({"ok": rate <= capacity})
    return tried


def test_a_system_that_passes_the_whole_ladder_keeps_climbing_to_its_own_failure():
    # 30,000 passed: 45,000 and 68,000 more, 68,000 fails, then the bisections below it.
    assert rates_tried_beyond(50_000, beyond=6) == [*LADDER, 45000, 68000, 56500, 50800]


def test_the_climb_past_the_ladder_has_a_limit():
    assert rates_tried_beyond(10**9, beyond=2) == [*LADDER, 45000, 68000]


def test_a_process_cpu_time_counts_every_thread_to_well_under_a_tick():
    """The bench reads a server's CPU time from the process CPU clock (every thread, those
    that ended too), not /proc's 10 ms ticks."""
    busy = (
        "import threading, time\n"
        "def spin():\n"
        "    end = time.thread_time() + 0.2\n"
        "    while time.thread_time() < end: pass\n"
        "t = threading.Thread(target=spin); t.start(); t.join()\n"
        "spin()\n"
        "input()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", busy], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while process_cpu_seconds(child.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        used = process_cpu_seconds(child.pid)
        assert 0.4 <= used < 1.5  # both threads' 0.2 s, the ended one's included
        assert round(used, 2) != used  # nanoseconds, not 10 ms ticks
    finally:
        child.communicate(b"\n", timeout=30)


class StandInClient:
    """The load client's `connect` and `close_all`, for a ramp run without sockets."""

    def connect(self, specs, concurrency):
        return {"opened": len(specs)}, [f"socket {i}" for i in range(len(specs))]

    def close_all(self):
        pass


def test_a_ramp_warms_up_at_its_first_rate_before_recording(monkeypatch):
    steps = []

    def stand_in_step(ctx, step, rate, room_members, senders, sender_rooms):
        steps.append((step, rate))
        return {"ok": rate <= 2000, **dict.fromkeys(scenarios.PROGRESS_KEYS)}

    monkeypatch.setattr(scenarios, "run_step", stand_in_step)
    monkeypatch.setattr(scenarios, "settle", lambda server: 0.0)
    monkeypatch.setattr(scenarios.time, "sleep", lambda seconds: None)
    scale = scenarios.Scale(
        room100_rates=[1000, 2000, 4000], room1000_rates=[], pair_rooms=0, pair_rates=[],
        storm=0, idle=[100],
    )  # fmt: skip
    ctx = scenarios.Context(None, StandInClient(), {"r100": 1}, ["key"] * 100, scale)
    ctx.spec = lambda room, user: (room, user)
    rows = scenarios.ramp(ctx, "room100", ["r100"], 100, scale.room100_rates, 10)
    # Step 1 is the warm-up at the first rate; the rows are the ladder's steps only.
    assert steps == [(1, 1000), (2, 1000), (3, 2000), (4, 4000)]
    assert [row["ok"] for row in rows] == [True, True, False]


def test_a_step_lasts_long_enough_for_its_minimum_of_deliveries():
    full = scenarios.Scale.full()
    assert scenarios.step_duration(full, 1000) == full.step_deliveries / 1000 > full.step_seconds
    assert scenarios.step_duration(full, 40000) == full.step_seconds
    tiny = scenarios.Scale.tiny()
    assert scenarios.step_duration(tiny, 200) == tiny.step_seconds
