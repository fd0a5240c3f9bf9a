"""The load client: worker processes holding real WebSocket connections, driven by the
orchestrator over a pipe.

Open loop: message k of a step is due at t0 + k / rate whatever happened to the ones before,
sent by sender k mod S, so the senders take turns evenly over each interval instead of firing
in step. Each body carries "B|step|k|due time", so latency is measured from when the message
was *due* (client lag counts against the result, never for it), and every receiver checks
off (step, k) once: a missing delivery is loss, a second one a duplicate, never speed.
"""

import asyncio
import contextlib
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import websockets

TAG = "B|"


@dataclass
class SocketSpec:
    url: str
    room: str  # the room's key in the plan (its members all get each message sent to it)
    headers: dict[str, str] = field(default_factory=dict)
    opening_frames: int = 0  # frames the server sends on open (the service: history, presence)


@dataclass
class StepPlan:
    step: int
    rate: float  # messages per second, over all senders
    duration: float
    senders: list[tuple[int, int]]  # global sender order: (worker, local socket index)
    sender_rooms: list[str]  # the room of each global sender
    drain: float = 3.0  # how long to wait for stragglers after the last message was due


@dataclass
class Receiver:
    socket: object
    room: str
    seen: set = field(default_factory=set)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    frames_to_open: int = 0


class Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.receivers: list[Receiver] = []
        self.tasks: list[asyncio.Task] = []
        self.step = -1
        self.latencies: list[float] = []
        self.received = 0
        self.duplicates = 0
        self.errors: dict[str, int] = {}
        self.closed_early = 0
        self.delivered = asyncio.Event()
        self.expected = 0

    # Receiving: one task per socket.
    async def _read(self, receiver: Receiver) -> None:
        try:
            async for text in receiver.socket:
                if receiver.frames_to_open:
                    receiver.frames_to_open -= 1
                    if not receiver.frames_to_open:
                        receiver.opened.set()
                    continue
                self._on_frame(receiver, text)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not getattr(receiver, "closing", False):
                self.closed_early += 1

    def _on_frame(self, receiver: Receiver, text: str) -> None:
        now = time.monotonic()
        frame = json.loads(text)
        body = frame.get("body") or frame.get("message")
        if not isinstance(body, str) or not body.startswith(TAG):
            if frame.get("type") == "error":
                code = frame.get("code", "?")
                self.errors[code] = self.errors.get(code, 0) + 1
            return  # presence, typing: not what is measured
        _, step, number, due = body.split("|")
        if int(step) != self.step:
            return  # a straggler from an earlier step
        key = int(number)
        if key in receiver.seen:
            self.duplicates += 1
            return
        receiver.seen.add(key)
        self.received += 1
        self.latencies.append((now - float(due)) * 1000)
        if self.received >= self.expected:
            self.delivered.set()

    # Commands.
    async def connect(
        self, specs: list[dict], concurrency: int, open_timeout: float, start_by: float | None
    ) -> dict:
        """Open the sockets (at most `concurrency` handshakes at once) and wait for each one's
        opening frames; with `start_by` (a time.monotonic() instant), start none after it.
        Returns how many opened, how many were refused, and how long it took."""
        limit = asyncio.Semaphore(concurrency)
        refused: dict[str, int] = {}
        started = time.monotonic()

        async def open_one(spec: SocketSpec) -> Receiver | None:
            async with limit:
                if start_by is not None and time.monotonic() > start_by:
                    return None  # not tried: out of time
                try:
                    socket = await websockets.connect(
                        spec.url,
                        additional_headers=spec.headers,
                        open_timeout=open_timeout,
                        ping_interval=None,
                        close_timeout=5,
                        # No proxy lookup: by default websockets reads the environment's proxy
                        # variables on every connect, a tenth of the load client's CPU in a storm.
                        proxy=None,
                    )
                except Exception as error:
                    name = type(error).__name__
                    refused[name] = refused.get(name, 0) + 1
                    return None
                receiver = Receiver(socket=socket, room=spec.room)
                receiver.frames_to_open = spec.opening_frames
                if not spec.opening_frames:
                    receiver.opened.set()
                self.tasks.append(asyncio.ensure_future(self._read(receiver)))
                try:
                    await asyncio.wait_for(receiver.opened.wait(), open_timeout)
                except TimeoutError:
                    refused["no opening frames"] = refused.get("no opening frames", 0) + 1
                    return None
                return receiver

        opened = await asyncio.gather(*(open_one(SocketSpec(**spec)) for spec in specs))
        elapsed = time.monotonic() - started
        self.receivers.extend(r for r in opened if r is not None)
        return {
            "opened": sum(r is not None for r in opened),
            "refused": refused,
            "seconds": elapsed,
            "total": len(self.receivers),
        }

    async def run_step(self, plan: StepPlan, t0: float) -> dict:
        self.step = plan.step
        self.latencies = []
        self.received = self.duplicates = self.closed_early = 0
        self.errors = {}
        self.delivered.clear()
        for receiver in self.receivers:
            receiver.seen = set()
        count = round(plan.rate * plan.duration)
        room_sizes: dict[str, int] = {}
        for receiver in self.receivers:
            room_sizes[receiver.room] = room_sizes.get(receiver.room, 0) + 1
        senders = len(plan.senders)
        self.expected = sum(room_sizes.get(plan.sender_rooms[k % senders], 0) for k in range(count))
        if self.expected == 0:
            self.delivered.set()
        mine = [k for k in range(count) if plan.senders[k % senders][0] == self.index]
        send_failures = 0
        lag_max = 0.0
        for k in mine:
            due = t0 + k / plan.rate
            lag_max = max(lag_max, time.monotonic() - due)
            # uvloop's timers round to the millisecond and may wake early: never send before
            # the due time, or a fast server would show a negative latency.
            while (delay := due - time.monotonic()) > 0:  # noqa: ASYNC110 (a timer, not a flag)
                await asyncio.sleep(delay)
            socket = self.receivers[plan.senders[k % senders][1]].socket
            body = f"{TAG}{plan.step}|{k}|{due:.6f}"
            try:
                await socket.send(json.dumps({"type": "message", "body": body}))
            except websockets.ConnectionClosed:
                send_failures += 1
        last_due = t0 + count / plan.rate
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.delivered.wait(), max(0.1, last_due + plan.drain - time.monotonic())
            )
        return {
            "expected": self.expected,
            "received": self.received,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "send_failures": send_failures,
            "closed_early": self.closed_early,
            "latencies": self.latencies,
            "send_lag_max_ms": lag_max * 1000,
            "finished": time.monotonic(),
        }

    async def close_all(self) -> dict:
        started = time.monotonic()
        for receiver in self.receivers:
            receiver.closing = True

        async def close_one(receiver: Receiver) -> None:
            with contextlib.suppress(Exception):
                await receiver.socket.close()

        limit = 500
        for start in range(0, len(self.receivers), limit):
            await asyncio.gather(*(close_one(r) for r in self.receivers[start : start + limit]))
        for task in self.tasks:
            task.cancel()
        self.receivers, self.tasks = [], []
        return {"seconds": time.monotonic() - started}


