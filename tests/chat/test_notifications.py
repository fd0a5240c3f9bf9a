"""Mentions and notifications: who gets a `notify` frame on `/ws/rooms/` (mentioned members,
users whose level is `all`; never the author, never a muted room, never `none`), the bad
inputs (a non-member, yourself, 500 mentions, code spans), mention counts, and the settings
forms."""

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from chat.models import Message, NotificationSetting, ReadMarker, RoomMute
from chat.selectors.mentions import unread_mention_counts
from chat.selectors.notifications import notify_recipients
from chat.services.direct_rooms import direct_room_open
from chat.services.errors import ServiceError
from chat.services.messages import _store_message, message_create, message_delete, message_edit
from chat.services.notifications import is_direct, notification_level_set, room_mute_set
from tests.conftest import Socket, communicator, make_room, make_user, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def room_list():
    """open(user) -> Socket on `/ws/rooms/`, its opening `rooms` frame already read."""
    opened: list[Socket] = []

    async def open_list(user) -> Socket:
        comm = communicator("/ws/rooms/", await session_cookie(user))
        connected, code = await comm.connect(timeout=5)
        assert connected, code
        socket = Socket(comm)
        opened.append(socket)
        socket.opening = await socket.recv()
        assert socket.opening["type"] == "rooms"
        return socket

    yield open_list
    for socket in opened:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()


@pytest.fixture
async def people():
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    outsider = await make_user("dave")
    general = await make_room("general", [alice, bob, carol], is_public=True)
    return alice, bob, carol, outsider, general


async def say(room, author, body: str) -> Message:
    return (await message_create(room=room, author=author, body=body)).message


async def notified(socket: Socket) -> list[dict]:
    """The notify frames that arrive within half a second."""
    await asyncio.sleep(0.5)
    frames = []
    while not await socket.comm.receive_nothing(timeout=0.05):
        frame = await socket.recv()
        if frame["type"] == "notify":
            frames.append(frame)
    return frames


async def test_a_mention_notifies_the_mentioned_member_only(people, room_list):
    alice, bob, carol, _, general = people
    bob_list, carol_list, alice_list = [await room_list(u) for u in (bob, carol, alice)]
    message = await say(general, alice, "hey @bob, lunch?")
    (frame,) = await notified(bob_list)
    assert frame["room_id"] == general.pk
    assert frame["message"]["id"] == message.pk and frame["message"]["body"] == "hey @bob, lunch?"
    assert frame["message"]["mentions"] == ["bob"] and frame["message"]["username"] == "alice"
    assert await notified(carol_list) == []  # mentions and direct: not mentioned
    assert await notified(alice_list) == []  # never your own message


async def test_yourself_a_non_member_and_code_spans_notify_nobody(people):
    alice, _, _, _, general = people
    for body in ("note to @alice", "ask @dave", "`@bob` is the handle", "```\n@carol\n```"):
        message = await say(general, alice, body)
        recipients = await notify_recipients(
            room_id=general.pk, author_id=alice.pk, mentions=message.mentions, direct=False
        )
        assert recipients == [], body
    assert [m.mentions async for m in Message.objects.order_by("id")] == [["alice"], [], [], []]


async def test_a_non_member_is_plain_text_and_hears_nothing(people, room_list):
    alice, _, _, dave, general = people
    dave_list = await room_list(dave)
    message = await say(general, alice, "@dave are you there?")
    assert message.mentions == [] and "mention" not in message.html
    assert await notified(dave_list) == []


async def test_five_hundred_mentions_are_capped_and_only_members_count(people, settings):
    alice, _, _, _, general = people
    names = [f"{letter}{digit}" for letter in "mnpqrs" for digit in range(10)]  # 60 members
    for name in names:
        await general.users.aadd(await make_user(name))
    body = " ".join("@" + names[i % 60] for i in range(499)) + " @zz"  # @zz: nobody
    assert len(body) <= 2000
    message = await say(general, alice, body)
    assert message.mentions == names[: settings.CHAT_MENTIONS_MAX]
    recipients = await notify_recipients(
        room_id=general.pk, author_id=alice.pk, mentions=message.mentions, direct=False
    )
    assert len(recipients) == settings.CHAT_MENTIONS_MAX


async def test_muted_room_and_level_none_hear_nothing_level_all_hears_everything(people, room_list):
    alice, bob, carol, _, general = people
    await room_mute_set(user=bob, room=general, muted=True)
    await notification_level_set(user=carol, level="all")
    bob_list, carol_list = await room_list(bob), await room_list(carol)
    await say(general, alice, "@bob and a plain line")
    assert await notified(bob_list) == []
    assert len(await notified(carol_list)) == 1  # `all`: not mentioned, notified
    await notification_level_set(user=carol, level="none")
    await say(general, alice, "@carol now?")
    assert await notified(carol_list) == []
    await room_mute_set(user=bob, room=general, muted=False)
    await say(general, alice, "@bob unmuted")
    assert len(await notified(bob_list)) == 1


