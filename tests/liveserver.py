"""Real service processes for end-to-end tests: a fresh database, migrations, the demo data
and Daphne on a free port, exactly as `make run` starts it. Also a logged-in HTTP client that
goes through the real allauth form, and the matching WebSocket headers."""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
POSTGRES_ADMIN_URL = f"{POSTGRES_SERVER_URL}/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
DEMO_PASSWORD = "chat-demo-2026"
# End-to-end tests post faster than a person types; flood control has its own tests.
FAST_POSTING = {
    "CHAT_RATE_PER_SECOND": "1000",
    "CHAT_RATE_BURST": "1000",
    "CHAT_REQUEST_RATE_PER_SECOND": "1000",
    "CHAT_REQUEST_BURST": "1000",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s")


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "e2e") -> Iterator[str]:
    """A new, empty PostgreSQL database for one test's (or bench run's) processes; dropped
    afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER_URL}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class ServiceConfig:
    database_url: str
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.pop("REDIS_URL", None)
        env.update(DJANGO_DEBUG="1", DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        env["DJANGO_SETTINGS_MODULE"] = "mychannels.settings"
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            env["CHANNEL_LAYER_PREFIX"] = (
                env.get("CHANNEL_LAYER_PREFIX", "e2e") + uuid.uuid4().hex[:6]
            )
        env.update(self.extra_env)
        return env


def manage(config: ServiceConfig, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`python manage.py <args>` on the service's configuration, its output captured as text
    (`check`: raise when it fails)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=config.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def migrate_and_seed(config: ServiceConfig) -> None:
    """Run `manage.py migrate` and `seed_demo` on the service's database, as `make run` does."""
    manage(config, "migrate", "--noinput", "-v0", check=True)
    manage(config, "seed_demo", check=True)


# The migrated, seeded database of each engine, made once per test session and copied for
# every fresh database: the schema and the demo data do not depend on the service's settings,
# and two manage.py processes cost seconds where a copy costs milliseconds.
_migrated: dict[str, str] = {}


def _drop_migrated_copies() -> None:
    for engine, template in _migrated.items():
        if engine == "postgres":
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        else:
            shutil.rmtree(Path(template).parent, ignore_errors=True)
    _migrated.clear()


def _migrated_template(engine: str) -> str:
    """The name (PostgreSQL) or file (SQLite) of this session's migrated, seeded database."""
    if engine not in _migrated:
        if not _migrated:
            atexit.register(_drop_migrated_copies)
        if engine == "postgres":
            name = f"e2e_template_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            _migrated[engine] = name  # dropped at exit even if migrating fails
            migrate_and_seed(ServiceConfig(database_url=f"{POSTGRES_SERVER_URL}/{name}"))
        else:
            path = Path(tempfile.mkdtemp(prefix="e2e-template-")) / "migrated.sqlite3"
            _migrated[engine] = str(path)
            migrate_and_seed(ServiceConfig(database_url=f"sqlite:///{path}"))
    return _migrated[engine]


def prepare_database(config: ServiceConfig) -> None:
    """Make the service's fresh, empty database migrated and seeded, as `make run` leaves it:
    a copy of the session's migrated database (PostgreSQL: CREATE DATABASE ... TEMPLATE;
    SQLite: the file), so every caller still gets a database of its own."""
    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.exists() and path.stat().st_size:
            raise RuntimeError(f"{path} is not a fresh database")
        shutil.copyfile(_migrated_template("sqlite"), path)
    elif url.startswith(f"{POSTGRES_SERVER_URL}/"):
        name = url.removeprefix(f"{POSTGRES_SERVER_URL}/")
        with psycopg.connect(url) as target:
            tables = target.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()[0]
        if tables:
            raise RuntimeError(f"database {name} is not a fresh database")
        template = _migrated_template("postgres")
        # The empty database is replaced by a copy of the template under the same name.
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    else:
        migrate_and_seed(config)


@dataclass
class ServerProcess:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


# Every server the application is run on (the contract: "whatever ASGI server runs the
# application"), as its users start it. `serve` is the project's entry, as `make run`'s
# processes and docs/security.md start it.
SERVER_KINDS = ("daphne", "serve", "runserver", "uvicorn")


