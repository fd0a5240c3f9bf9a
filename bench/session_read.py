"""`python -m bench.session_read`: a socket login's reads, the project's session row read against
Django's own `cached_db` session engine on the Redis cache.

Each engine logs one user in, then the socket login (`mychannels.runtime.auth.session_and_user`)
runs `--calls` times in a loop on a fresh PostgreSQL database: the figure is the process CPU
and wall time per call, the median of `--rounds` rounds. The user row is read the same way in
both; only the session read differs (a plain-SQL row on the event loop, or Django's cache
lookup on a thread, falling back to the database on a miss).
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from bench.servers import BASE_DIR, bench_database
from tests.liveserver import REDIS_URL
from tests.services import ensure_postgres, ensure_redis

ENGINES = {
    "db (mychannels/runtime/auth.py row read)": "mychannels.runtime.sessions",
    "cached_db on RedisCache (Django's own)": "django.contrib.sessions.backends.cached_db",
}


def configure(database_url: str) -> None:
    os.environ.update(DJANGO_DEBUG="0", DATABASE_URL=database_url, DJANGO_LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-session-read-" + "x" * 40)
    os.environ["DJANGO_SETTINGS_MODULE"] = "mychannels.settings"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=os.environ,
        check=True,
        timeout=300,
    )
    import django

    django.setup()


def session_key_for(engine: str) -> str:
    from importlib import import_module

    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    user, _ = get_user_model().objects.get_or_create(username="bench-session")
    user.set_password("bench-session-pw-2026")
    user.save()
    session = import_module(engine).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


async def login_loop(key: str, calls: int) -> tuple[float, float]:
    from mychannels.runtime.auth import session_and_user

    assert (await session_and_user(key))[1].is_authenticated  # warm: connections, cache
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await session_and_user(key)
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def measure(engine: str, calls: int, rounds: int) -> tuple[float, float]:
    from asgiref.sync import sync_to_async
    from django.test import override_settings

    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bench-session-read",
        }
    }
    with override_settings(SESSION_ENGINE=engine, CACHES=caches):
        key = session_key_for(engine)

        async def run() -> list[tuple[float, float]]:
            await sync_to_async(lambda: None)()
            return [await login_loop(key, calls) for _ in range(rounds)]

        results = asyncio.run(run())
    cpu = statistics.median(r[0] for r in results)
    wall = statistics.median(r[1] for r in results)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_postgres()
    ensure_redis()
    with bench_database() as database_url:
        configure(database_url)
        print(f"socket login, {args.calls} calls x {args.rounds} rounds (median per call)")
        print("| session engine | CPU ms per login | wall ms per login |")
        print("|---|---|---|")
        for label, engine in ENGINES.items():
            cpu, wall = measure(engine, args.calls, args.rounds)
            print(f"| {label} | {cpu * 1000:.3f} | {wall * 1000:.3f} |")


if __name__ == "__main__":
    main()
