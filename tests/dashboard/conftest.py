"""Dashboard test helpers: staff users, fresh counters, open dashboard sockets."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from mychannels.dashboard import counters, services
from tests.conftest import Socket, communicator, session_cookie


@sync_to_async
def make_staff(username: str = "operator"):
    return get_user_model().objects.create_user(
        username=username, password="pw-staff-1", is_staff=True
    )


@pytest.fixture(autouse=True)
def fresh_counters(monkeypatch) -> Iterator[None]:
    """In-memory counters are one per process: each test starts from zero."""
    monkeypatch.setattr(counters, "_stores", {})
    monkeypatch.setattr(services, "_room_names", {})
    yield


@pytest.fixture
async def open_dashboard() -> AsyncIterator[Callable[..., Any]]:
    """open(user) -> (Socket, opening stats frame)."""
    opened: list[Socket] = []

    async def open_socket(user):
        comm = communicator("/ws/dashboard/", await session_cookie(user))
        connected, code = await comm.connect(timeout=5)
        assert connected, code
        socket = Socket(comm)
        opened.append(socket)
        stats = await socket.recv()
        assert stats["type"] == "stats", stats
        return socket, stats

    yield open_socket
    for socket in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()
