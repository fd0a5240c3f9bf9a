"""Database work off Django's one shared ORM thread.

The async ORM (and `sync_to_async` by default) runs every query on a single thread
(thread_sensitive), so a process does its database work one call at a time: that capped
socket openings near 70/s and stored messages near 300/s (docs/performance.md). Work that
runs in no caller's transaction can go to any thread of the loop's pool instead, each call
with its own pooled PostgreSQL connection (DATABASE_POOL_MAX covers the threads). On
PostgreSQL a socket opening's reads skip the threads altogether (mychannels/runtime/asyncdb.py).
"""

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def reads_pool(name: str, threads: int = 3) -> ThreadPoolExecutor:
    """Threads of their own for one stage of a socket's opening. A socket opens in stages
    (session and user, then room and membership, then the history page), each a hop to a
    thread. On one shared queue, every later stage of every opening waits behind the first
    stage of every later arrival, so in a connect storm all of them finish together, at the
    end; with a queue per stage an opening that has its session moves on at once
    (docs/performance.md). The stages' threads and Django's one ORM thread stay within
    DATABASE_POOL_MAX."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)


def pooled(
    fn: Callable[..., Any], executor: ThreadPoolExecutor | None = None
) -> Callable[..., Any]:
    """`fn` as a coroutine function run on a thread of `executor` (default: the loop's
    pool), its connection handed back to the pool when it returns. The connection is closed
    inside the call: asgiref runs the call in the caller's context, where Django keeps it, so
    channels' database_sync_to_async, which closes outside that context, left one connection
    checked out per call (measured in the test suite: the pool ran dry)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False, executor=executor)
