"""Activity counters for the operations dashboard: messages per minute (all rooms, and per room)
and alerts per level, counted as the writes happen.

Cost to a write: `message_counted` and `alert_counted` (called by the one service path of each
write, after commit) add one to a dict under a lock. Nothing on a message's path touches Redis
or waits for anything.

With Redis, a flusher thread per process writes what accumulated in one pipelined round trip:
at once after a quiet spell, then at most once a second, and once more when the process exits
(so an alert sent by `manage.py send_alert`, whose process ends right after, is counted too).
A thread, not a task on an event loop: the admin and the commands reach the services through
`async_to_sync`, whose loops end with the call. Keys (CHANNEL_LAYER_PREFIX first; docs/deploy.md):

- `{<prefix>:dashboard}:messages:<minute>`  string, messages in that minute, all rooms
- `{<prefix>:dashboard}:rooms:<minute>`     sorted set, room id -> messages in that minute
- `{<prefix>:dashboard}:alerts:<bucket>`    hash, level -> alerts in that 10-minute bucket

(on the first server of REDIS_URL; the braces are a Redis Cluster hash tag)

`<minute>` is Unix time // 60, `<bucket>` Unix time // 600. Every key expires by itself (the
message keys after 65 minutes, the alert buckets after 24 h and 20 minutes), so the counters
need no cleaning and cost a bounded amount of memory. A process killed outright loses at most
its last second of counts: these are an operator's view, the database stays the record.

Without Redis (development, one process) the counts live in this process's memory.
"""

import atexit
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from mychannels.runtime.loopcache import PerLoop
from mychannels.runtime.redisclient import redis_client
from mychannels.runtime.redisshards import redis_urls

logger = logging.getLogger(__name__)

MINUTES = 60  # the message charts' window, in minutes, the current one included
ALERT_BUCKET_SECONDS = 600
ALERT_WINDOW_SECONDS = 24 * 3600
LEVELS = ("info", "warning", "critical")  # alert.models.Alert.Level, checked by a test
BUSIEST_ROOMS = 5
# Rooms a snapshot ranks: twice as many as shown, so that a deleted room's place goes to the
# next one.
RANKED_ROOMS = 2 * BUSIEST_ROOMS
MESSAGE_KEY_TTL_SECONDS = (MINUTES + 5) * 60
ALERT_KEY_TTL_SECONDS = ALERT_WINDOW_SECONDS + 2 * ALERT_BUCKET_SECONDS
# Seconds between two flushes of one process: the dashboard moves once a second anyway.
FLUSH_INTERVAL_SECONDS = 1.0


