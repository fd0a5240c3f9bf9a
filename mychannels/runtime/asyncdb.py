"""A socket opening's reads, and a message's insert, on the event loop itself, through an
async psycopg pool.

Each read on a pool thread (offthread.py) hands the GIL to the thread and back several
times (the submit, every wait on PostgreSQL's socket, the result), and in a connect storm the
server is CPU-bound: the three hops of an opening cost about 1.3 of its 3.9 ms of CPU
(docs/performance.md). Here the same plain SQL runs on the loop, waiting on the socket like
any other I/O. PostgreSQL only (SQLite, for development, keeps the threads); each statement
in autocommit (its own transaction, committed when it returns), in no caller's transaction;
psycopg's errors become Django's, so callers handle one kind.

A few connections per event loop, opened on first use and closed with the loop.
"""

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connections
from psycopg import postgres, pq
from psycopg.adapt import AdaptersMap

from mychannels.runtime.loopcache import PerLoop
from mychannels.runtime.offthread import pooled, reads_pool

ALIAS = "default"
Params = Sequence[Any] | Mapping[str, Any]  # psycopg's %s or %(name)s placeholders


@functools.cache
def operations() -> Any:
    """The database's operations (`connection.ops`), from one connection object made once.
    Reaching `connections[ALIAS]` from a socket's task makes a connection object for that
    task (asgiref's Local keeps one per context), held for as long as the socket is open:
    2.7 KB of every idle socket (docs/performance.md). Only its settings are used here."""
    return connections[ALIAS].ops


def enabled() -> bool:
    """Whether the opening's reads run on the loop: on PostgreSQL."""
    return operations().connection.vendor == "postgresql"


@functools.cache  # asked on every socket opening, always the same answer
def select_list(model: type, alias: str) -> tuple[str, tuple[str, ...]]:
    """A model's columns for a SELECT (`alias.column, ...`) and their attribute names, in
    the order `model.from_db(ALIAS, names, values)` takes a row. Generated columns (a
    search index's vector) are the database's own and left out: they load deferred."""
    fields = [field for field in model._meta.concrete_fields if not field.generated]
    columns = ", ".join(f"{alias}.{field.column}" for field in fields)
    return columns, tuple(field.attname for field in fields)


# psycopg's own default: a statement is prepared on a connection once it has run this often.
PREPARE_AFTER_RUNS = 5


def _connection_params() -> dict[str, Any]:
    """Django's own connection parameters (its type adapters too, so that rows come back as
    the ORM would read them), in autocommit: each read is its own statement. Prepared after
    a few runs unless DATABASE_LOOP_PREPARED is off: Django turns that off for the ORM."""
    django_connection = connections[ALIAS]
    params = dict(django_connection.get_connection_params())
    params.pop("cursor_factory", None)  # Django's sync cursor class
    # Django sets its time zone on each connection it opens (`ensure_timezone`), and its
    # loaders label the times PostgreSQL sends as that zone. Without this, a server set to
    # another zone shifted every time read here (the parameters, aware, were always right).
    startup = [f"-c TimeZone={django_connection.timezone_name}"]
    # Django's OPTIONS["assume_role"] is a SET ROLE on each connection it opens; here it is
    # the same setting given at startup, so the loop's statements run with the same rights.
    if role := django_connection.settings_dict["OPTIONS"].get("assume_role"):
        startup.append(f"-c role={_startup_value(role)}")
    params["options"] = " ".join(filter(None, [params.get("options"), *startup]))
    params["autocommit"] = True
    params["prepare_threshold"] = PREPARE_AFTER_RUNS if settings.DATABASE_LOOP_PREPARED else None
    if settings.USE_TZ:
        params["context"] = _with_psycopgs_own_time_loader(params["context"])
    return params


