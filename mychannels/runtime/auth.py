"""Session login for sockets: the session and user rows read without Django's shared ORM thread.

channels' stack (`CookieMiddleware(SessionMiddleware(AuthMiddleware(...)))`) reads the session
on that one shared thread, puts the user behind a lazy proxy and wraps `send` to save a
modified session, which a socket never does (its save hooks fire on HTTP responses only). That
wrapper ran on every frame sent, and the proxy on every `user.pk`: measured in
docs/performance.md. Here the same reads run on the event loop (PostgreSQL) or threads of their
own (SQLite; mychannels/runtime/asyncdb.py), and the scope gets the plain session and user objects.

Every socket opening pays for these two reads, and Django spent more CPU building their two
ORM queries than PostgreSQL took to answer them (docs/performance.md): the session row and the
user row are read with plain SQL instead, keeping every check Django and channels make (expiry,
signature, backend, active user, the password's session hash). With the project's session
engine on PostgreSQL both rows come in one statement, the user joined by the session row's
`user_id` (mychannels/runtime/login_session.py), and the sessions of sockets opening at the
same time in one statement together (mychannels/runtime/keyedreads.py); the signed data still
names the user, and a row whose column names another (or none) has its user read apart.
"""

import functools
from importlib import import_module
from typing import Any

from channels.middleware import BaseMiddleware
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
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from mychannels.runtime import asyncdb
from mychannels.runtime import sessions as project_sessions
from mychannels.runtime.handoff import HandoffCookieMiddleware
from mychannels.runtime.keyedreads import KeyedReads
from mychannels.runtime.offthread import pooled
from mychannels.runtime.sessions import usable_session_key


class SocketSessionStore(project_sessions.SessionStore):
    """The project's session store, its one row read with plain SQL (what `load` does with
    `LoginSession.objects.get(session_key=..., expire_date__gt=now)`), on the socket's reads."""

    @property
    def key_salt(self) -> str:
        # Django salts the signature with the store's class name: the engine's, so that both
        # read the sessions the HTTP side writes.
        return "django.contrib.sessions." + project_sessions.SessionStore.__qualname__

    async def aload_row(self) -> None:
        """`load`, filling the session's cache, as one read of SESSION_READS."""
        if self.session_key is None:
            self._session_cache = {}
            return
        found = await SESSION_READS.instances(self.model, "s", _session_sql, self._row_params())
        self._fill(found[0].session_data if found else None)

    async def aload_row_and_user(self) -> AbstractBaseUser | None:
        """`aload_row`, with the user the row's `user_id` names joined in the same statement
        (PostgreSQL only), read with the other openings' sessions (SESSIONS_AND_USERS): that
        user, or None without a row or a user."""
        if self.session_key is None:
            self._session_cache = {}
            return None
        found = await SESSIONS_AND_USERS.rows(self.session_key)
        self._fill(found[0][0] if found else None)
        if not found or found[0][1] is None:
            return None
        users = get_user_model()
        return users.from_db(asyncdb.ALIAS, asyncdb.select_list(users, "u")[1], found[0][1:])

    def _row_params(self) -> list[Any]:
        return [self.session_key, _now()]

    def _fill(self, session_data: str | None) -> None:
        if session_data is None:  # no such session, or expired
            self._session_key = None
            self._session_cache = {}
            return
        self._session_cache = _shared_strings(self.decode(session_data))


_LOGIN_KEYS = {key: key for key in (SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY)}


def _shared_strings(data: dict) -> dict:
    """The decoded session with the login's keys and its backend's path as the one string
    each that every session has: an open socket keeps its session for its whole life, and
    those were a fresh copy in each (idle memory, docs/performance.md). Equal strings."""
    backend = data.get(BACKEND_SESSION_KEY)
    shared = {_LOGIN_KEYS.get(key, key): value for key, value in data.items()}
    for path in settings.AUTHENTICATION_BACKENDS:
        if backend == path:
            shared[BACKEND_SESSION_KEY] = path
    return shared


@functools.cache
def _session_sql(columns: str) -> str:
    table = project_sessions.SessionStore.get_model_class()._meta.db_table
    return f"SELECT {columns} FROM {table} s WHERE s.session_key = %s AND s.expire_date > %s"


def _now() -> Any:
    return asyncdb.operations().adapt_datetimefield_value(timezone.now())


