"""`python -m bench.search`: message search on 100,000 messages.

Builds a fresh PostgreSQL database, fills it in SQL (`INSERT ... SELECT generate_series`: a
few seconds) with messages in 20 rooms, a searching user in 10 of them, then runs the
search selector (`chat.selectors.search.search_messages`, the API's own query: permission
filter, ranking newest first, highlight) `--runs` times per representative query and prints
the median and 95th percentile latency. It then checks with EXPLAIN that the queries the
index is for (words that are not in most messages) read it: a Bitmap Index Scan on
chat_message_search_gin. Target: median under 50 ms.
"""

import argparse
import asyncio
import statistics
import time

from bench.servers import bench_database
from bench.session_read import configure
from tests.services import ensure_postgres

ROOMS, MEMBER_OF = 20, 10
# Words drawn with a skewed distribution (word0 the most common) plus a few chat words at
# fixed rates, so that queries range from rare to common.
FILL_SQL = """
INSERT INTO chat_message
    (room_id, author_id, body, html, created, deleted, version, reactions, mentions)
SELECT r.ids[1 + (n %% %(rooms)s)], %(author)s, body, '', now() - (%(count)s - n) * interval '1 s',
       n %% 97 = 0, n, '[]'::jsonb, '[]'::jsonb
FROM generate_series(1, %(count)s) AS n,
     LATERAL (SELECT array_agg(id ORDER BY id) AS ids FROM chat_room) AS r,
     LATERAL (
         SELECT string_agg(
             CASE WHEN random() < 0.08
                  THEN (ARRAY['deploy', 'release', 'lunch', 'review', 'coffee', 'urgent'])
                       [1 + floor(random() * 6)::int]
                  ELSE 'word' || floor(power(random(), 3) * 5000)::int END, ' ')
             || CASE WHEN n %% 5000 = 0 THEN ' needle' ELSE '' END AS body
         FROM generate_series(1, 8 + (n %% 7)) WHERE n > 0
     ) AS b
"""

QUERIES = {
    "rare word (20 in 100k)": "needle",
    "uncommon word": "word4000",
    "two words": "word3000 word10",
    '"quoted phrase"': '"deploy review"',
    "word -excluded": "release -coffee",
    "common word (~8%)": "deploy",
    "room narrowed": "word2500",
}
INDEXED = ("rare word (20 in 100k)", "uncommon word", "two words", "room narrowed")


def populate(count: int) -> int:
    """Rooms, the searching user (a member of half of them), messages; returns the user id."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from chat.models import Room

    user = get_user_model().objects.create_user(username="bench-search")
    rooms = Room.objects.bulk_create(Room(name=f"bench-{n}") for n in range(ROOMS))
    for room in rooms[:MEMBER_OF]:
        room.users.add(user)
    with connection.cursor() as cursor:
        params = {"rooms": ROOMS, "author": user.pk, "count": count}
        cursor.execute(FILL_SQL, params)
        cursor.execute("ANALYZE chat_message")
    return user.pk


async def latencies(user_id: int, text: str, runs: int, room_id: int | None) -> list[float]:
    from chat.selectors.search import search_messages

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await search_messages(user_id=user_id, text=text, room_id=room_id)
        times.append(time.perf_counter() - start)
    return times


def plan(user_id: int, text: str) -> str:
    from django.db import connection

    from chat.models import Room
    from chat.selectors.search import postgres_matches, readable_messages

    room_ids = list(
        Room.users.through.objects.filter(user_id=user_id).values_list("room_id", flat=True)
    )
    queryset = postgres_matches(readable_messages(room_ids, None, None), text)[:21]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def uses_index(query_plan: str) -> bool:
    return "Bitmap Index Scan on chat_message_search_gin" in query_plan


def report(user_id: int, runs: int) -> bool:
    from chat.models import Room

    room_id = Room.objects.order_by("id").values_list("id", flat=True).first()
    print("| query | median ms | p95 ms | GIN index in plan |")
    print("|---|---|---|---|")
    ok = True
    for label, text in QUERIES.items():
        narrowed = room_id if label == "room narrowed" else None
        asyncio.run(latencies(user_id, text, 3, narrowed))  # warm the cache and connection
        times = sorted(asyncio.run(latencies(user_id, text, runs, narrowed)))
        median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
        indexed = uses_index(plan(user_id, text))
        ok &= median < 0.050 and (indexed or label not in INDEXED)
        print(
            f"| {label} | {median * 1000:.1f} | {p95 * 1000:.1f} | {'yes' if indexed else 'no'} |"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    ensure_postgres()
    with bench_database() as database_url:
        configure(database_url)
        start = time.perf_counter()
        user_id = populate(args.messages)
        print(f"{args.messages} messages built in {time.perf_counter() - start:.1f} s")
        ok = report(user_id, args.runs)
        print("target met: median under 50 ms, GIN index used" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