def server_command(kind: str, port: int) -> list[str]:
    application = "mychannels.asgi:application"
    if kind == "daphne":  # as the tutorials run it: no flags of the project's
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application]
    if kind == "serve":  # Daphne with the contract's frame limits (docs/security.md)
        return [
            *(sys.executable, "-m", "mychannels.serve"),
            *("-b", "127.0.0.1", "-p", str(port), application),
        ]
    if kind == "runserver":  # channels' Daphne runserver, on the project's server class
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    if kind == "uvicorn":  # ProtocolTypeRouter has no lifespan: uvicorn would log its refusal
        return [
            *(sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)),
            *("--lifespan", "off", application),
        ]
    raise ValueError(f"unknown server kind {kind!r}; one of {SERVER_KINDS}")


def launch_server(
    config: ServiceConfig, log_dir: Path, kind: str = "serve", port: int | None = None
) -> ServerProcess:
    """One server process of the given kind (SERVER_KINDS), not yet listening: see
    wait_until_listening."""
    port = port or free_port()
    log_path = log_dir / f"{kind}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            server_command(kind, port),
            cwd=BASE_DIR,
            env=config.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return ServerProcess(port=port, process=process, log_path=log_path)


def wait_until_listening(server: ServerProcess) -> ServerProcess:
    try:
        wait_for_port(server.port, server.process, timeout=60)
    except RuntimeError as error:
        server.stop()
        raise RuntimeError(f"{error}\n{server.log()}") from None
    return server


def start_server(
    config: ServiceConfig, log_dir: Path, kind: str = "serve", port: int | None = None
) -> ServerProcess:
    """One server process of the given kind (SERVER_KINDS) on the service's configuration,
    returned once it listens."""
    return wait_until_listening(launch_server(config, log_dir, kind, port))


def start_servers(
    config: ServiceConfig, log_dir: Path, count: int, kind: str = "serve"
) -> list[ServerProcess]:
    """`count` server processes on one configuration, launched together so that their start
    ups overlap; returned once every one listens."""
    servers = [launch_server(config, log_dir, kind) for _ in range(count)]
    try:
        for server in servers:
            wait_until_listening(server)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def start_daphne(config: ServiceConfig, log_dir: Path, port: int | None = None) -> ServerProcess:
    """The project's server entry (`python -m mychannels.serve`), as production runs it."""
    return start_server(config, log_dir, "serve", port)


@contextlib.contextmanager
def sqlite_daphne(folder: Path, extra_env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """The newcomer's setup in `folder`: a migrated, seeded SQLite database, the in-memory
    channel layer and one process of the project's entry, stopped on the way out."""
    config = ServiceConfig(
        database_url=f"sqlite:///{folder / 'e2e.sqlite3'}", extra_env=dict(extra_env or {})
    )
    prepare_database(config)
    server = start_daphne(config, folder)
    try:
        yield server
    finally:
        server.stop()


def attempt_login(
    client: httpx.Client,
    server: ServerProcess,
    username: str,
    password: str,
    host: str | None = None,
) -> httpx.Response:
    """POST the real allauth login form (CSRF token and all): 302 when it logs the client in,
    the form again (200) with its errors when it does not. `host` is the Host header a proxy
    in front of several processes would pass them all (by default the process's own)."""
    headers = {"Host": host} if host else {}
    origin = f"http://{host}" if host else server.origin
    page = client.get(f"{server.url}/accounts/login/", headers=headers)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return client.post(
        f"{server.url}/accounts/login/",
        data={"login": username, "password": password, "csrfmiddlewaretoken": token},
        headers={**headers, "Referer": f"{origin}/accounts/login/", "Origin": origin},
    )


def login(server: ServerProcess, username: str, password: str = DEMO_PASSWORD) -> httpx.Client:
    """An HTTP client logged in through the real allauth form (CSRF token and all)."""
    client = httpx.Client(base_url=server.url, timeout=10, follow_redirects=False)
    response = attempt_login(client, server, username, password)
    assert response.status_code == 302, f"login failed for {username}: {response.status_code}"
    assert "sessionid" in client.cookies, "no session cookie after logging in"
    return client


def socket_headers(server: ServerProcess, client: httpx.Client) -> dict[str, str]:
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return {"Cookie": cookie, "Origin": server.origin}


def room_id(client: httpx.Client, name: str) -> int:
    """A demo room's id, read off the room list page."""
    page = client.get("/")
    match = re.search(rf'href="/chat/room/(\d+)/">{re.escape(name)}<', page.text)
    assert match, f"room {name!r} is not in the list"
    return int(match.group(1))