def minute_of(at: float) -> int:
    return int(at // 60)


def alert_bucket_of(at: float) -> int:
    return int(at // ALERT_BUCKET_SECONDS)


def window_minutes(now: float) -> list[int]:
    """The minutes the charts show, oldest first, the current (partial) minute last."""
    current = minute_of(now)
    return list(range(current - MINUTES + 1, current + 1))


def window_alert_buckets(now: float) -> list[int]:
    """The 10-minute buckets covering the last 24 hours (the oldest one partly)."""
    current = alert_bucket_of(now)
    return list(range(current - ALERT_WINDOW_SECONDS // ALERT_BUCKET_SECONDS, current + 1))


@dataclass(frozen=True)
class RoomActivity:
    room_id: int
    messages_last_hour: int
    per_minute: list[int]  # aligned with ActivitySnapshot.minutes


@dataclass(frozen=True)
class ActivitySnapshot:
    minutes: list[int]  # Unix minutes, oldest first
    messages_per_minute: list[int]
    busiest_rooms: list[RoomActivity]  # up to RANKED_ROOMS, most messages first
    alerts_by_level: dict[str, int] = field(default_factory=dict)


def _busiest(totals: dict[int, int], limit: int) -> list[tuple[int, int]]:
    ranked = sorted(((room, n) for room, n in totals.items() if n > 0), key=lambda r: (-r[1], r[0]))
    return ranked[:limit]


class MemoryActivity:
    """One process's counts (no Redis). Written from any thread, read from any event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms_by_minute: dict[int, Counter[int]] = {}
        self._alerts_by_bucket: dict[int, Counter[str]] = {}

    def message_counted(self, room_id: int, at: float) -> None:
        minute = minute_of(at)
        with self._lock:
            if minute not in self._rooms_by_minute:
                self._forget_before(at)
                self._rooms_by_minute[minute] = Counter()
            self._rooms_by_minute[minute][room_id] += 1

    def alert_counted(self, level: str, at: float) -> None:
        with self._lock:
            self._alerts_by_bucket.setdefault(alert_bucket_of(at), Counter())[level] += 1

    def _forget_before(self, now: float) -> None:
        oldest_minute = window_minutes(now)[0]
        for minute in [m for m in self._rooms_by_minute if m < oldest_minute]:
            del self._rooms_by_minute[minute]
        oldest_bucket = window_alert_buckets(now)[0]
        for bucket in [b for b in self._alerts_by_bucket if b < oldest_bucket]:
            del self._alerts_by_bucket[bucket]

    async def snapshot(self, now: float) -> ActivitySnapshot:
        minutes = window_minutes(now)
        with self._lock:
            rooms = [dict(self._rooms_by_minute.get(minute, {})) for minute in minutes]
            buckets = [dict(self._alerts_by_bucket.get(b, {})) for b in window_alert_buckets(now)]
        totals: Counter[int] = Counter()
        for counts in rooms:
            totals.update(counts)
        busiest = [
            RoomActivity(room_id, total, [counts.get(room_id, 0) for counts in rooms])
            for room_id, total in _busiest(totals, RANKED_ROOMS)
        ]
        return ActivitySnapshot(
            minutes=minutes,
            messages_per_minute=[sum(counts.values()) for counts in rooms],
            busiest_rooms=busiest,
            alerts_by_level={level: sum(b.get(level, 0) for b in buckets) for level in LEVELS},
        )


class RedisActivity:
    """Counts accumulated in this process and flushed to Redis (see the module docstring);
    read back from Redis, so every process's writes show on every process's dashboards."""

    def __init__(self, url: str, prefix: str) -> None:
        # Service-wide state: on the first server of REDIS_URL, every key under one hash tag
        # (MGET and ZUNIONSTORE read several at once; mychannels/runtime/redisshards.py).
        url = redis_urls(url)[0]
        self._url = url
        self._prefix = f"{{{prefix}:dashboard}}"
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: the thread's or the exit's
        self._pending_messages: Counter[tuple[int, int]] = Counter()  # (minute, room) -> n
        self._pending_alerts: Counter[tuple[int, str]] = Counter()  # (bucket, level) -> n
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._writer = redis.Redis.from_url(
            url,
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        )
        self._readers = PerLoop(lambda: redis_client(url, decode_responses=True))
        atexit.register(self.flush)

    def messages_key(self, minute: int) -> str:
        return f"{self._prefix}:messages:{minute}"

    def rooms_key(self, minute: int) -> str:
        return f"{self._prefix}:rooms:{minute}"

    def alerts_key(self, bucket: int) -> str:
        return f"{self._prefix}:alerts:{bucket}"

    # Writing: a dict increment now, Redis later.
    def message_counted(self, room_id: int, at: float) -> None:
        with self._pending_lock:
            self._pending_messages[(minute_of(at), room_id)] += 1
        self._wake_flusher()

    def alert_counted(self, level: str, at: float) -> None:
        with self._pending_lock:
            self._pending_alerts[(alert_bucket_of(at), level)] += 1
        self._wake_flusher()

    def _wake_flusher(self) -> None:
        if self._flusher is None:
            with self._pending_lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_forever, name="dashboard-counters", daemon=True
                    )
                    self._flusher.start()
        if not self._wake.is_set():
            self._wake.set()

    def _flush_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.flush()
            time.sleep(FLUSH_INTERVAL_SECONDS)  # what arrives meanwhile goes in the next one

    def flush(self) -> None:
        """Write what accumulated, in one round trip. On failure the counts are put back and
        go with the next flush."""
        with self._flush_lock:
            with self._pending_lock:
                messages, self._pending_messages = self._pending_messages, Counter()
                alerts, self._pending_alerts = self._pending_alerts, Counter()
            if not messages and not alerts:
                return
            try:
                self._write(messages, alerts)
            except redis.RedisError:
                logger.warning("dashboard counters: Redis unreachable; retrying", exc_info=True)
                with self._pending_lock:
                    self._pending_messages.update(messages)
                    self._pending_alerts.update(alerts)
                self._wake.set()

    def _write(self, messages: Counter[tuple[int, int]], alerts: Counter[tuple[int, str]]) -> None:
        by_minute: Counter[int] = Counter()
        with self._writer.pipeline(transaction=False) as pipe:
            for (minute, room_id), count in messages.items():
                pipe.zincrby(self.rooms_key(minute), count, room_id)
                by_minute[minute] += count
            for minute, count in by_minute.items():
                pipe.incrby(self.messages_key(minute), count)
                pipe.expire(self.messages_key(minute), MESSAGE_KEY_TTL_SECONDS)
                pipe.expire(self.rooms_key(minute), MESSAGE_KEY_TTL_SECONDS)
            buckets = set()
            for (bucket, level), count in alerts.items():
                pipe.hincrby(self.alerts_key(bucket), level, count)
                buckets.add(bucket)
            for bucket in buckets:
                pipe.expire(self.alerts_key(bucket), ALERT_KEY_TTL_SECONDS)
            pipe.execute()

    # Reading: two round trips, whatever the number of rooms.
    async def snapshot(self, now: float) -> ActivitySnapshot:
        reader = self._readers.get()
        minutes = window_minutes(now)
        buckets = window_alert_buckets(now)
        union = f"{self._prefix}:union:{uuid.uuid4().hex}"
        async with reader.pipeline(transaction=False) as pipe:
            pipe.mget([self.messages_key(minute) for minute in minutes])
            # The hour's totals per room, summed inside Redis: only the busiest come back.
            pipe.zunionstore(union, [self.rooms_key(minute) for minute in minutes])
            pipe.zrevrange(union, 0, RANKED_ROOMS - 1, withscores=True)
            pipe.delete(union)
            for bucket in buckets:
                pipe.hmget(self.alerts_key(bucket), LEVELS)
            totals, _, ranked, _, *alert_rows = await pipe.execute()
        busiest = sorted(((int(r), int(n)) for r, n in ranked), key=lambda r: (-r[1], r[0]))
        per_minute: list[list[int]] = []
        if busiest:
            async with reader.pipeline(transaction=False) as pipe:
                for minute in minutes:
                    pipe.zmscore(self.rooms_key(minute), [room for room, _ in busiest])
                scores = await pipe.execute()
            per_minute = [[int(row[i] or 0) for row in scores] for i in range(len(busiest))]
        alerts_by_level = {
            level: sum(int(row[i] or 0) for row in alert_rows) for i, level in enumerate(LEVELS)
        }
        return ActivitySnapshot(
            minutes=minutes,
            messages_per_minute=[int(total or 0) for total in totals],
            busiest_rooms=[
                RoomActivity(room_id, total, per_minute[i])
                for i, (room_id, total) in enumerate(busiest)
            ],
            alerts_by_level=alerts_by_level,
        )


_stores: dict[tuple[str, str], MemoryActivity | RedisActivity] = {}
_stores_lock = threading.Lock()


def activity() -> MemoryActivity | RedisActivity:
    """This process's counters for the configured Redis (one per URL and prefix)."""
    key = (settings.REDIS_URL, settings.CHANNEL_LAYER_PREFIX)
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                url, prefix = key
                store = RedisActivity(url, prefix) if url else MemoryActivity()
                _stores[key] = store
    return store


def message_counted(*, room_id: int) -> None:
    """A message was stored (and committed): count it for the dashboard. Never raises into
    the write path, never waits."""
    try:
        activity().message_counted(room_id, time.time())
    except Exception:
        logger.exception("dashboard: counting a message failed")


def alert_counted(*, level: str) -> None:
    """An alert was stored (and committed): count it for the dashboard."""
    try:
        activity().alert_counted(level, time.time())
    except Exception:
        logger.exception("dashboard: counting an alert failed")


async def activity_snapshot(now: float | None = None) -> ActivitySnapshot:
    return await activity().snapshot(time.time() if now is None else now)


def flush_now() -> None:
    """Write pending counts at once (tests, and anything about to exit without atexit)."""
    store = activity()
    if isinstance(store, RedisActivity):
        store.flush()
