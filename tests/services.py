"""Find the real Redis and PostgreSQL servers, or start them; fail loudly when neither works.
Tests that are about these servers never skip silently."""

import glob
import os
import subprocess
import time

import psycopg
import pytest
import redis

from tests.liveserver import POSTGRES_ADMIN_URL, REDIS_URL


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
