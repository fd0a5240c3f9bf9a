"""The dashboard socket against the real ASGI application (one process, in-memory counters):
who may open it, the stats frame and what moves it, the once-a-second ticker, bad frames."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import override_settings

from alert.models import Alert
from alert.services import alert_create
from chat.services.membership import user_sockets_close
from chat.services.messages import message_create
from mychannels.dashboard import counters
from mychannels.dashboard.services import TICK_SECONDS, stats_ticker
from tests.conftest import (
    close_code,
    closed_with,
    communicator,
    make_room,
    make_user,
    session_cookie,
)
from tests.dashboard.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

FRAME_KEYS = {"type", "messages_per_minute", "present", "sockets", "alerts_by_level", "rooms"}


def total_messages(stats: dict) -> int:
    return sum(minute["count"] for minute in stats["messages_per_minute"])


async def stats_where(socket, condition, timeout: float = 5) -> dict:
    """The first stats frame for which condition(frame) holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = await socket.recv_type("stats", timeout=max(remaining, 0.01))
        if condition(frame):
            return frame


def test_levels_are_the_alert_models_levels():
    assert tuple(Alert.Level.values) == counters.LEVELS


async def test_only_staff_may_open_it_and_others_hear_nothing_before_4403():
    alice = await make_user("alice")
    assert await closed_with("/ws/dashboard/", None) == 4403
    assert await closed_with("/ws/dashboard/", "sessionid=forged") == 4403
    assert await closed_with("/ws/dashboard/", await session_cookie(alice)) == 4403


@override_settings(CSRF_TRUSTED_ORIGINS=[])
@pytest.mark.parametrize("origin", [None, "null", "http://evil.example"])
async def test_foreign_origins_are_refused_at_the_handshake(origin):
    staff = await make_staff()
    comm = communicator("/ws/dashboard/", await session_cookie(staff), origin=origin)
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_opening_frame_has_the_contracts_shape(open_dashboard):
    staff = await make_staff()
    _, stats = await open_dashboard(staff)
    assert set(stats) == FRAME_KEYS
    minutes = stats["messages_per_minute"]
    assert len(minutes) == 60
    assert all(set(m) == {"minute", "count"} and m["count"] == 0 for m in minutes)
    stamps = [m["minute"] for m in minutes]
    assert stamps == sorted(stamps) and all(s.endswith(":00Z") for s in stamps)
    assert stats["alerts_by_level"] == {"info": 0, "warning": 0, "critical": 0}
    assert stats["rooms"] == []
    assert stats["present"] == 0
    assert stats["sockets"] == 1  # this dashboard itself


async def test_messages_alerts_and_presence_move_it(open_dashboard, open_room_socket):
    staff, alice, bob = await make_staff(), await make_user("alice"), await make_user("bob")
    general = await make_room("general", [alice, bob])
    ops = await make_room("ops", [alice])
    dashboard, _ = await open_dashboard(staff)
    await open_room_socket(alice, general)
    for i in range(3):
        await message_create(room=general, author=bob, body=f"g{i}")
    await message_create(room=ops, author=alice, body="o")
    await alert_create(room=ops, user=alice, content="disk", level="critical")
    await alert_create(room=ops, user=alice, content="fyi")
    stats = await stats_where(dashboard, lambda s: total_messages(s) == 4, timeout=5)
    # All in the last two minutes: the run may cross a minute's boundary.
    counts = [minute["count"] for minute in stats["messages_per_minute"]]
    assert (sum(counts[-2:]), sum(counts)) == (4, 4)
    assert [(r["room_id"], r["name"], r["messages_last_hour"]) for r in stats["rooms"]] == [
        (general.pk, "general", 3),
        (ops.pk, "ops", 1),
    ]
    general_counts = stats["rooms"][0]["per_minute"]
    assert (len(general_counts), sum(general_counts[-2:]), sum(general_counts)) == (60, 3, 3)
    assert stats["alerts_by_level"] == {"info": 1, "warning": 0, "critical": 1}
    assert (stats["present"], stats["sockets"]) == (1, 2)  # alice in general; two sockets


async def test_a_message_from_the_admin_path_counts_after_its_commit(open_dashboard):
    """The admin saves inside a transaction: the broadcast, and the count, wait for commit."""
    staff, alice = await make_staff(), await make_user("alice")
    room = await make_room("general", [alice])
    dashboard, _ = await open_dashboard(staff)

    @sync_to_async
    def store_in_a_transaction_then_roll_back() -> None:
        from django.db import transaction

        with transaction.atomic():
            async_to_sync(message_create)(room=room, author=alice, body="undone")
            transaction.set_rollback(True)
        with transaction.atomic():
            async_to_sync(message_create)(room=room, author=alice, body="kept")

    await store_in_a_transaction_then_roll_back()
    stats = await stats_where(dashboard, lambda s: total_messages(s) >= 1)
    assert total_messages(stats) == 1
    assert sum((await counters.activity_snapshot()).messages_per_minute) == 1


async def test_ten_dashboards_cost_one_computation_a_second(open_dashboard):
    staff, alice = await make_staff(), await make_user("alice")
    room = await make_room("general", [alice])
    sockets = [(await open_dashboard(staff))[0] for _ in range(10)]
    ticker = stats_ticker()
    before = ticker.computations
    started = asyncio.get_running_loop().time()
    for i in range(30):
        await message_create(room=room, author=alice, body=f"m{i}")
    frames = [await stats_where(s, lambda f: total_messages(f) == 30, timeout=5) for s in sockets]
    await asyncio.sleep(2 * TICK_SECONDS)
    elapsed = asyncio.get_running_loop().time() - started
    assert all(f == frames[0] for f in frames)
    # One per tick for all ten sockets, never one per socket or per message.
    assert 1 <= ticker.computations - before <= elapsed / TICK_SECONDS + 1


async def test_frames_are_refused_with_errors_then_flooding_closes_4429(open_dashboard):
    staff = await make_staff()
    dashboard, _ = await open_dashboard(staff)
    answers = []
    for text in ("{not json", "[1]", json.dumps({"type": "message", "body": "x"})):
        await dashboard.comm.send_to(text_data=text)
        answers.append(await dashboard.recv_type("error"))
    await dashboard.comm.send_to(bytes_data=b"\x00")
    answers.append(await dashboard.recv_type("error"))
    assert [(a["code"], set(a)) for a in answers] == [
        ("bad_json", {"type", "code", "detail"}),
        ("bad_frame", {"type", "code", "detail"}),
        ("unknown_type", {"type", "code", "detail"}),
        ("bad_frame", {"type", "code", "detail"}),
    ]
    for _ in range(40):
        await dashboard.comm.send_to(text_data="{}")
    assert await close_code(dashboard) == 4429


async def test_oversized_frame_closes_1009(open_dashboard):
    staff = await make_staff()
    dashboard, _ = await open_dashboard(staff)
    await dashboard.comm.send_to(text_data="x" * (64 * 1024 + 1))
    assert await close_code(dashboard) == 1009


async def test_logging_out_closes_it_4401(open_dashboard):
    staff = await make_staff()
    dashboard, _ = await open_dashboard(staff)
    await user_sockets_close(user_id=staff.pk)
    assert await close_code(dashboard) == 4401
