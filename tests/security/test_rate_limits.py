"""Flood control beyond messages: every socket frame (typing, history, read, garbage) and the
HTTP reads, joins and leaves share one per-user budget; over it, `rate_limited` (socket) or
429 (HTTP), and a socket that keeps flooding is closed 4429. On Redis the budget is shared by
every process."""

import uuid

import pytest
from django.test import AsyncClient, override_settings

from chat.ratelimit import MemoryBuckets, RedisBuckets
from tests.conftest import make_room, make_user
from tests.liveserver import free_port
from tests.services import ensure_redis

pytestmark = pytest.mark.django_db(transaction=True)

TIGHT = {"CHAT_REQUEST_BURST": 4, "CHAT_REQUEST_RATE_PER_SECOND": 0.01}


@override_settings(**TIGHT, CHAT_FLOOD_CLOSE_AFTER=3)
async def test_other_frames_are_limited_then_a_flooder_is_closed_4429(open_room_socket):
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    flooder, _, _ = await open_room_socket(alice, room)
    other_tab, _, _ = await open_room_socket(alice, room)
    bystander, _, _ = await open_room_socket(bob, room)
    for _ in range(3):
        await flooder.send({"type": "typing"})
    assert (await bystander.recv_type("typing"))["username"] == "alice"
    await other_tab.send({"type": "typing"})  # the fourth frame: the budget is per user
    await other_tab.send({"type": "history", "before": 1})
    assert (await other_tab.recv_type("error"))["code"] == "rate_limited"
    await flooder.comm.send_to(text_data="{garbage")  # garbage is limited too
    assert (await flooder.recv_type("error"))["code"] == "rate_limited"
    for _ in range(3):
        await flooder.send({"type": "read", "id": 1})
    while (output := await flooder.comm.receive_output(timeout=3))["type"] != "websocket.close":
        pass
    assert output["code"] == 4429
    # Bob's budget is his own.
    await bystander.send({"type": "message", "body": "bob is fine"})
    assert (await bystander.recv_type("message"))["body"] == "bob is fine"


@override_settings(**TIGHT)
async def test_http_reads_get_429_over_the_budget():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = AsyncClient()
    await client.aforce_login(alice)
    url = f"/api/rooms/{room.pk}/messages/"
    codes = [(await client.get(url)).status_code for _ in range(4)]
    assert codes == [200] * 4
    refused = await client.get(url)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    posted = await client.post(url, {"body": "hi"}, content_type="application/json")
    assert posted.status_code == 429  # writes draw on the same budget


@override_settings(**TIGHT)
async def test_joining_and_leaving_get_429_over_the_budget():
    alice = await make_user("alice")
    room = await make_room("lobby", [], is_public=True)
    client = AsyncClient()
    await client.aforce_login(alice)
    codes = []
    for _ in range(3):
        codes.append((await client.post(f"/chat/room/{room.pk}/join/")).status_code)
        codes.append((await client.post(f"/chat/room/{room.pk}/leave/")).status_code)
    assert codes == [302, 302, 302, 302, 429, 429]
    assert not await room.users.filter(pk=alice.pk).aexists()


async def test_on_redis_every_process_draws_on_one_budget():
    url = ensure_redis()
    prefix = f"rltest{uuid.uuid4().hex[:8]}"
    process_one, process_two = RedisBuckets(url, prefix), RedisBuckets(url, prefix)
    taken = [
        await bucket.take("req:7", 0.001, 4)
        for bucket in (process_one, process_two, process_one, process_two, process_one)
    ]
    assert taken == [True, True, True, True, False]
    assert await process_two.take("req:8", 0.001, 4)  # per user


async def test_with_redis_away_the_limits_still_hold_per_process(caplog):
    buckets = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", "rldown")
    taken = [await buckets.take("req:7", 0.001, 3) for _ in range(4)]
    assert taken == [True, True, True, False]
    assert await buckets.take("req:8", 0.001, 3)
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one line per outage, not one per request


@override_settings(**TIGHT)
async def test_the_alert_api_and_alert_forms_draw_on_the_same_budget():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    client = AsyncClient()
    await client.aforce_login(alice)
    assert (await client.get("/api/alerts/")).status_code == 200
    posted = await client.post(
        f"/api/rooms/{room.pk}/alerts/", {"content": "disk full"}, content_type="application/json"
    )
    assert posted.status_code == 201
    assert (await client.post("/settings/feed/rotate/")).status_code == 302
    assert (await client.post("/settings/tokens/", {"name": "bot"})).status_code == 201
    refused = [
        (await client.get("/api/alerts/")).status_code,
        (
            await client.post(
                f"/api/rooms/{room.pk}/alerts/", {"content": "x"}, content_type="application/json"
            )
        ).status_code,
        (await client.post(f"/alerts/room/{room.pk}/post/", {"content": "x"})).status_code,
        (await client.post("/settings/tokens/", {"name": "bot2"})).status_code,
        (await client.post("/settings/tokens/1/revoke/")).status_code,
        (await client.post("/settings/feed/rotate/")).status_code,
    ]
    assert refused == [429] * 6


@pytest.mark.parametrize("where", ["redis", "memory"])
async def test_one_call_takes_a_frame_and_a_message_as_two_calls_in_a_row_would(where):
    """A message frame takes its request and its message token in one call (one Redis round
    trip): a refusal by the first bucket leaves the second alone, a refusal by the second
    still spends the first, exactly as two calls in a row did."""
    if where == "redis":
        buckets = RedisBuckets(ensure_redis(), f"rltest{uuid.uuid4().hex[:8]}")
    else:
        buckets = MemoryBuckets()
    request, message = ("req:7", 0.001, 3), ("msg:7", 0.001, 2)
    results = [await buckets.take_all([request, message]) for _ in range(3)]
    assert results == [0, 0, 2]  # the third message: the message bucket (2nd) refused
    assert await buckets.take_all([request]) == 1  # its request token was still spent
    assert await buckets.take_all([("req:8", 0.001, 1), ("msg:8", 0.001, 5)]) == 0
    assert await buckets.take_all([("req:8", 0.001, 1), ("msg:8", 0.001, 5)]) == 1
    for _ in range(4):  # the request refusal above left user 8's message bucket alone
        assert await buckets.take("msg:8", 0.001, 5)
    assert not await buckets.take("msg:8", 0.001, 5)
