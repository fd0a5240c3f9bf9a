"""Fixtures that start the real service: Daphne processes over SQLite or PostgreSQL + Redis,
and Chromium."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import chromium
from tests.liveserver import ServerProcess, ServiceConfig, sqlite_daphne
from tests.services import scaled_service


@pytest.fixture(autouse=True)
def close_worker_db_connections() -> Iterator[None]:
    """tests/conftest.py's is async, and cannot run while a module's browser holds sync
    Playwright's event loop (it marks that loop running between calls). End-to-end tests open
    no database connection of their own: they talk to the service's processes."""
    yield


@pytest.fixture(scope="module")
def module_chromium() -> Iterator[Browser]:
    """One Chromium for the module's tests. Not for the session: sync Playwright's loop would
    stay marked running into the async tests of later modules."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def browser(module_chromium: Browser) -> Iterator[Browser]:
    """The module's Chromium, with no browser context open (log_in and new_visitor make one
    per user); whatever the test leaves open is closed, so that no page of it keeps running
    (and reconnecting) into the next test."""
    assert module_chromium.contexts == [], "a previous test left a browser context open"
    yield module_chromium
    for context in module_chromium.contexts:
        context.close()


@pytest.fixture
def sqlite_service(tmp_path) -> Iterator[ServerProcess]:
    """The newcomer's setup: SQLite and the in-memory channel layer, one Daphne process."""
    with sqlite_daphne(tmp_path) as server:
        yield server


@pytest.fixture
def scaled_config(tmp_path) -> Iterator[ServiceConfig]:
    """PostgreSQL and the Redis channel layer, migrated and seeded; start as many
    processes on it as a test needs with start_daphne(config, tmp_path)."""
    with scaled_service(tmp_path, processes=0) as service:
        yield service.config
