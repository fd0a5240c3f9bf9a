"""Reads by key gathered into one statement (mychannels/runtime/keyedreads.py), on the real
PostgreSQL: every caller gets its own key's rows, keys asked for while a statement is out go
in the next one, a failure reaches every caller of its statement and no other, and a caller
that gives up leaves the others theirs. Then the socket reads built on it: a storm's
sessions, its room lists and its openings of rooms whose page is held, each read together
and each right for its own socket."""

import asyncio
import datetime
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError

from chat.models import Message
from chat.selectors.room_list_opening import room_list_counts, room_list_room_ids
from chat.selectors.room_opening import room_opening
from mychannels.models import LoginSession
from mychannels.runtime import asyncdb, auth
from mychannels.runtime.keyedreads import KeyedReads
from tests.conftest import (
    counted_statements,
    make_room,
    make_user,
    recorded_calls,
    session_cookie,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgresql")]

# Each key k of the array has the rows (k, k * 10) and (k, k * 100), except 13, which has none.
TENS_SQL = (
    "SELECT k, k * m FROM unnest(%s::int[]) AS k, unnest(ARRAY[10, 100]) AS m"
    " WHERE k <> 13 ORDER BY k, m"
)


def slow(seconds: float) -> str:
    """TENS_SQL, taking `seconds` to answer."""
    return TENS_SQL.replace(" WHERE", f", pg_sleep({seconds}) WHERE")


def key_count(sent: list) -> list[int]:
    return [len(params[0]) for params in sent]


@pytest.fixture
def sent(monkeypatch) -> list:
    """The parameters of each statement sent."""
    return recorded_calls(monkeypatch, asyncdb, "rows", lambda sql, params: params)


async def test_keys_asked_for_together_are_read_in_one_statement(sent):
    reads = KeyedReads(lambda: TENS_SQL)
    keys = [1, 2, 13, 2, 40]
    answers = await asyncio.gather(*(reads.rows(key) for key in keys))
    assert answers == [[(10,), (100,)], [(20,), (200,)], [], [(20,), (200,)], [(400,), (4000,)]]
    assert key_count(sent) == [4]  # the key asked for twice is read once


async def test_keys_asked_for_while_a_statement_is_out_go_together_in_the_next(sent):
    reads = KeyedReads(lambda: slow(0.3), out=1)
    first = asyncio.ensure_future(reads.rows(1))
    await asyncio.sleep(0.1)  # the first statement is out
    later = [asyncio.ensure_future(reads.rows(key)) for key in range(2, 32)]
    assert await first == [(10,), (100,)]
    answers = await asyncio.gather(*later)
    assert answers == [[(k * 10,), (k * 100,)] if k != 13 else [] for k in range(2, 32)]
    assert key_count(sent) == [1, 30]


async def test_a_statement_takes_at_most_its_limit_of_keys(sent):
    reads = KeyedReads(lambda: TENS_SQL, most=10)
    answers = await asyncio.gather(*(reads.rows(key) for key in range(25)))
    assert [rows[0][0] if rows else None for rows in answers][:3] == [0, 10, 20]
    assert sorted(key_count(sent)) == [5, 10, 10]


async def test_keys_of_several_columns_and_parameters_shared_by_the_batch():
    joined = "SELECT a, b, a || ':' || b FROM unnest(%s::text[], %s::text[]) AS q(a, b)"
    reads = KeyedReads(lambda: joined + " WHERE a <> %s", width=2, shared=lambda: ["skipped"])
    keys = [("x", "y"), ("x", "z"), ("skipped", "y")]
    answers = await asyncio.gather(*(reads.rows(key) for key in keys))
    assert answers == [[("x:y",)], [("x:z",)], []]


async def test_a_failed_statement_fails_its_callers_and_the_next_one_reads(sent):
    reads = KeyedReads(lambda: "SELECT k, 1 / (k - 7) FROM unnest(%s::int[]) AS k")
    failed = await asyncio.gather(*(reads.rows(key) for key in (6, 7, 8)), return_exceptions=True)
    assert all(isinstance(answer, DatabaseError) for answer in failed)  # 1 / 0 for 7
    assert await reads.rows(8) == [(1,)]


async def test_a_caller_that_gives_up_leaves_the_others_their_rows():
    reads = KeyedReads(lambda: slow(0.2))
    leaving = asyncio.ensure_future(reads.rows(5))
    staying = asyncio.ensure_future(reads.rows(5))
    other = asyncio.ensure_future(reads.rows(6))
    await asyncio.sleep(0.05)
    leaving.cancel()
    assert await staying == [(50,), (500,)] and await other == [(60,), (600,)]
    assert leaving.cancelled()


async def test_a_storms_sessions_are_read_together_each_logging_in_its_own_user(monkeypatch):
    users = [await make_user(f"user{i}") for i in range(6)]
    keys = [(await session_cookie(user)).split("=", 1)[1] for user in users]
    expired = keys[5]
    await LoginSession.objects.filter(session_key=expired).aupdate(
        expire_date=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    )
    # Keys no session has, one of them hostile: they must not spoil the others' read.
    strangers = ["n" * 32, "'; DROP TABLE chat_room; --", "\xff\u00e9" * 600]
    with counted_statements(monkeypatch) as sent:
        found = await asyncio.gather(*(auth.session_and_user(key) for key in keys + strangers))
    assert len(sent) == 1
    for (session, user), expected, key in zip(found[:5], users, keys, strict=False):
        assert (user.pk, user.username, session.session_key) == (
            expected.pk,
            expected.username,
            key,
        )
    assert all(isinstance(user, AnonymousUser) for _, user in found[5:])


async def test_a_storms_room_lists_are_read_together_each_with_its_own_counts(monkeypatch):
    alice, bob, carol = [await make_user(name) for name in ("alice", "bob", "carol")]
    shared = await make_room("shared", [alice, bob, carol])
    hers = await make_room("hers", [alice])
    await Message.objects.acreate(room=shared, author=bob, body="@alice hi", mentions=["alice"])
    await Message.objects.acreate(room=shared, author=alice, body="@bob and @carol",
                                  mentions=["bob", "carol"])  # fmt: skip
    users = [alice, bob, carol]
    with counted_statements(monkeypatch) as sent:
        room_ids = await asyncio.gather(*(room_list_room_ids(user_id=u.pk) for u in users))
        counts = await asyncio.gather(
            *(room_list_counts(user_id=u.pk, username=u.username) for u in users)
        )
    assert len(sent) == 2
    assert [sorted(ids) for ids in room_ids] == [
        sorted([shared.pk, hers.pk]),
        [shared.pk],
        [shared.pk],
    ]
    unread = [{state.room_id: state.unread for state in states} for states, _ in counts]
    assert unread == [{hers.pk: 0, shared.pk: 1}, {shared.pk: 1}, {shared.pk: 2}]
    mentions = [mentioned for _, mentioned in counts]
    assert mentions == [{hers.pk: 0, shared.pk: 1}, {shared.pk: 1}, {shared.pk: 1}]
    assert [state.room_id for state in counts[0][0]] == [hers.pk, shared.pk]  # by name


@dataclass(frozen=True)
class HeldPage:
    version: int


async def test_a_storms_openings_of_a_held_page_read_their_access_together(monkeypatch):
    alice, bob, carol = [await make_user(name) for name in ("alice", "bob", "carol")]
    room = await make_room("general", [alice, bob])
    held = HeldPage(version=room.version)
    missing_room = room.pk + 1000

    def opening(room_id, user):
        return room_opening(
            room_id, user.pk, after_id=None, since=None, limit=50, held=lambda: held
        )

    with counted_statements(monkeypatch) as sent:
        found = await asyncio.gather(
            opening(room.pk, alice),
            opening(room.pk, bob),
            opening(room.pk, carol),
            opening(missing_room, alice),
        )
    assert len(sent) == 1
    her, his, stranger, nowhere = found
    assert (her.is_member, her.reused, his.is_member, his.reused) == (True, held, True, held)
    assert (stranger.room.pk, stranger.is_member, stranger.reused) == (room.pk, False, None)
    assert (nowhere.room, nowhere.is_member) == (None, False)
