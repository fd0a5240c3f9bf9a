"""Fixtures that start the real service: Daphne processes over SQLite or PostgreSQL + Redis."""

from collections.abc import Iterator

import pytest

from tests.liveserver import (
    ServerProcess,
    ServiceConfig,
    fresh_postgres_database,
    prepare_database,
    start_daphne,
)
from tests.services import ensure_postgres, ensure_redis


@pytest.fixture
def sqlite_service(tmp_path) -> Iterator[ServerProcess]:
    """The newcomer's setup: SQLite and the in-memory channel layer, one Daphne process."""
    config = ServiceConfig(database_url=f"sqlite:///{tmp_path / 'e2e.sqlite3'}")
    prepare_database(config)
    server = start_daphne(config, tmp_path)
    yield server
    server.stop()


@pytest.fixture
def scaled_config(tmp_path) -> Iterator[ServiceConfig]:
    """PostgreSQL and the Redis channel layer, migrated and seeded; start as many
    processes on it as a test needs with start_daphne(config, tmp_path)."""
    ensure_postgres()
    redis_url = ensure_redis()
    with fresh_postgres_database() as database_url:
        config = ServiceConfig(database_url=database_url, redis_url=redis_url)
        config.extra_env["CHANNEL_LAYER_PREFIX"] = config.env()["CHANNEL_LAYER_PREFIX"]
        prepare_database(config)
        yield config
