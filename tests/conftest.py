"""Shared fixtures: users, rooms, logged-in session cookies and open room sockets."""

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import connections
from django.test import override_settings

from chat.latest_pages import latest_pages
from chat.models import Room
from mychannels.asgi import application
from mychannels.runtime import asyncdb
from mychannels.runtime.sessions import SessionStore
from tests.liveserver import free_port
from tests.services import RedisServer

HOST = "testserver"
ORIGIN = f"http://{HOST}"


@pytest.fixture
def on_postgresql() -> None:
    """For the tests of the event loop's PostgreSQL reads (mychannels/runtime/asyncdb.py):
    without PostgreSQL they fail, never skip."""
    if not asyncdb.enabled():
        pytest.fail("these tests need PostgreSQL (DATABASE_URL)")


@contextlib.contextmanager
def counted_statements(monkeypatch) -> Iterator[list[str]]:
    """Every statement the socket's reads send on the event loop (PostgreSQL, as the suite
    runs: on SQLite the same statements go through Django's raw queries on threads)."""
    if not asyncdb.enabled():
        pytest.fail("these tests need PostgreSQL (DATABASE_URL)")
    yield recorded_calls(monkeypatch, asyncdb, "rows", lambda sql, params: sql)


def recorded_calls(monkeypatch, owner: object, name: str, record: Callable) -> list:
    """Each call of the coroutine function `owner.name`, as `record(*args)`, passed on."""
    seen: list = []
    real = getattr(owner, name)

    async def recording(*args):
        seen.append(record(*args))
        return await real(*args)

    monkeypatch.setattr(owner, name, recording)
    return seen


def counted_hops(monkeypatch, *modules: object) -> list[str]:
    """Each thread hop channels makes to close_old_connections (before a handler, after a
    disconnect), and the hops of `modules` that call it by the same name, as "hop"."""
    import channels.consumer
    import channels.generic.websocket

    hops: list[str] = []
    real_close = channels.consumer.aclose_old_connections

    async def counting_close() -> None:
        hops.append("hop")
        await real_close()

    for module in (channels.consumer, channels.generic.websocket, *modules):
        monkeypatch.setattr(module, "aclose_old_connections", counting_close)
    return hops


def field_values(instance) -> dict:
    """A model object's concrete field values, to compare rows read two ways."""
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@sync_to_async
def make_user(username: str, password: str = "pw-for-tests-1"):
    return get_user_model().objects.create_user(username=username, password=password)


@sync_to_async
def make_room(name: str, members: list = (), is_public: bool = False) -> Room:
    room = Room.objects.create(name=name, is_public=is_public)
    room.users.add(*members)
    return room


@sync_to_async
def session_cookie(user) -> str:
    """A real session, as logging in through the form would leave it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def socket_headers(cookie: str | None = None, origin: str | None = ORIGIN) -> list:
    headers = [(b"host", HOST.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return headers


def communicator(path: str, cookie: str | None = None, origin: str | None = ORIGIN):
    return WebsocketCommunicator(application, path, headers=socket_headers(cookie, origin))


class Socket:
    """A connected room socket with helpers that fail loudly instead of hanging."""

    def __init__(self, comm: WebsocketCommunicator) -> None:
        self.comm = comm

    async def recv(self, timeout: float = 3) -> dict[str, Any]:
        return await self.comm.receive_json_from(timeout=timeout)

    async def recv_type(self, frame_type: str, timeout: float = 3) -> dict[str, Any]:
        """The next frame of this type, skipping others (presence updates, typing...)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.recv(timeout=max(remaining, 0.01))
            if frame["type"] == frame_type:
                return frame

    async def send(self, frame: Any) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def nothing_of(self, frame_type: str, timeout: float = 0.5) -> bool:
        """True when no frame of this type arrives within the timeout. (A receive that times
        out cancels the application under test, so this waits, then drains what is queued.)"""
        await asyncio.sleep(timeout)
        while not await self.comm.receive_nothing(timeout=0.05):
            if (await self.recv())["type"] == frame_type:
                return False
        return True

    async def close(self) -> None:
        await self.comm.disconnect()