@functools.cache
def _sessions_and_users_sql() -> str:
    """Per session key that has a row: the key, the session's data, then the columns of the
    user its `user_id` names (NULLs for none); params: the session keys, now."""
    table = project_sessions.SessionStore.get_model_class()._meta.db_table
    users = get_user_model()
    columns = asyncdb.select_list(users, "u")[0]
    return (
        f"SELECT s.session_key, s.session_data, {columns} FROM {table} s"
        f" LEFT JOIN {users._meta.db_table} u ON u.{users._meta.pk.column} = s.user_id"
        " WHERE s.session_key = ANY(%s) AND s.expire_date > %s"
    )


# Every socket opening's first read (PostgreSQL): a storm's openings read theirs together.
SESSIONS_AND_USERS = KeyedReads(_sessions_and_users_sql, shared=lambda: [_now()])


def _database_sessions() -> bool:
    return import_module(settings.SESSION_ENGINE) is project_sessions


async def _load_session(session_key: str | None) -> tuple[Any, AbstractBaseUser | None]:
    """The session of the cookie, and the user its row names when one statement read both:
    the project engine's row on SESSION_READS (with the user on PostgreSQL); any other
    engine (signed cookies, cache) loads itself, on a thread of the same stage."""
    if _database_sessions():
        session = SocketSessionStore(session_key)
        if asyncdb.enabled():
            return session, await session.aload_row_and_user()
        await session.aload_row()
        return session, None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    await pooled(session._get_session, SESSION_READS.executor)()  # loads and keeps its cache
    return session, None


@functools.cache
def _user_sql(columns: str) -> str:
    """`ModelBackend.get_user`'s read (an ORM `.get(pk=...)`) as one statement; param: the id."""
    users = get_user_model()
    return f"SELECT {columns} FROM {users._meta.db_table} u WHERE u.{users._meta.pk.column} = %s"


async def _read_user(user_id: Any) -> AbstractBaseUser | None:
    found = await SESSION_READS.instances(get_user_model(), "u", _user_sql, [user_id])
    return found[0] if found else None


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


async def user_of_session(
    session: Any, joined: AbstractBaseUser | None = None
) -> AbstractBaseUser | AnonymousUser:
    """channels.auth.get_user: the session's user if its backend is still configured, the user
    may log in, and the session's hash matches the user's password; else AnonymousUser. The
    model backend's read is one statement on SESSION_READS, unless `joined` (read with the
    session's row) is the user the session names; another backend's read and the flush of a
    stale session (rare) take a thread hop."""
    claims = _claims(session)
    if claims is None:
        return AnonymousUser()
    user_id, backend = claims
    if _reads_like_model_backend(backend):
        named = joined is not None and joined.pk == user_id
        user = joined if named else await _read_user(user_id)
        user = user if user is not None and backend.user_can_authenticate(user) else None
    else:
        user = await pooled(backend.get_user, SESSION_READS.executor)(user_id)
    if user is None:
        return AnonymousUser()
    if not _hash_matches(session, user):
        await pooled(session.flush, SESSION_READS.executor)()
        return AnonymousUser()
    return user


# The first stage of every socket opening (mychannels/runtime/asyncdb.py).
SESSION_READS = asyncdb.Reads("session-reads")


async def session_and_user(session_key: str | None) -> tuple[Any, Any]:
    """The cookie's session and its user (AnonymousUser without a valid one)."""
    session, joined = await _load_session(usable_session_key(session_key))
    return session, await user_of_session(session, joined)


class SessionAuthMiddleware(BaseMiddleware):
    """Puts `session` and `user` (an AnonymousUser without a valid session) in the scope."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        session, user = await session_and_user(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        inner = self.inner(dict(scope, session=session, user=user), receive, send)
        # This frame stays suspended for the socket's whole life: it keeps nothing of the
        # connection but the inner coroutine (the scope it was handed would be a second copy
        # held for as long; idle memory, docs/performance.md).
        del scope, receive, send, session, user
        return await inner


def SessionAuthMiddlewareStack(inner: Any) -> HandoffCookieMiddleware:
    """The cookies, then the session and user, as channels' stack; the cookie step hands back
    the inner coroutine instead of awaiting it (mychannels/runtime/handoff.py)."""
    return HandoffCookieMiddleware(SessionAuthMiddleware(inner))