async def _serve(index: int, pipe: Connection) -> None:
    worker = Worker(index)
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, pipe.recv)
        if command == "stop":
            pipe.send(None)
            return
        if command == "connect":
            result = await worker.connect(**args)
        elif command == "step":
            result = await worker.run_step(StepPlan(**args["plan"]), args["t0"])
        elif command == "close":
            result = await worker.close_all()
        else:
            result = {"error": f"unknown command {command}"}
        pipe.send(result)


def _main(index: int, pipe: Connection) -> None:
    import resource

    import uvloop

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(_serve(index, pipe))


class LoadClient:
    """The orchestrator's handle on the worker processes."""

    def __init__(self, workers: int = 1) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        for index in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_main, args=(index, child), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _all(self, command: str, per_worker_args: list[dict]) -> list[dict]:
        for pipe, args in zip(self.pipes, per_worker_args, strict=True):
            pipe.send((command, args))
        return [pipe.recv() for pipe in self.pipes]

    def connect(
        self,
        specs: list[SocketSpec],
        concurrency: int = 200,
        open_timeout: float = 60,
        start_by: float | None = None,
    ) -> tuple[dict, list]:
        """Spread the sockets over the workers (round robin). Returns the merged result and,
        for each spec, its (worker, local index) address (meaningful when all opened)."""
        per_worker: list[list[dict]] = [[] for _ in self.pipes]
        for i, spec in enumerate(specs):
            per_worker[i % len(self.pipes)].append(spec.__dict__)
        offsets = [0] * len(self.pipes)  # sockets each worker holds already
        results = self._all(
            "connect",
            [
                {
                    "specs": s,
                    "concurrency": max(1, concurrency // len(self.pipes)),
                    "open_timeout": open_timeout,
                    "start_by": start_by,
                }
                for s in per_worker
            ],
        )
        refused: dict[str, int] = {}
        for result in results:
            for name, count in result["refused"].items():
                refused[name] = refused.get(name, 0) + count
        merged = {
            "opened": sum(r["opened"] for r in results),
            "refused": refused,
            "seconds": max(r["seconds"] for r in results),
        }
        for w, result in enumerate(results):
            offsets[w] = result["total"] - result["opened"]
        addresses, counters = [], list(offsets)
        for i in range(len(specs)):
            w = i % len(self.pipes)
            addresses.append((w, counters[w]))
            counters[w] += 1
        return merged, addresses

    def step(self, plan: StepPlan, start_in: float = 0.3) -> dict:
        t0 = time.monotonic() + start_in
        results = self._all("step", [{"plan": plan.__dict__, "t0": t0}] * len(self.pipes))
        latencies = sorted(x for r in results for x in r["latencies"])
        errors: dict[str, int] = {}
        for result in results:
            for code, count in result["errors"].items():
                errors[code] = errors.get(code, 0) + count
        expected = sum(r["expected"] for r in results)
        received = sum(r["received"] for r in results)
        return {
            "t0": t0,
            "expected": expected,
            "received": received,
            "loss": expected - received,
            "duplicates": sum(r["duplicates"] for r in results),
            "errors": errors,
            "send_failures": sum(r["send_failures"] for r in results),
            "closed_early": sum(r["closed_early"] for r in results),
            "send_lag_max_ms": max(r["send_lag_max_ms"] for r in results),
            "latencies": latencies,
            "finished": max(r["finished"] for r in results),
        }

    def close_all(self) -> dict:
        return {"seconds": max(r["seconds"] for r in self._all("close", [{}] * len(self.pipes)))}

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._all("stop", [{}] * len(self.pipes))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