async def close_code(socket: Socket, timeout: float = 5) -> int:
    """The code the server closed this socket with, skipping frames sent before it."""
    while True:
        output = await socket.comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output["code"]


async def closed_with(path: str, cookie: str | None) -> int:
    """Open a socket that the server accepts and then closes; return the close code."""
    comm = communicator(path, cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected, "the server accepts, then closes with a code the browser can read"
    output = await comm.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output["code"]


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """A cheap password hasher in this process, as Django advises for tests: at PBKDF2's
    production cost every user a test makes took ~0.4 s of hashing here, and hundreds of
    tests make users. What is tested is unchanged (the same checks, against real hashes); the
    server processes the end-to-end tests start keep the production hashers."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def no_kept_opening_pages() -> None:
    """Each test starts with no room's opening page kept (chat/latest_pages.py): a rolled
    back test database gives the next test's rooms the same ids and versions again."""
    latest_pages().clear()


@pytest.fixture(autouse=True)
async def close_worker_db_connections() -> AsyncIterator[None]:
    """The async ORM keeps a connection in its worker thread; close it after each test so
    the test database can be flushed and dropped."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def open_room_socket() -> AsyncIterator[Callable[..., Any]]:
    """open(user, room, query="") -> (Socket, history frame, presence frame)."""
    opened: list[Socket] = []

    async def open_socket(user, room, query: str = ""):
        comm = communicator(f"/ws/chat/room/{room.pk}/{query}", await session_cookie(user))
        connected, code = await comm.connect(timeout=5)
        assert connected, code
        socket = Socket(comm)
        opened.append(socket)
        history = await socket.recv()
        assert history["type"] == "history", history
        presence = await socket.recv()
        assert presence["type"] == "presence", presence
        return socket, history, presence

    yield open_socket
    for socket in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()  # may be closed by the server or the test already


@sync_to_async
def admin_room_form(room: Room, members: dict[int, str]) -> dict:
    """The admin's room change form as a browser posts it, with the member inline set to
    `members` (user id -> role): rows of others are deleted, new users are added."""
    from chat.models import Membership

    prefix = "membership_set"
    rows = list(Membership.objects.filter(room=room).order_by("pk"))
    form = {
        "name": room.name,
        "topic": room.topic,
        "is_public": "on" if room.is_public else "",
        "created_0": "2026-01-01",
        "created_1": "00:00:00",
        "_save": "Save",
        f"{prefix}-INITIAL_FORMS": str(len(rows)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    existing = {row.user_id for row in rows}
    new = [user_id for user_id in members if user_id not in existing]
    for index, row in enumerate(rows):
        form |= {
            f"{prefix}-{index}-id": str(row.pk),
            f"{prefix}-{index}-room": str(room.pk),
            f"{prefix}-{index}-user": str(row.user_id),
            f"{prefix}-{index}-role": members.get(row.user_id, row.role),
        }
        if row.user_id not in members:
            form[f"{prefix}-{index}-DELETE"] = "on"
    for index, user_id in enumerate(new, start=len(rows)):
        form |= {
            f"{prefix}-{index}-id": "",
            f"{prefix}-{index}-room": str(room.pk),
            f"{prefix}-{index}-user": str(user_id),
            f"{prefix}-{index}-role": members[user_id],
        }
    form[f"{prefix}-TOTAL_FORMS"] = str(len(rows) + len(new))
    return form


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on a free port, that it may stop and start."""
    server = RedisServer(port=free_port(), log_path=tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def socket_file_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own that also listens on a socket file: a URL that
    keeps redis-py's client (RedisLine takes plain redis:// only)."""
    folder = Path(tempfile.mkdtemp(prefix="redis-"))  # a socket file's path is short (108 B)
    server = RedisServer(free_port(), folder / "redis.log", unix_socket=folder / "redis.sock")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)
