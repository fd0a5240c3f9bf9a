"""Session cookies from hostile clients: a value no session key can be is no session.

Django's cookie parser unescapes `"...\\000..."` into a NUL, and PostgreSQL refuses a lookup
with one (DataError): without this, such a cookie made every page answer 500. The socket login
(mychannels/runtime/auth.py) and the HTTP session middleware check the key the same way.
"""

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest


def usable_session_key(key: str | None) -> str | None:
    """The cookie's session key, or None when it holds a NUL (no session key has one)."""
    if key is None or "\x00" in key:
        return None
    return key


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, reading the cookie through `usable_session_key`."""

    def process_request(self, request: HttpRequest) -> None:
        key = usable_session_key(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        request.session = self.SessionStore(key)
