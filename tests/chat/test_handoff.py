"""What an open socket's application stack keeps (idle memory): the cookie middleware and the
URL router hand back the inner coroutine with channels' results (mychannels/runtime/handoff.py),
and the login step's suspended frame holds no scope."""

import asyncio
import inspect
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.sessions import CookieMiddleware
from django.urls import path, re_path

from mychannels.runtime.auth import SessionAuthMiddleware, SessionAuthMiddlewareStack
from mychannels.runtime.handoff import HandoffCookieMiddleware, HandoffURLRouter


def recorder(name: str, seen: list):
    async def app(scope: dict, receive: Any, send: Any) -> None:
        seen.append((name, scope))

    return app


def routes(seen: list, nested: type) -> list:
    return [
        path("ws/chat/room/<int:room_id>/", recorder("room", seen)),
        path("ws/rooms/", recorder("rooms", seen)),
        path("ws/alerts/", nested([path("feed/<str:kind>/", recorder("feed", seen))])),
        re_path(r"^ws/alerts/(?P<rest>.*)$", recorder("fallback", seen)),
    ]


ROUTED = [
    {"path": "/ws/chat/room/7/"},
    {"path": "/ws/rooms/"},
    {"path": "/ws/alerts/feed/news/"},
    {"path": "/ws/alerts/other/"},  # the nested router has no route: the next one is tried
    {"path": "/prefix/ws/rooms/", "root_path": "/prefix"},
]


async def routed_by(router_class: type, scope: dict) -> tuple:
    seen: list = []
    scope = {"type": "websocket", **scope}
    await router_class(routes(seen, router_class))(scope, None, None)
    ((name, routed),) = seen
    return name, routed


@pytest.mark.parametrize("scope", ROUTED)
async def test_the_handoff_router_routes_as_channels_does(scope):
    assert await routed_by(HandoffURLRouter, scope) == await routed_by(URLRouter, scope)


@pytest.mark.parametrize(
    "scope", [{"path": "/nowhere/"}, {"path": "/ws/rooms/", "root_path": "/x"}]
)
async def test_the_handoff_router_refuses_what_channels_refuses(scope):
    with pytest.raises(ValueError, match="No route found"):
        await routed_by(URLRouter, scope)
    with pytest.raises(ValueError, match="No route found"):
        await routed_by(HandoffURLRouter, scope)


def test_the_handoff_router_and_cookies_hand_back_the_inner_coroutine_itself():
    """No frame of theirs stays suspended under the socket's."""
    seen: list = []
    app = HandoffCookieMiddleware(HandoffURLRouter(routes(seen, HandoffURLRouter)))
    scope = {"type": "websocket", "path": "/ws/rooms/", "headers": []}
    coroutine = app(scope, None, None)
    try:
        assert inspect.iscoroutine(coroutine)
        assert coroutine.cr_code.co_name == "app"  # the routed application's own
    finally:
        coroutine.close()


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"cookie", b"sessionid=abc; csrftoken=x")],
        [(b"host", b"h"), (b"cookie", b'a="b\\"c"; sessionid=z')],
    ],
)
async def test_the_handoff_cookie_middleware_parses_as_channels_does(headers):
    async def cookies_of(middleware: type) -> dict:
        found = {}

        async def inner(scope, receive, send):
            found.update(scope)

        await middleware(inner)({"type": "websocket", "headers": headers}, None, None)
        return found

    assert await cookies_of(HandoffCookieMiddleware) == await cookies_of(CookieMiddleware)


def test_the_handoff_cookie_middleware_refuses_a_scope_without_headers():
    with pytest.raises(ValueError, match="headers"):
        HandoffCookieMiddleware(None)({"type": "websocket"}, None, None)


async def test_the_login_steps_frame_keeps_no_scope_while_the_socket_runs(monkeypatch):
    async def no_session(key):
        return "session", "user"

    monkeypatch.setattr("mychannels.runtime.auth.session_and_user", no_session)
    running = asyncio.Event()
    release = asyncio.Event()
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)
        running.set()
        await release.wait()

    login = SessionAuthMiddlewareStack(inner)(
        {"type": "websocket", "headers": [(b"cookie", b"sessionid=k")]}, "receive", "send"
    )
    task = asyncio.ensure_future(login)
    await running.wait()
    assert (seen["session"], seen["user"], seen["cookies"]) == (
        "session",
        "user",
        {"sessionid": "k"},
    )
    frame = task.get_coro().cr_frame
    assert frame.f_code is SessionAuthMiddleware.__call__.__code__
    assert set(frame.f_locals) == {"self", "inner"}
    release.set()
    await task


async def test_the_protocol_router_hands_off_the_chosen_application_and_still_awaits_as_channels():
    from mychannels.runtime.handoff import HandoffProtocolTypeRouter

    seen: list = []
    router = HandoffProtocolTypeRouter({"websocket": recorder("socket", seen)})
    coroutine = router.handoff({"type": "websocket"}, None, None)
    assert coroutine.cr_code.co_name == "app"  # no frame of the router's above it
    await coroutine
    await router({"type": "websocket"}, None, None)  # as an application of its own
    assert [name for name, _ in seen] == ["socket", "socket"]
    with pytest.raises(ValueError, match="No application configured"):
        router.handoff({"type": "lifespan"}, None, None)
    with pytest.raises(ValueError, match="No application configured"):
        await router({"type": "lifespan"}, None, None)


async def test_the_server_starts_a_socket_with_the_routers_handoff():
    from mychannels.runtime.server import ChatServer

    seen: list = []

    class Router:
        async def __call__(self, scope, receive, send):
            raise AssertionError("the server should take the handoff")

        def handoff(self, scope, receive, send):
            return recorder("socket", seen)(scope, receive, send)

    server = ChatServer(application=Router(), endpoints=["tcp:port=0"])  # not run
    socket = object()
    server.connections = {socket: {}}
    server.create_application(socket, {"type": "websocket", "path": "/", "headers": []})
    await server.connections[socket]["application_instance"]
    assert [name for name, _ in seen] == ["socket"]


def test_a_sessions_login_strings_are_the_shared_ones():
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from mychannels.runtime.auth import _shared_strings

    decoded = {
        "_auth_user_id": "12",
        "_auth_user_backend": "".join(settings.AUTHENTICATION_BACKENDS[0]),  # a fresh copy
        "_auth_user_hash": "ab" * 32,
        "other": [1],
    }
    shared = _shared_strings(dict(decoded))
    assert shared == decoded
    keys = {key: key for key in shared}
    assert keys[SESSION_KEY] is SESSION_KEY and keys[HASH_SESSION_KEY] is HASH_SESSION_KEY
    assert shared[BACKEND_SESSION_KEY] is settings.AUTHENTICATION_BACKENDS[0]
    unknown = {BACKEND_SESSION_KEY: "not.a.configured.Backend"}
    assert _shared_strings(unknown) == unknown
