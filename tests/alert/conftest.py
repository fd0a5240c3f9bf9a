"""Alert test helpers: logged-in HTTP clients with a real CSRF token, and open alert sockets."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from chat.tokens import token_create
from tests.conftest import Socket, communicator, session_cookie


async def logged_in(user) -> AsyncClient:
    """A client that enforces CSRF as a browser meets it, with the user's session."""
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(user)
    return client


async def csrf_token(client: AsyncClient, page: str = "/alerts/") -> str:
    """The token a page hands the browser (its cookie), as the page's JavaScript reads it."""
    response = await client.get(page)
    assert response.status_code == 200, response.status_code
    return client.cookies["csrftoken"].value


async def bearer(user, name: str = "bot") -> dict[str, str]:
    _, token = await token_create(user=user, name=name)
    return {"Authorization": f"Bearer {token}"}


@sync_to_async
def make_staff(username: str = "operator"):
    return get_user_model().objects.create_superuser(username=username, password="pw-staff-1")


@pytest.fixture
async def open_alert_socket() -> AsyncIterator[Callable[..., Any]]:
    """open(user, path) -> (Socket, history frame) for /ws/alerts/ or /ws/alert/room/<id>/."""
    opened: list[Socket] = []

    async def open_socket(user, path: str):
        comm = communicator(path, await session_cookie(user))
        connected, code = await comm.connect(timeout=5)
        assert connected, code
        socket = Socket(comm)
        opened.append(socket)
        history = await socket.recv()
        assert history["type"] == "history" and set(history) == {"type", "alerts"}, history
        return socket, history

    yield open_socket
    for socket in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()