async def test_direct_room_messages_notify_without_a_mention(people, room_list):
    alice, bob, _, _, _ = people
    recipients_of = await make_room("alice-bob", [alice, bob])
    message = await say(recipients_of, alice, "just us")
    assert await notify_recipients(
        room_id=recipients_of.pk, author_id=alice.pk, mentions=message.mentions, direct=True
    ) == [bob.pk]
    assert (
        await notify_recipients(
            room_id=recipients_of.pk, author_id=alice.pk, mentions=message.mentions, direct=False
        )
        == []
    )


async def test_edits_and_deletions_do_not_notify(people, room_list):
    alice, bob, _, _, general = people
    message = await say(general, alice, "plain")
    bob_list = await room_list(bob)
    await message_edit(room=general, user=alice, message_id=message.pk, body="now @bob")
    await message_delete(room=general, user=alice, message_id=message.pk)
    assert await notified(bob_list) == []


async def test_bad_settings_are_refused(people):
    alice, _, _, dave, general = people
    for level in ("loud", None, 1, ""):
        with pytest.raises(ServiceError):
            await notification_level_set(user=alice, level=level)
    with pytest.raises(ServiceError):
        await room_mute_set(user=dave, room=general, muted=True)  # not a member
    assert await RoomMute.objects.acount() == 0
    assert await NotificationSetting.objects.acount() == 0


async def test_mention_counts_are_unread_messages_mentioning_the_user(people):
    alice, bob, carol, _, general = people
    other = await make_room("other", [alice, bob])
    read = await say(general, alice, "@bob first")
    await say(general, alice, "@bob second")
    await say(general, alice, "no mention")
    gone = await say(general, carol, "@bob deleted")
    await message_delete(room=general, user=carol, message_id=gone.pk)
    await say(general, bob, "@bob talking to myself")
    await say(other, alice, "@Bob elsewhere")
    await ReadMarker.objects.acreate(user=bob, room=general, last_read_id=read.pk)
    counts = await unread_mention_counts(
        user_id=bob.pk, username="bob", room_ids=[general.pk, other.pk]
    )
    assert counts == {general.pk: 1, other.pk: 1}
    assert await unread_mention_counts(
        user_id=carol.pk, username="carol", room_ids=[general.pk]
    ) == {general.pk: 0}


async def test_settings_page_forms(people):
    alice, _, _, dave, general = people
    client = AsyncClient()
    await client.aforce_login(alice)
    page = (await client.get("/settings/")).content.decode()
    assert 'value="mentions" checked' in page and "general" in page
    response = await client.post("/settings/notifications/", {"level": "all"})
    assert response.status_code == 302
    assert (await NotificationSetting.objects.aget(user=alice)).level == "all"
    await client.post("/settings/notifications/", {"level": "bogus"})
    assert (await NotificationSetting.objects.aget(user=alice)).level == "all"
    back = f"/chat/room/{general.pk}/"
    response = await client.post(
        f"/settings/rooms/{general.pk}/mute/", {"muted": "1", "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    assert await RoomMute.objects.filter(user=alice, room=general).aexists()
    response = await client.post(
        f"/settings/rooms/{general.pk}/mute/", {"muted": "0", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/settings/"
    assert not await RoomMute.objects.filter(user=alice, room=general).aexists()
    outsider = AsyncClient()
    await outsider.aforce_login(dave)
    response = await outsider.post(f"/settings/rooms/{general.pk}/mute/", {"muted": "1"})
    assert response.status_code == 403


async def test_rooms_api_carries_mention_counts(people):
    alice, bob, _, _, general = people
    await say(general, alice, "@bob one")
    await say(general, alice, "@bob two")
    client = AsyncClient()
    await client.aforce_login(bob)
    (room,) = (await client.get("/api/rooms/")).json()["rooms"]
    assert (room["id"], room["unread"], room["mentions"]) == (general.pk, 2, 2)


async def test_the_insert_returns_exactly_who_the_read_would_notify(people):
    """Storing a message returns its recipients in the same statement (on PostgreSQL, as the
    suite runs): the same people as notify_recipients, for every rule of the module."""
    alice, bob, carol, _, general = people
    await notification_level_set(user=carol, level="all")
    await room_mute_set(user=bob, room=general, muted=True)
    direct, _ = await direct_room_open(creator=alice, usernames=["dave"])
    assert is_direct(direct)
    bodies = [(general, "plain"), (general, "@bob and @carol"), (general, "@alice self")]
    bodies += [(direct, "just us"), (general, "@dave is not here")]
    for room, body in bodies:
        message, created, _, returned = await sync_to_async(_store_message)(room, alice, body, None)
        read = await notify_recipients(
            room_id=room.pk,
            author_id=alice.pk,
            mentions=message.mentions,
            direct=is_direct(room),
        )
        assert created and sorted(returned) == sorted(read), body
