"""Session login for sockets: session and user read in one hop, off Django's shared ORM thread.

channels' stack (`CookieMiddleware(SessionMiddleware(AuthMiddleware(...)))`) reads the session
on that one shared thread, puts the user behind a lazy proxy and wraps `send` to save a
modified session, which a socket never does (its save hooks fire on HTTP responses only). That
wrapper ran on every frame sent, and the proxy on every `user.pk`: measured in
docs/performance.md. Here the same reads (channels' own `get_user`, which checks the session's
auth hash) run on any pool thread, and the scope gets the plain session and user objects.
"""

from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings

from chat.offthread import pooled, reads_pool


def _session_and_user(session_key: str | None) -> tuple[Any, Any]:
    if session_key and "\x00" in session_key:
        # No session key has one, and PostgreSQL refuses the lookup (DataError): the cookie
        # parser turns an escaped `"...\\000"` in a cookie into a NUL. No session, then.
        session_key = None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return session, get_user.func({"session": session})


SESSION_READS = reads_pool("session-reads")
_load_session_and_user = pooled(_session_and_user, SESSION_READS)


class SessionAuthMiddleware(BaseMiddleware):
    """Puts `session` and `user` (an AnonymousUser without a valid session) in the scope."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        scope["session"], scope["user"] = await _load_session_and_user(session_key)
        return await self.inner(scope, receive, send)


def SessionAuthMiddlewareStack(inner: Any) -> CookieMiddleware:
    return CookieMiddleware(SessionAuthMiddleware(inner))
