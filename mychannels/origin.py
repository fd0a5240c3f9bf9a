"""Cross-site WebSocket hijacking defence: a socket's Origin must be the service's own origin
(the scheme, host and port it was opened on, as Django's CSRF check judges a POST) or one of
CSRF_TRUSTED_ORIGINS. Anything else, `null`, or no Origin at all is refused at the handshake."""

from collections.abc import Awaitable
from typing import Any

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def own_origin(scope: dict) -> str | None:
    host = _header(scope, b"host")
    domain = split_domain_port(host)[0] if host else ""
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme", "ws") in ("wss", "https") else "http"
    return f"{scheme}://{host}".lower()


def origin_allowed(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    origin = origin.lower()
    if origin == own_origin(scope):
        return True
    return origin in {o.lower() for o in settings.CSRF_TRUSTED_ORIGINS}


class SameOriginValidator:
    _asgi_single_callable = True  # asgiref's hint: __call__ is plain but returns a coroutine

    def __init__(self, application: Any) -> None:
        self.application = application

    def __call__(self, scope: dict, receive: Any, send: Any) -> Awaitable[Any]:
        # A plain function handing back the chosen application's coroutine: an `async def`
        # here would keep a frame for as long as every socket is open (idle memory).
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return WebsocketDenier()(scope, receive, send)
        return self.application(scope, receive, send)
