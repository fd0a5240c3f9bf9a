"""Fixtures that start the real service: Daphne processes over SQLite or PostgreSQL + Redis."""

from collections.abc import Iterator

import pytest

from tests.liveserver import ServerProcess, ServiceConfig, prepare_database, start_daphne
from tests.services import scaled_service


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
    with scaled_service(tmp_path, processes=0) as service:
        yield service.config
