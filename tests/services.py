"""Find the real Redis and PostgreSQL servers, or start them; fail loudly when neither works.
Tests that are about these servers never skip silently. Also the scaled service on them: a
fresh PostgreSQL database, one Redis layer prefix and as many server processes as asked."""

import contextlib
import glob
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from tests.liveserver import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    ServerProcess,
    ServiceConfig,
    fresh_postgres_database,
    prepare_database,
    start_servers,
)


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError:
        return False


def _postgres_up() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _wait(check, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def start_redis() -> None:
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=False,
        capture_output=True,
    )


def ensure_redis() -> str:
    if not _redis_up():
        start_redis()
        if not _wait(_redis_up):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 and could not be started")
    return REDIS_URL


def ensure_postgres() -> str:
    if not _postgres_up():
        versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
        if versions:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
                check=False,
                capture_output=True,
            )
        if not _wait(_postgres_up):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started")
    return POSTGRES_ADMIN_URL


@dataclass
class ScaledService:
    config: ServiceConfig
    servers: list[ServerProcess]


@contextlib.contextmanager
def scaled_service(
    log_dir: Path, processes: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[ScaledService]:
    """PostgreSQL (a fresh database, migrated and seeded) and the Redis channel layer, as
    docs/deploy.md runs them, with `processes` servers (`python -m mychannels.serve`) started
    on them together; stopped and dropped afterwards. More processes can be started on
    `config` with start_daphne(config, log_dir)."""
    ensure_postgres()
    redis_url = ensure_redis()
    with fresh_postgres_database() as database_url:
        config = ServiceConfig(database_url, redis_url, extra_env=dict(extra_env or {}))
        # One layer prefix for every process, or they would not hear each other.
        config.extra_env.setdefault("CHANNEL_LAYER_PREFIX", config.env()["CHANNEL_LAYER_PREFIX"])
        prepare_database(config)
        servers = start_servers(config, log_dir, processes)
        try:
            yield ScaledService(config, servers)
        finally:
            for server in servers:
                server.stop()


class RedisServer:
    """A redis-server of this test's own, on a free port, that it may kill and restart."""

    def __init__(self, port: int, log_path, unix_socket: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.unix_socket = unix_socket  # also listen on this socket file (redis-py's path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        assert self.unix_socket is not None, "started without a socket file"
        return f"unix://{self.unix_socket}?db=0"

    def start(self) -> None:
        socket_file = ["--unixsocket", str(self.unix_socket)] if self.unix_socket else []
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                *socket_file,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
