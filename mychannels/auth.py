"""Session login for sockets: session and user read in one hop, off Django's shared ORM thread.

channels' stack (`CookieMiddleware(SessionMiddleware(AuthMiddleware(...)))`) reads the session
on that one shared thread, puts the user behind a lazy proxy and wraps `send` to save a
modified session, which a socket never does (its save hooks fire on HTTP responses only). That
wrapper ran on every frame sent, and the proxy on every `user.pk`: measured in
docs/performance.md. Here the same reads run on any pool thread, and the scope gets the plain
session and user objects.

Every socket opening pays for these two reads, and Django spent more CPU building their two
ORM queries than PostgreSQL took to answer them (docs/performance.md): the session row and the
user row are read with plain SQL instead, keeping every check Django and channels make (expiry,
signature, backend, active user, the password's session hash).
"""

import functools
from importlib import import_module
from typing import Any

from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends import db as db_sessions
from django.db import connections, router
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chat import asyncdb
from chat.offthread import pooled, reads_pool
from mychannels.sessions import usable_session_key


class SocketSessionStore(db_sessions.SessionStore):
    """The database session store, its one row read with plain SQL (what `load` does with
    `Session.objects.get(session_key=..., expire_date__gt=now)`)."""

    @property
    def key_salt(self) -> str:
        # Django salts the signature with the store's class name: the database store's, so
        # that both read the sessions the HTTP side writes.
        return "django.contrib.sessions." + db_sessions.SessionStore.__qualname__

    def load(self) -> dict[str, Any]:
        model = self.model
        connection = connections[router.db_for_read(model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(self._sql(), [self.session_key, now])
            return self._loaded(cursor.fetchone())

    async def load_on_loop(self) -> None:
        """`load`, on the event loop (chat/asyncdb.py), filling the session's cache."""
        if self.session_key is None:
            self._session_cache = {}
            return
        found = await asyncdb.rows(self._sql(), [self.session_key, timezone.now()])
        self._session_cache = self._loaded(found[0] if found else None)

    def _sql(self) -> str:
        return (
            f"SELECT session_data FROM {self.model._meta.db_table}"
            " WHERE session_key = %s AND expire_date > %s"
        )

    def _loaded(self, row: tuple | None) -> dict[str, Any]:
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])


def _database_sessions() -> bool:
    return import_module(settings.SESSION_ENGINE) is db_sessions


def _session_store(session_key: str | None) -> Any:
    if _database_sessions():
        return SocketSessionStore(session_key)
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


@functools.cache
def _user_sql(columns: str = "u.*") -> str:
    """`ModelBackend.get_user`'s read (an ORM `.get(pk=...)`) as one statement; param: the id."""
    users = get_user_model()
    return f"SELECT {columns} FROM {users._meta.db_table} u WHERE u.{users._meta.pk.column} = %s"


def _read_user(user_id: Any) -> AbstractBaseUser | None:
    found = get_user_model()._default_manager.raw(_user_sql(), [user_id])
    return next(iter(found), None)


async def _read_user_on_loop(user_id: Any) -> AbstractBaseUser | None:
    """`_read_user` on the event loop: the same columns, made into the same model object."""
    users = get_user_model()
    columns, names = asyncdb.select_list(users, "u")
    found = await asyncdb.rows(_user_sql(columns), [user_id])
    return users.from_db(asyncdb.ALIAS, names, found[0]) if found else None


def _claims(session: Any) -> tuple[Any, Any] | None:
    """The session's user id and its backend, if that backend is still configured."""
    try:
        user_id = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    return user_id, load_backend(backend_path)


def _reads_like_model_backend(backend: Any) -> bool:
    return type(backend).get_user is ModelBackend.get_user  # ours and allauth's backend


def _hash_matches(session: Any, user: AbstractBaseUser) -> bool:
    session_hash = session.get(HASH_SESSION_KEY)
    return bool(session_hash) and constant_time_compare(session_hash, user.get_session_auth_hash())


def user_of_session(session: Any) -> AbstractBaseUser | AnonymousUser:
    """channels.auth.get_user: the session's user if its backend is still configured, the user
    may log in, and the session's hash matches the user's password; else AnonymousUser."""
    claims = _claims(session)
    if claims is None:
        return AnonymousUser()
    user_id, backend = claims
    if _reads_like_model_backend(backend):
        user = _read_user(user_id)
        user = user if user is not None and backend.user_can_authenticate(user) else None
    else:
        user = backend.get_user(user_id)
    if user is None:
        return AnonymousUser()
    if not _hash_matches(session, user):
        session.flush()
        return AnonymousUser()
    return user


async def user_of_session_on_loop(session: Any) -> AbstractBaseUser | AnonymousUser:
    """`user_of_session` with the user read on the event loop; another backend's read and
    the flush of a stale session (rare) take a thread hop."""
    claims = _claims(session)
    if claims is None:
        return AnonymousUser()
    user_id, backend = claims
    if _reads_like_model_backend(backend):
        user = await _read_user_on_loop(user_id)
        user = user if user is not None and backend.user_can_authenticate(user) else None
    else:
        user = await pooled(backend.get_user, SESSION_READS)(user_id)
    if user is None:
        return AnonymousUser()
    if not _hash_matches(session, user):
        await pooled(session.flush, SESSION_READS)()
        return AnonymousUser()
    return user


def _session_and_user(session_key: str | None) -> tuple[Any, Any]:
    session = _session_store(usable_session_key(session_key))
    return session, user_of_session(session)


SESSION_READS = reads_pool("session-reads")
_load_session_and_user_on_thread = pooled(_session_and_user, SESSION_READS)


async def _load_session_and_user(session_key: str | None) -> tuple[Any, Any]:
    if not (asyncdb.enabled() and _database_sessions()):
        return await _load_session_and_user_on_thread(session_key)
    session = SocketSessionStore(usable_session_key(session_key))
    await session.load_on_loop()
    return session, await user_of_session_on_loop(session)


class SessionAuthMiddleware(BaseMiddleware):
    """Puts `session` and `user` (an AnonymousUser without a valid session) in the scope."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        scope["session"], scope["user"] = await _load_session_and_user(session_key)
        return await self.inner(scope, receive, send)


def SessionAuthMiddlewareStack(inner: Any) -> CookieMiddleware:
    return CookieMiddleware(SessionAuthMiddleware(inner))
