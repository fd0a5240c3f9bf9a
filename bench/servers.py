"""The systems under test, each started as its own process on a free port: the real service
(Daphne or uvicorn, Redis channel layer, PostgreSQL, production settings), the tutorial-shaped
consumer on Daphne and the same Redis layer, and the bare `websockets` broadcast server."""

import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

from tests.liveserver import REDIS_URL, free_port, fresh_postgres_database, wait_for_port

BASE_DIR = Path(__file__).resolve().parent.parent
BACKLOG = 4096  # the kernel's somaxconn here; Twisted's default of 50 would refuse a storm


def raise_open_files_limit() -> int:
    """Sockets are files: 10,000 of them need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def bench_database() -> contextlib.AbstractContextManager[str]:
    return fresh_postgres_database(prefix="bench")


@dataclass
class ServiceEnv:
    """Production settings (no DEBUG: it would keep every query in memory) on our own database
    and channel-layer prefix. Flood control stays on (every message still pays for its Redis
    token-bucket call) but with a limit no benchmark sender reaches: it is per-user policy,
    not capacity, and a refused message would show as loss."""

    database_url: str
    redis_url: str = REDIS_URL
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.update(
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="mychannels.settings",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CHANNEL_LAYER_PREFIX=self.prefix,
            CHAT_RATE_PER_SECOND="100000",
            CHAT_RATE_BURST="100000",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra)
        return env


def migrate_and_populate(
    service: ServiceEnv,
    users: int,
    rooms: dict[str, list[int]],
    histories: dict[str, int] | None = None,
    staff: bool = False,
) -> dict:
    env = service.env()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json") as plan:
        plan_data = {"users": users, "rooms": rooms, "histories": histories or {}, "staff": staff}
        json.dump(plan_data, plan)
        plan.flush()
        done = subprocess.run(
            [sys.executable, "-m", "bench.populate", plan.name],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    return json.loads(done.stdout)


def process_cpu_seconds(pid: int) -> float:
    """CPU time of all of a process's threads (those that ended too), to the nanosecond where
    Linux lets another process read it: the tick count in /proc is in 10 ms steps, as much as
    the bare server spends on a whole 1 s step at 1,000 deliveries/s."""
    try:
        return time.clock_gettime_ns(_process_cpu_clock(pid)) / 1e9
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system


def _process_cpu_clock(pid: int) -> int:
    # Linux's clock id for another process's CPU time (MAKE_PROCESS_CPUCLOCK(pid,
    # CPUCLOCK_SCHED)), what clock_getcpuclockid(3) returns; Python only lacks the call.
    return ((~pid) << 3) | 2


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    ws_path: str  # format string with {room}
    needs_login: bool

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, room: object) -> str:
        return f"ws://127.0.0.1:{self.port}{self.ws_path.format(room=room)}"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _start(name, command, env, log_dir: Path, port: int, ws_path: str, needs_login: bool):
    log_path = log_dir / f"{name}.log"
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
    )
    server = Server(name, port, process, log_path, ws_path, needs_login)
    try:
        wait_for_port(port, process, timeout=60)
    except RuntimeError as error:
        server.stop()
        raise RuntimeError(f"{name}: {error}\n{server.log()}") from None
    return server


def daphne_command(app: str, port: int, entry: str = "daphne") -> list[str]:
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={BACKLOG}"
    return [sys.executable, "-m", entry, "-v", "0", "-e", endpoint, app]


def serve_command(app: str, port: int) -> list[str]:
    """The project's server entry (Daphne with the contract's frame limits), as deployed."""
    return daphne_command(app, port, entry="mychannels.serve")


def uvicorn_command(app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--backlog", str(BACKLOG),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        "--ws-per-message-deflate", "false", "--lifespan", "off", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip


def start_service(service: ServiceEnv, log_dir: Path, server: str = "daphne", name="service"):
    port = free_port()
    build = serve_command if server == "daphne" else uvicorn_command
    return _start(
        name,
        build("mychannels.asgi:application", port),
        service.env(),
        log_dir,
        port,
        "/ws/chat/room/{room}/",
        needs_login=True,
    )


def start_tutorial(log_dir: Path, redis_url: str = REDIS_URL, layer: str = "core") -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=f"benchtut{uuid.uuid4().hex[:8]}",
        TUTORIAL_LAYER=layer,
    )
    return _start(
        "tutorial",
        daphne_command("bench.tutorial:application", port),
        env,
        log_dir,
        port,
        "/ws/room/{room}/",
        needs_login=False,
    )


def start_bare(log_dir: Path) -> Server:
    port = free_port()
    return _start(
        "bare",
        [sys.executable, "-m", "bench.bare", str(port)],
        dict(os.environ),
        log_dir,
        port,
        "/room/{room}",
        needs_login=False,
    )


def stored_messages(database_url: str, preloaded_rooms: list[int] = ()) -> int:
    """Messages stored by the run: the rooms that held a history before it (bench.populate)
    are left out, and no scenario sends to them."""
    with psycopg.connect(database_url) as db:
        sql = "SELECT count(*) FROM chat_message WHERE NOT room_id = ANY(%s)"
        return db.execute(sql, [list(preloaded_rooms)]).fetchone()[0]
