"""channels' cookie middleware and URL router as plain functions handing back the inner
application's coroutine.

Both are `async def` in channels and only await the application they chose: their frames, and
the scope copies those frames hold, stay suspended for as long as the socket is open, about
0.6 KB of every idle socket (docs/performance.md, idle memory). These do the same work before
the inner application runs and then get out of the way. Errors are raised when called, inside
the coroutine of whatever called them (the protocol router above), so a socket sees the same
failure. Like mychannels/origin.py, each tells asgiref it takes ASGI 3's single call.
"""

from collections.abc import Awaitable
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.sessions import CookieMiddleware
from django.http import parse_cookie
from django.urls.exceptions import Resolver404


class HandoffCookieMiddleware(CookieMiddleware):
    """channels' CookieMiddleware: `scope["cookies"]` from the Cookie header, as Django's
    request.COOKIES."""

    _asgi_single_callable = True

    def __call__(self, scope: dict, receive: Any, send: Any) -> Awaitable[Any]:
        if "headers" not in scope:
            raise ValueError(
                "CookieMiddleware was passed a scope that did not have a headers key "
                "(make sure it is only passed HTTP or WebSocket connections)"
            )
        cookies = {}
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        return self.inner(dict(scope, cookies=cookies), receive, send)


class HandoffURLRouter(URLRouter):
    """channels' URLRouter (the same matching, root_path, nesting and url_route)."""

    _asgi_single_callable = True

    def __call__(self, scope: dict, receive: Any, send: Any) -> Awaitable[Any]:
        path = scope.get("path_remaining", scope.get("path"))
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        if "path_remaining" not in scope:
            # The outermost router: handle root_path if present.
            root_path = scope.get("root_path", "")
            if root_path and not path.startswith(root_path):
                raise ValueError(f"No route found for path {path!r}.")
            path = path[len(root_path) :]
        path = path.lstrip("/")  # as Django matches
        for route in self.routes:
            try:
                match = route.pattern.match(path)
                if match:
                    new_path, args, kwargs = match
                    kwargs.update(route.default_args)
                    outer = scope.get("url_route", {})
                    route_scope = dict(
                        scope,
                        path_remaining=new_path,
                        url_route={
                            "args": outer.get("args", ()) + args,
                            "kwargs": {**outer.get("kwargs", {}), **kwargs},
                        },
                    )
                    # A nested router that matches none of its routes raises here, when
                    # called, and the next route is tried, as in channels.
                    return route.callback(route_scope, receive, send)
            except Resolver404:
                pass
        if "path_remaining" in scope:
            raise Resolver404(f"No route found for path {path!r}.")
        raise ValueError(f"No route found for path {path!r}.")


class HandoffProtocolTypeRouter(ProtocolTypeRouter):
    """channels' ProtocolTypeRouter, still an `async def` application for any server (uvicorn
    tells ASGI 3 from 2 by it), with `handoff`: the same choice as a plain call, for a server
    that knows it (mychannels/runtime/server.py). Its frame and Daphne's first scope would
    otherwise stay suspended under every open socket."""

    def handoff(self, scope: dict, receive: Any, send: Any) -> Awaitable[Any]:
        if scope["type"] not in self.application_mapping:
            raise ValueError(f"No application configured for scope type {scope['type']!r}")
        return self.application_mapping[scope["type"]](scope, receive, send)
