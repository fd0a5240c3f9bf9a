"""The kept opening pages (chat/latest_pages.py): by version, newest kept, for a while,
within a bounded number of bytes, counted as the strings' own size in memory."""

import asyncio
import sys

from chat.latest_pages import LatestPages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_page_is_held_at_its_version_and_a_newer_one_wins():
    pages = LatestPages(max_bytes=10_000, seconds=30, clock=Clock())
    assert pages.held(1) is None
    pages.keep(1, 5, "frame at 5")
    assert (pages.held(1).version, pages.held(1).text) == (5, "frame at 5")
    pages.keep(1, 7, "frame at 7")
    pages.keep(1, 6, "frame at 6")  # read before 7 was kept, done after: older, dropped
    assert (pages.held(1).version, pages.held(1).text) == (7, "frame at 7")


def test_a_page_is_held_only_for_the_time_allowed():
    clock = Clock()
    pages = LatestPages(max_bytes=10_000, seconds=30, clock=clock)
    pages.keep(1, 5, "frame")
    clock.now += 30
    assert pages.held(1) is not None
    clock.now += 0.1
    assert pages.held(1) is None and len(pages) == 0


def test_the_least_recently_opened_room_goes_first_past_the_budget():
    one = sys.getsizeof("a" * 100)
    pages = LatestPages(max_bytes=2 * one + 10, seconds=30, clock=Clock())
    pages.keep(1, 1, "a" * 100)
    pages.keep(2, 1, "b" * 100)
    assert pages.held(1) is not None  # room 1 opened again: room 2 is now the oldest
    pages.keep(3, 1, "c" * 100)  # three would not fit: one room must go
    assert [pages.held(room) is not None for room in (1, 2, 3)] == [True, False, True]
    pages.keep(1, 2, "A" * 100)  # a newer page replaces the room's own, within budget
    assert (pages.held(1).text[0], pages.held(3).text[0], len(pages)) == ("A", "c", 2)
    pages.keep(4, 1, "x" * 300)  # larger than the whole budget: not kept, nothing dropped
    assert pages.held(4) is None and len(pages) == 2


def test_an_emoji_counts_every_character_at_four_bytes():
    plain, with_emoji = "a" * 1000, "a" * 999 + "👍"
    assert sys.getsizeof(with_emoji) > 3 * sys.getsizeof(plain)  # what memory really holds
    pages = LatestPages(max_bytes=2 * sys.getsizeof(plain), seconds=30, clock=Clock())
    pages.keep(1, 1, plain)
    pages.keep(2, 1, with_emoji)  # as long, but too big for the budget
    assert pages.held(1) is not None and pages.held(2) is None


def test_zero_bytes_or_zero_seconds_keep_nothing():
    for max_bytes, seconds in ((0, 30), (10_000, 0)):
        pages = LatestPages(max_bytes=max_bytes, seconds=seconds, clock=Clock())
        pages.keep(1, 1, "frame")
        assert pages.held(1) is None


async def test_openings_wait_for_the_one_building_and_go_on_when_it_kept_nothing():
    pages = LatestPages(max_bytes=10_000, seconds=30, clock=Clock())
    assert await pages.wait_or_build(1) is True  # the first opening of room 1 builds
    waiting = asyncio.ensure_future(pages.wait_or_build(1))
    other_room = await pages.wait_or_build(2)  # another room's opening is not held up
    await asyncio.sleep(0)
    assert other_room is True and not waiting.done()
    pages.built(1)  # refused, say: kept nothing, so the waiter builds next
    assert await waiting is True
    pages.keep(1, 4, "frame")
    pages.built(1)
    assert await pages.wait_or_build(1) is False  # kept: nobody builds
