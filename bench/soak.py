"""`python -m bench --soak MINUTES`: the service for a long while at half its headline rate.

One 100-member room, every member sending in turn (client ids `soak-<n>`), typing frames
and reactions (`{"type": "react", "id", "emoji", "on"}`) mixed in; every minute 5% of the
members close and reconnect with `?since=<highest version seen>`, as the browser does. At
the end: server RSS after the first minute and at the end (growth is a leak), error frames,
1011 closes, every sent message stored once, every acknowledged message stored, and every
stored message delivered to every member live or in its catch-up page.

One client process (uvloop), not the measuring load client: the rate is half the headline,
and what matters here is what the members see, not latency.
"""

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field

import psycopg
import websockets

from bench.scenarios import Context, log

RECONNECT_SHARE = 0.05
TYPING_EVERY = 5  # a typing frame before one message in five
REACT_EVERY = 4  # a reaction after one message in four
EMOJI = ["👍", "🎉", "❤️", "😂"]


@dataclass
class Member:
    """One member's socket, resuming as static/chat/room/versions.js does: `?since=` the
    contiguous version mark (the highest version up to which every version was seen:
    broadcasts from different senders do not arrive in version order), and a catch-up
    page that says `has_more` is followed by another from its last version."""

    index: int
    spec: object
    socket: object = None
    seen: set[int] = field(default_factory=set)
    mark: int = 0  # every version up to this one seen
    versions: set[int] = field(default_factory=set)  # seen above the mark
    acked: set[str] = field(default_factory=set)  # client ids whose echo came back
    errors: int = 0
    unasked_closes: dict[int, int] = field(default_factory=dict)
    reconnects: int = 0
    reader: asyncio.Task | None = None
    since: int | None = None  # what the current socket asked for
    page_done: asyncio.Event = field(default_factory=asyncio.Event)
    more: bool = False  # the catch-up page said has_more

    def url(self, since: bool) -> str:
        self.since = self.mark if since and self.mark else None
        return self.spec.url + (f"?since={self.since}" if self.since is not None else "")

    async def open(self, since: bool) -> None:
        """Open, and with `since`, page on until the catch-up has no more."""
        while True:
            self.page_done.clear()
            self.socket = await websockets.connect(
                self.url(since), additional_headers=self.spec.headers, ping_interval=None,
                open_timeout=30, max_size=None,
            )  # fmt: skip
            self.reader = asyncio.ensure_future(self._read(self.socket))
            await asyncio.wait_for(self.page_done.wait(), 30)
            if not (since and self.more):
                return
            old, self.socket = self.socket, None
            with contextlib.suppress(Exception):
                await old.close()

    def _see_version(self, version: int | None) -> None:
        if not version or version <= self.mark:
            return
        self.versions.add(version)
        while self.mark + 1 in self.versions:
            self.mark += 1
            self.versions.discard(self.mark)

    def _raise_mark(self, version: int) -> None:
        """Every version up to `version` is accounted for (a page that covers them)."""
        self.mark = max(self.mark, version)
        self.versions = {v for v in self.versions if v > self.mark}
        while self.mark + 1 in self.versions:
            self.mark += 1
            self.versions.discard(self.mark)

    def _note(self, message: dict) -> None:
        self.seen.add(message["id"])
        self._see_version(message.get("version"))

    def _opening_page(self, frame: dict) -> None:
        """The opening history: the latest page, or with `since` every change after it up
        to the page's last version (the room's version when nothing more is left)."""
        versions = [m.get("version") or 0 for m in frame.get("messages", [])]
        self.more = bool(frame.get("has_more"))
        if self.since is None or not self.more:
            self._raise_mark(frame.get("version") or 0)
        else:
            self._raise_mark(max(versions, default=self.since))
        self.page_done.set()

    async def _read(self, socket) -> None:
        opening = True
        try:
            async for text in socket:
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "message":
                    self._note(frame)
                    if frame.get("client_id"):
                        self.acked.add(frame["client_id"])
                elif kind == "history":
                    for message in frame.get("messages", []):
                        self._note(message)
                    if opening:
                        self._opening_page(frame)
                        opening = False
                elif kind in ("message_updated", "message_deleted"):
                    self._note(frame["message"])
                elif kind == "reactions":
                    self._see_version(frame.get("version"))
                elif kind == "error":
                    self.errors += 1
        except websockets.ConnectionClosed:
            pass
        code = socket.close_code
        if socket is self.socket and code is not None:  # not a close we asked for
            self.unasked_closes[code] = self.unasked_closes.get(code, 0) + 1
            # As the browser does (a 1012, or a socket the server dropped because it fell
            # too far behind): open again and catch up from the mark.
            self.socket = None
            with contextlib.suppress(Exception):
                await self.open(since=True)

    async def reconnect(self) -> None:
        old, self.socket = self.socket, None
        with contextlib.suppress(Exception):
            await old.close()
        self.reconnects += 1
        await self.open(since=True)

    async def close(self) -> None:
        socket, self.socket = self.socket, None
        with contextlib.suppress(Exception):
            await socket.close()


