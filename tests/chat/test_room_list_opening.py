"""The room list socket's opening reads on the event loop (chat/selectors/room_list_opening.py),
on the real PostgreSQL: the same rooms, unread states and mention counts as the ORM's
readers, in one statement each, whatever the user has read, written, been mentioned in or
had deleted."""

import pytest

from chat.models import Message, ReadMarker
from chat.selectors.mentions import unread_mention_counts
from chat.selectors.read_state import unread_states
from chat.selectors.room_list_opening import room_list_counts, room_list_room_ids
from chat.selectors.rooms import room_ids_of_user
from tests.conftest import counted_statements, make_room, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgresql")]


async def test_the_lists_opening_reads_equal_the_orms(monkeypatch):
    alice, bob = await make_user("alice"), await make_user("bob")
    read, unread, quiet = (
        await make_room("beta", [alice, bob]),
        await make_room("alpha", [alice, bob]),
        await make_room("gamma", [alice]),
    )
    await make_room("not hers", [bob])

    async def post(room, author, body, mentions=(), deleted=False):
        return await Message.objects.acreate(
            room=room, author=author, body=body, mentions=list(mentions), deleted=deleted
        )

    seen = await post(read, bob, "read already", ["alice"])
    await ReadMarker.objects.acreate(user=alice, room=read, last_read_id=seen.pk)
    await post(read, bob, "@alice after the marker", ["alice"])
    await post(read, alice, "her own, mentioning herself", ["alice"])
    await post(unread, bob, "@alice, deleted", ["alice"], deleted=True)
    await post(unread, bob, "@alice and @bob", ["alice", "bob"])
    await post(unread, bob, "only @bob", ["bob"])
    await post(unread, bob, 'a name that merely contains hers: "alice2"', ["alice2"])

    with counted_statements(monkeypatch) as sent:
        room_ids = await room_list_room_ids(user_id=alice.pk)
        states, mentions = await room_list_counts(user_id=alice.pk, username="alice")
    assert len(sent) == 2
    assert sorted(room_ids) == sorted(await room_ids_of_user(user_id=alice.pk))
    assert states == await unread_states(user_id=alice.pk)
    assert [state.room_id for state in states] == [unread.pk, read.pk, quiet.pk]  # by name
    orm = await unread_mention_counts(
        user_id=alice.pk, username="alice", room_ids=[s.room_id for s in states]
    )
    assert mentions == orm == {unread.pk: 1, read.pk: 1, quiet.pk: 0}
    by_room = {state.room_id: state for state in states}
    assert (by_room[read.pk].unread, by_room[read.pk].last_read_id) == (1, seen.pk)
    assert (by_room[unread.pk].unread, by_room[quiet.pk].latest_id) == (4, 0)  # deleted: counted


async def test_a_user_in_no_room_reads_nothing():
    loner = await make_user("loner")
    assert await room_list_room_ids(user_id=loner.pk) == []
    assert await room_list_counts(user_id=loner.pk, username="loner") == ([], {})