def _startup_value(value: str) -> str:
    """A value for libpq's `options`, where a space separates settings and a backslash
    escapes the next character."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _with_psycopgs_own_time_loader(django_adapters: AdaptersMap) -> AdaptersMap:
    """Django's adapters with psycopg's own loader for timestamptz. Django's subclasses
    psycopg's pure-Python class only to label each time with the connection's zone (UTC with
    USE_TZ, set above), which psycopg's loader, in C with psycopg[binary], does itself:
    equal values, and a history page of 50 messages costs 1.1 ms of CPU instead of 1.6
    (docs/performance.md)."""
    adapters = AdaptersMap(django_adapters)
    adapters.register_loader("timestamptz", _PSYCOPG_TIMESTAMPTZ_LOADER)
    return adapters


_PSYCOPG_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    postgres.types["timestamptz"].oid, pq.Format.TEXT
)


class LoopConnections:
    """Up to `size` connections for one event loop, the idle ones kept for the next read,
    each with the cursor it reads through: a cursor made per statement cost an eighth to a
    quarter of the statement's CPU on the loop (119 against 89-104 us for one short
    statement run back to back, docs/performance.md).

    Not psycopg_pool's AsyncConnectionPool: its worker tasks are cancelled before a loop
    closes (asyncio.Runner, asgiref), after which it cannot close its connections, and every
    test's loop would leave some open. This one has no task of its own; a read that fails on
    a kept connection (PostgreSQL restarted) is tried once more on a new one.
    """

    def __init__(self, size: int, wait: float) -> None:
        self._idle: list[psycopg.AsyncCursor] = []
        self._slots = asyncio.Semaphore(size)
        self._wait = wait

    async def rows(self, sql: str, params: Params, *, retry: bool = True) -> list[tuple]:
        """The statement's rows. With `retry`, a statement that fails on a kept connection
        (PostgreSQL restarted meanwhile) is sent once more on a new one: right for a read,
        not for a write (`write`)."""
        await self._take_slot()
        try:
            if self._idle:
                try:
                    return await self._read(self._idle.pop(), sql, params)
                except psycopg.OperationalError:
                    if not retry:
                        raise
            return await self._read(await self._connect(), sql, params)
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free now: no wait, so no timer to arm and cancel
            return
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise OperationalError(f"no database connection free within {self._wait} s") from None

    async def _connect(self) -> psycopg.AsyncCursor:
        return (await psycopg.AsyncConnection.connect(**_connection_params())).cursor()

    async def _read(self, cursor: psycopg.AsyncCursor, sql: str, params: Params) -> list[tuple]:
        try:
            await cursor.execute(sql, params)
            found = await cursor.fetchall()
        except BaseException:  # failed or cancelled mid-statement: its state is unknown
            await cursor.connection.close()
            raise
        self._idle.append(cursor)
        return found

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for cursor in idle:
            await cursor.connection.close()


def _loop_connections() -> LoopConnections:
    return LoopConnections(settings.DATABASE_LOOP_POOL_MAX, settings.DATABASE_LOOP_POOL_WAIT)


_per_loop = PerLoop(_loop_connections, close=LoopConnections.close)


async def rows(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Every row of one read-only statement, on this loop's connections."""
    return await _statement(sql, params, retry=True)


async def write(sql: str, params: Params) -> list[tuple]:
    """The rows a writing statement returns, committed when this returns. Sent once: a
    connection can die after the commit, before the answer, so only the caller knows whether
    sending it again is safe."""
    return await _statement(sql, params, retry=False)


async def _statement(sql: str, params: Params, *, retry: bool) -> list[tuple]:
    try:
        return await _per_loop.get().rows(sql, params, retry=retry)
    except psycopg.OperationalError as error:
        raise OperationalError(str(error)) from error
    except psycopg.IntegrityError as error:
        raise IntegrityError(str(error)) from error
    except psycopg.Error as error:
        raise DatabaseError(str(error)) from error


def model_instance(
    model: type, names: Sequence[str], row: Sequence[Any], extra: Sequence[str]
) -> Any:
    """A row of `select_list(model)` columns, then `extra` columns, as a model instance with
    the extra values as attributes (what a raw queryset does with annotations)."""
    instance = model.from_db(ALIAS, names, row[: len(names)])
    for name, value in zip(extra, row[len(names) :], strict=True):
        setattr(instance, name, value)
    return instance


def _raw_on_thread(model: type, sql: str, params: Sequence[Any]) -> list[Any]:
    return list(model._default_manager.raw(sql, params))


class Reads:
    """One stage of a socket opening's reads, as model instances, in one control flow for
    every database: `sql(columns)` builds the statement once for both ways of running it.

    On PostgreSQL the statement runs on the event loop (the three thread hops of an opening
    cost about 1.3 of its 3.9 ms of CPU in a storm, docs/performance.md); elsewhere (SQLite,
    for development) it runs as Django's raw query, which converts SQLite's values, on
    threads of this stage's own (mychannels/runtime/offthread.py: later arrivals' first
    stage must not queue ahead of earlier arrivals' later stages).
    """

    def __init__(self, name: str, threads: int = 3) -> None:
        self.executor = reads_pool(name, threads)
        self._on_thread = pooled(_raw_on_thread, self.executor)

    async def instances(
        self,
        model: type,
        alias: str,
        sql: Callable[[str], str],
        params: Sequence[Any],
        extra: Sequence[str] = (),
    ) -> list[Any]:
        """`model` instances of `sql(columns)`, a statement whose select list is `columns`
        (the model's, as `alias.column, ...`) followed by the `extra` columns."""
        if not enabled():
            return await self._on_thread(model, sql(f"{alias}.*"), params)
        columns, names = select_list(model, alias)
        found = await rows(sql(columns), params)
        return [model_instance(model, names, row, extra) for row in found]