def stored(database_url: str, room_id: int) -> dict[str, list[int]]:
    """client id -> the ids of the rows stored with it, for the soak's messages."""
    rows: dict[str, list[int]] = {}
    with psycopg.connect(database_url) as db:
        for client_id, message_id in db.execute(
            "SELECT client_id, id FROM chat_message"
            " WHERE room_id = %s AND client_id LIKE 'soak-%%'",
            (room_id,),
        ):
            rows.setdefault(client_id, []).append(message_id)
    return rows


async def _soak(ctx: Context, minutes: float, deliveries_per_second: int) -> dict:
    users = ctx.scale.rooms()["r100"]
    members = [Member(i, ctx.spec("r100", user)) for i, user in enumerate(users)]
    await asyncio.gather(*(m.open(since=False) for m in members))
    await asyncio.sleep(1.0)
    rate = deliveries_per_second / len(members)  # messages per second
    started = time.monotonic()
    deadline = started + minutes * 60
    next_reconnect = started + 60
    rss_first_minute = None
    sent = typing = reactions = 0
    rng = random.Random(19)
    while (now := time.monotonic()) < deadline:
        due = started + sent / rate
        if due > now:
            await asyncio.sleep(due - now)
        sender = members[sent % len(members)]
        if sender.socket is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                if sent % TYPING_EVERY == 0:
                    await sender.socket.send(json.dumps({"type": "typing"}))
                    typing += 1
                frame = {"type": "message", "body": f"soak {sent}", "client_id": f"soak-{sent}"}
                await sender.socket.send(json.dumps(frame))
                if sent % REACT_EVERY == 0 and sender.seen:
                    target = max(sender.seen)
                    react = {"type": "react", "id": target, "emoji": rng.choice(EMOJI),
                             "on": rng.random() < 0.7}  # fmt: skip
                    await sender.socket.send(json.dumps(react))
                    reactions += 1
        sent += 1
        if time.monotonic() >= next_reconnect:
            if rss_first_minute is None:
                rss_first_minute = ctx.server.rss()
            chosen = rng.sample(members, max(1, round(RECONNECT_SHARE * len(members))))
            await asyncio.gather(*(m.reconnect() for m in chosen))
            next_reconnect += 60
    drain_seconds = await _drain(members)
    rss_end = ctx.server.rss()
    # A member that was reconnecting at the end catches up once more, as a page would.
    await asyncio.gather(*(m.reconnect() for m in members if m.socket is None))
    for member in members:
        await member.close()
        if member.reader is not None:
            with contextlib.suppress(Exception):
                await member.reader
    return {
        "sent": sent,
        "typing": typing,
        "reactions": reactions,
        "members": members,
        "rate": rate,
        "rss_first_minute": rss_first_minute or rss_end,
        "rss_end": rss_end,
        "drain_seconds": drain_seconds,
    }


async def _drain(members: list[Member], quiet: float = 3.0, limit: float = 120.0) -> float:
    """Wait until nothing new has arrived for `quiet` seconds (a server behind the offered
    rate is still storing and broadcasting what it was sent): closing earlier would drop the
    frames it had not read yet and count its lag as loss. Returns the seconds waited."""
    started = time.monotonic()
    last, still_since = -1, started
    while (now := time.monotonic()) - started < limit:
        total = sum(len(m.seen) for m in members)
        if total != last:
            last, still_since = total, now
        elif now - still_since >= quiet:
            break
        await asyncio.sleep(0.5)
    return round(time.monotonic() - started, 1)


def soak(ctx: Context, database_url: str, room_id: int, minutes: float,
         deliveries_per_second: int) -> dict:  # fmt: skip
    log(f"soak: {minutes} min at {deliveries_per_second} deliveries/s")
    run = asyncio.run(_soak(ctx, minutes, deliveries_per_second))
    members: list[Member] = run["members"]
    rows = stored(database_url, room_id)
    stored_ids = {i for ids in rows.values() for i in ids}
    acked = set().union(*(m.acked for m in members))
    closes: dict[int, int] = {}
    for member in members:
        for code, count in member.unasked_closes.items():
            closes[code] = closes.get(code, 0) + count
    result = {
        "minutes": minutes,
        "members": len(members),
        "deliveries_per_second": deliveries_per_second,
        "messages_per_second": round(run["rate"], 1),
        "sent": run["sent"],
        "stored": len(stored_ids),
        "stored_twice": sum(len(ids) > 1 for ids in rows.values()),
        "acked_not_stored": len(acked - set(rows)),
        "missed": sum(len(stored_ids - m.seen) for m in members),
        "reconnects": sum(m.reconnects for m in members),
        "typing": run["typing"],
        "reactions": run["reactions"],
        "error_frames": sum(m.errors for m in members),
        "closes_1011": closes.get(1011, 0),
        "other_closes": {code: n for code, n in closes.items() if code != 1011},
        "rss_mb_first_minute": round(run["rss_first_minute"] / 2**20, 1),
        "rss_mb_end": round(run["rss_end"] / 2**20, 1),
        "drain_seconds": run["drain_seconds"],
    }
    log(f"soak: {result}")
    return result
