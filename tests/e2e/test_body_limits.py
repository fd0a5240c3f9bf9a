"""An upload body over the limit is refused before the server buffers it, whatever server runs
the application (docs/security.md, Files; the contract: "nothing written to disk past the
limit: the request body is not read whole into memory"): plain `daphne`, the project's
`python -m mychannels.serve`, `manage.py runserver` and uvicorn, each a real process on SQLite
and a real Redis, started once per server kind for the whole module.

Daphne's Twisted request read the whole body (into a temporary file past 100,000 bytes, or
without a Content-Length) before the application saw it; mychannels/runtime/httpbody.py
refuses it as it arrives. uvicorn streams the body to the application, where
mychannels/runtime/bodylimit.py refuses it.

What the server did with the bytes is read from /proc: its resident memory, the bytes it
wrote with write() (`wchar`: files, not sockets, which Twisted and uvicorn write with send()),
the files it holds open in its temporary folder (an unlinked temporary file shows there as
"(deleted)"), and that folder's listing. All traffic is to 127.0.0.1; every loop is bounded
in count and time."""

import json
import os
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.liveserver import (
    SERVER_KINDS,
    ServerProcess,
    ServiceConfig,
    login,
    prepare_database,
    room_id,
    start_server,
)
from tests.services import ensure_redis

pytestmark = pytest.mark.e2e

# The file limit for these servers: small, so that a body well past it is quick to send. The
# server's own limit (HTTP_MAX_BODY_BYTES) follows it: the file limit plus 64 KiB of framing.
FILE_LIMIT = 1024 * 1024
BODY_LIMIT = FILE_LIMIT + 64 * 1024
# What an oversized client declares or offers: far more than anything the checks allow.
DECLARED = 64 * 1024 * 1024
CHUNK = 64 * 1024
# What the server may grow or write while refusing: much less than what the client offers.
MAX_RSS_GROWTH = 16 * 1024 * 1024
MAX_WRITTEN = BODY_LIMIT + 256 * 1024  # a chunked body is spooled up to the limit, no further
ANSWER_WITHIN = 5.0  # seconds
SEND_FOR_AT_MOST = 10.0  # seconds


@dataclass
class ProcessStats:
    rss: int
    written: int
    temp_fds: list[str]


def process_stats(pid: int, temp_dir: Path) -> ProcessStats:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    rss_kib = int(rss_line.split()[1])
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    temp_fds = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(temp_dir)):
            temp_fds.append(target)
    return ProcessStats(rss=rss_kib * 1024, written=int(io["wchar"]), temp_fds=temp_fds)


