"""The session engine (SESSION_ENGINE): Django's database sessions, their rows with the user's
id as a column (mychannels/runtime/login_session.py); and hostile session cookies refused.

Django's cookie parser unescapes `"...\\000..."` into a NUL, and PostgreSQL refuses a lookup
with one (DataError): without this, such a cookie made every page answer 500. The socket login
(mychannels/runtime/auth.py) and the HTTP session middleware check the key the same way.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest


class SessionStore(db.SessionStore):
    """Django's database store on LoginSession rows, each saved with the id of the user its
    data logs in. Its class name is the database store's, and so is the salt of its
    signature: the sessions either wrote read the same."""

    @classmethod
    def get_model_class(cls) -> type:
        # Imported when first asked, once the app registry is ready (as Django's own store).
        from mychannels.runtime.login_session import LoginSession

        return LoginSession

    def create_model_instance(self, data: dict) -> Any:
        row = super().create_model_instance(data)
        row.user_id = logged_in_user_id(data)
        return row


def logged_in_user_id(data: dict) -> int | None:
    """The user id a session's data logs in, as the row's integer column; None for none."""
    try:
        user_id = int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None
    return user_id if -(2**31) <= user_id < 2**31 else None  # the column's range


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
