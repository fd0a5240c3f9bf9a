"""Session login for sockets, read off Django's one shared ORM thread."""

from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from chat.offthread import pooled

# channels' get_user loads the session row and then the user in one hop, but on the single
# thread every async ORM call shares (thread_sensitive), which capped socket openings near
# 70/s (docs/performance.md). It reads in no caller's transaction, so any pool thread will do
# (chat/offthread.py).
_user_of_scope = pooled(get_user.func)


class PooledAuthMiddleware(AuthMiddleware):
    """channels' AuthMiddleware, with the session + user load on any pool thread."""

    async def resolve_scope(self, scope: dict) -> None:
        scope["user"]._wrapped = await _user_of_scope(scope)


def PooledAuthMiddlewareStack(inner: Any) -> CookieMiddleware:
    return CookieMiddleware(SessionMiddleware(PooledAuthMiddleware(inner)))