@dataclass
class LiveService:
    kind: str
    server: ServerProcess
    temp_dir: Path
    session: httpx.Client
    room: int

    def stats(self) -> ProcessStats:
        return process_stats(self.server.process.pid, self.temp_dir)

    def upload_head(self, framing: bytes) -> bytes:
        """An upload request's head, as the browser sends it (session cookie, CSRF token)."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.session.cookies.items())
        lines = [
            f"POST /api/rooms/{self.room}/attachments/ HTTP/1.1",
            f"Host: 127.0.0.1:{self.server.port}",
            f"Cookie: {cookie}",
            f"X-CSRFToken: {self.session.cookies['csrftoken']}",
            f"Origin: {self.server.origin}",
            f"Referer: {self.server.origin}/",
            "Content-Type: multipart/form-data; boundary=b",
        ]
        return ("\r\n".join(lines) + "\r\n").encode() + framing + b"\r\n"

    def assert_temp_dir_untouched(self) -> None:
        assert list(self.temp_dir.iterdir()) == [], f"{self.kind} left files in its TMPDIR"
        assert self.stats().temp_fds == [], f"{self.kind} holds files in its TMPDIR"


@pytest.fixture(scope="module", params=SERVER_KINDS)
def service(request, tmp_path_factory) -> Iterator[LiveService]:
    kind = request.param
    log_dir = tmp_path_factory.mktemp(f"body-limits-{kind}")
    temp_dir = log_dir / "tmp"
    temp_dir.mkdir()
    config = ServiceConfig(
        database_url=f"sqlite:///{log_dir / 'db.sqlite3'}", redis_url=ensure_redis()
    )
    config.extra_env.update(
        CHAT_ATTACHMENT_MAX_BYTES=str(FILE_LIMIT),
        DJANGO_MEDIA_ROOT=str(log_dir / "media"),
        CHAT_UPLOAD_BURST="100",
    )
    prepare_database(config)
    # Only the server gets the test's TMPDIR: migrations and the seed may leave files of theirs.
    config.extra_env["TMPDIR"] = str(temp_dir)
    server = start_server(config, log_dir, kind)
    session = login(server, "alice")
    try:
        yield LiveService(kind, server, temp_dir, session, room_id(session, "general"))
    finally:
        session.close()
        server.stop()


def read_response(sock: socket.socket, timeout: float = ANSWER_WITHIN) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one response, read until its Content-Length or EOF."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "no response"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(headers.get("content-length", -1))
    while (length < 0 or len(body) < length) and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def assert_too_large(status: int, headers: dict, body: bytes) -> None:
    assert status == 413, (status, body)
    assert headers.get("content-type") == "application/json"
    assert json.loads(body)["error"] == "too_large"


def offer(sock: socket.socket, chunk: bytes, total: int, stop_when_answered: bool) -> int:
    """Send `chunk` until `total` bytes, the server stops taking them (a send blocked for a
    second: its buffers are full) or drops the connection, or SEND_FOR_AT_MOST passes; with
    `stop_when_answered`, also once the server's answer is readable. Returns bytes sent."""
    sock.settimeout(1.0)
    sent = 0
    deadline = time.monotonic() + SEND_FOR_AT_MOST
    for _ in range(total // len(chunk) + 1):
        if sent >= total or time.monotonic() > deadline:
            break
        if stop_when_answered and select.select([sock], [], [], 0)[0]:
            break
        try:
            sent += sock.send(chunk)
        except (TimeoutError, OSError):
            break
    return sent


PART_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'


def test_a_declared_length_over_the_limit_is_413_before_the_body(service):
    before = service.stats()
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(service.upload_head(f"Content-Length: {DECLARED}\r\n".encode()) + PART_HEAD)
        # Answered on the head alone: the server waits for none of the body.
        assert_too_large(*read_response(sock))
        assert time.monotonic() - started < ANSWER_WITHIN
        # A client that sends the body anyway: the server reads none of it (or drops it).
        offered = offer(sock, b"\x00" * CHUNK, DECLARED, stop_when_answered=False)
    after = service.stats()
    assert after.rss - before.rss < MAX_RSS_GROWTH, (offered, after.rss - before.rss)
    assert after.written - before.written < MAX_WRITTEN, (offered, after.written - before.written)
    service.assert_temp_dir_untouched()


def test_a_chunked_body_is_cut_at_the_limit_with_413(service):
    before = service.stats()
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=5) as sock:
        sock.sendall(service.upload_head(b"Transfer-Encoding: chunked\r\n"))
        framing = f"{len(PART_HEAD):x}\r\n".encode() + PART_HEAD + b"\r\n"
        sock.sendall(framing)
        chunk = f"{CHUNK:x}\r\n".encode() + b"\x00" * CHUNK + b"\r\n"
        offered = offer(sock, chunk, DECLARED, stop_when_answered=True)
        assert_too_large(*read_response(sock))
    after = service.stats()
    assert offered > BODY_LIMIT, "the client offered more than the limit"
    assert after.rss - before.rss < MAX_RSS_GROWTH, (offered, after.rss - before.rss)
    assert after.written - before.written < MAX_WRITTEN, (offered, after.written - before.written)
    service.assert_temp_dir_untouched()


def test_an_upload_under_the_limit_still_works(service):
    # Past Twisted's 100,000 bytes held in memory: Daphne spools it to a temporary file, as
    # before (and closes it after).
    data = os.urandom(FILE_LIMIT - 1024)
    response = service.session.post(
        f"/api/rooms/{service.room}/attachments/",
        files={"file": ("fine.bin", data, "application/octet-stream")},
        headers={
            "X-CSRFToken": service.session.cookies["csrftoken"],
            "Origin": service.server.origin,
            "Referer": f"{service.server.origin}/",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(data)
    download = service.session.get(response.json()["url"])
    assert download.status_code == 200 and download.content == data
    service.assert_temp_dir_untouched()


def test_a_client_waiting_for_100_continue_gets_the_413_instead(service):
    """curl asks before sending a large body: it is told 413, never to go on."""
    head = f"Content-Length: {DECLARED}\r\nExpect: 100-continue\r\n".encode()
    with socket.create_connection(("127.0.0.1", service.server.port), timeout=5) as sock:
        sock.sendall(service.upload_head(head))
        status, headers, body = read_response(sock)
    assert_too_large(status, headers, body)
    service.assert_temp_dir_untouched()
