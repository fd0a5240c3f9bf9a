"""Rooms people run themselves: creating, changing, members and roles, direct rooms, and
every refusal (each changes nothing)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient, override_settings

from chat.models import Membership, Room
from chat.selectors.members import membership_role
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def send(client: AsyncClient, method: str, path: str, data=None):
    if method == "get":
        return await client.get(path)
    body = data if isinstance(data, (str, bytes)) else json.dumps(data or {})
    return await getattr(client, method)(path, body, content_type="application/json")


async def owned_room(owner, name: str = "general", **kwargs) -> Room:
    room = await make_room(name, [], **kwargs)
    await Membership.objects.acreate(room=room, user=owner, role=Membership.OWNER)
    return room


async def with_role(room: Room, user, role: str) -> None:
    await Membership.objects.acreate(room=room, user=user, role=role)


async def test_creating_a_room_makes_the_creator_its_owner():
    alice = await make_user("alice")
    client = await logged_in(alice)
    response = await send(
        client,
        "post",
        "/api/rooms/",
        {"name": "  Team   talk ", "topic": "plans", "is_public": True},
    )
    assert response.status_code == 201
    room = response.json()
    assert room == {
        "id": room["id"],
        "name": "Team talk",
        "topic": "plans",
        "kind": "room",
        "is_public": True,
        "role": "owner",
        "members": 1,
    }
    assert await membership_role(room["id"], alice.pk) == "owner"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "GENERAL"},  # taken, ignoring case
        {"name": "general"},
        {"name": ""},
        {"name": "    "},
        {"name": "x" * 61},
        {"name": 5},
        {"name": "ok", "is_public": "yes"},
        {"name": "ok", "topic": ["a"]},
        {},
    ],
)
async def test_bad_room_names_and_types_are_refused(body):
    alice = await make_user("alice")
    await make_room("General")
    response = await send(await logged_in(alice), "post", "/api/rooms/", body)
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert await Room.objects.acount() == 1


async def test_malformed_json_and_anonymous_calls():
    alice = await make_user("alice")
    room = await owned_room(alice)
    client = await logged_in(alice)
    assert (await send(client, "post", "/api/rooms/", "{nope")).json()["error"] == "bad_json"
    assert (await send(client, "post", "/api/rooms/", "[1]")).status_code == 400
    anonymous = AsyncClient()
    for method, path in [
        ("get", "/api/rooms/"),
        ("post", "/api/rooms/"),
        ("patch", f"/api/rooms/{room.pk}/"),
        ("get", f"/api/rooms/{room.pk}/members/"),
        ("delete", f"/api/rooms/{room.pk}/members/alice/"),
        ("post", "/api/dms/"),
        ("get", "/api/users/?q=a"),
    ]:
        assert (await send(anonymous, method, path)).status_code == 401, (method, path)


async def test_concurrent_creates_of_one_name_make_one_room():
    alice, bob = await make_user("alice"), await make_user("bob")
    clients = [await logged_in(alice), await logged_in(bob)]
    responses = await asyncio.gather(
        *(
            send(c, "post", "/api/rooms/", {"name": n})
            for c, n in zip(clients, ["Dup", "dup"], strict=True)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 400]
    assert await Room.objects.acount() == 1


async def test_room_creation_is_rate_limited():
    alice = await make_user("alice")
    client = await logged_in(alice)
    with override_settings(CHAT_ROOM_CREATE_BURST=2, CHAT_ROOM_CREATE_RATE_PER_SECOND=0.001):
        codes = [
            (await send(client, "post", "/api/rooms/", {"name": f"r{i}"})).status_code
            for i in range(3)
        ]
    assert codes == [201, 201, 429]


async def test_room_list_has_counts_and_public_list_search():
    alice, bob = await make_user("alice"), await make_user("bob")
    await owned_room(alice, "mine")
    await owned_room(bob, "open one", is_public=True)
    await owned_room(bob, "open two", is_public=True)
    await owned_room(bob, "closed")
    client = await logged_in(alice)
    rooms = (await client.get("/api/rooms/")).json()["rooms"]
    assert [(r["name"], r["unread"], r["mentions"], r["active"]) for r in rooms] == [
        ("mine", 0, 0, 0)
    ]
    public = (await client.get("/api/rooms/?public=1")).json()["rooms"]
    assert [r["name"] for r in public] == ["open one", "open two"]
    found = (await client.get("/api/rooms/?public=1&q=TWO")).json()["rooms"]
    assert [r["name"] for r in found] == ["open two"]


async def test_owner_changes_everything_moderator_only_the_topic():
    alice, mod, bob = await make_user("alice"), await make_user("mod"), await make_user("bob")
    room = await owned_room(alice)
    await with_role(room, mod, "moderator")
    await with_role(room, bob, "member")
    path = f"/api/rooms/{room.pk}/"
    owner = await send(
        await logged_in(alice), "patch", path, {"name": "renamed", "is_public": True}
    )
    assert owner.status_code == 200 and owner.json()["name"] == "renamed"
    moderator = await logged_in(mod)
    assert (await send(moderator, "patch", path, {"topic": "new topic"})).status_code == 200
    for changes in ({"name": "mine now"}, {"is_public": False}):
        response = await send(moderator, "patch", path, changes)
        assert response.status_code == 403 and response.json()["error"] == "forbidden"
    member = await logged_in(bob)
    assert (await send(member, "patch", path, {"topic": "x"})).status_code == 403
    await room.arefresh_from_db()
    assert (room.name, room.topic, room.is_public) == ("renamed", "new topic", True)
    outsider = await logged_in(await make_user("eve"))
    assert (await send(outsider, "patch", path, {"topic": "x"})).status_code == 403
    assert (await send(outsider, "get", f"/api/rooms/{room.pk}/members/")).status_code == 403


async def test_renaming_to_a_taken_name_differing_in_case_is_refused():
    alice = await make_user("alice")
    room = await owned_room(alice)
    await make_room("Other")
    response = await send(
        await logged_in(alice), "patch", f"/api/rooms/{room.pk}/", {"name": "oTHER"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid"


async def test_members_added_removed_and_given_roles():
    alice, mod = await make_user("alice"), await make_user("mod")
    bob, carol = await make_user("bob"), await make_user("carol")
    room = await owned_room(alice)
    await with_role(room, mod, "moderator")
    members = f"/api/rooms/{room.pk}/members/"
    moderator, owner = await logged_in(mod), await logged_in(alice)
    added = await send(moderator, "post", members, {"username": "bob"})
    assert added.status_code == 201 and added.json() == {"username": "bob", "role": "member"}
    assert (await send(moderator, "post", members, {"username": "bob"})).status_code == 200
    promote = await send(moderator, "post", members, {"username": "carol", "role": "owner"})
    assert promote.status_code == 403
    set_role = await send(owner, "post", members, {"username": "bob", "role": "moderator"})
    assert set_role.status_code == 200 and set_role.json()["role"] == "moderator"
    listed = (await owner.get(members)).json()["members"]
    assert listed == [
        {"username": "alice", "role": "owner"},
        {"username": "bob", "role": "moderator"},
        {"username": "mod", "role": "moderator"},
    ]
    # A moderator cannot remove an owner or another moderator; an owner removes anyone else.
    assert (await send(moderator, "delete", f"{members}alice/")).status_code == 403
    assert (await send(moderator, "delete", f"{members}bob/")).status_code == 403
    assert (await send(owner, "delete", f"{members}bob/")).status_code == 200
    assert await membership_role(room.pk, bob.pk) is None
    assert (await send(owner, "delete", f"{members}carol/")).status_code == 404
    member = await logged_in(carol)
    assert (await send(member, "post", members, {"username": "bob"})).status_code == 403


@pytest.mark.parametrize("username", ["nobody", "", 7, None, "sleeper"])
async def test_adding_unknown_or_inactive_users_is_refused(username):
    alice = await make_user("alice")
    sleeper = await make_user("sleeper")
    sleeper.is_active = False
    await sleeper.asave()
    room = await owned_room(alice)
    response = await send(
        await logged_in(alice), "post", f"/api/rooms/{room.pk}/members/", {"username": username}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert await Membership.objects.filter(room=room).acount() == 1


async def test_bad_role_is_refused():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await owned_room(alice)
    response = await send(
        await logged_in(alice),
        "post",
        f"/api/rooms/{room.pk}/members/",
        {"username": "bob", "role": "king"},
    )
    assert response.status_code == 400
    assert await membership_role(room.pk, bob.pk) is None


async def test_the_last_owner_cannot_leave_or_step_down_while_others_remain():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await owned_room(alice)
    await with_role(room, bob, "member")
    owner = await logged_in(alice)
    leave = await send(owner, "delete", f"/api/rooms/{room.pk}/members/alice/")
    assert leave.status_code == 403 and leave.json()["error"] == "forbidden"
    demote = await send(
        owner, "post", f"/api/rooms/{room.pk}/members/", {"username": "alice", "role": "member"}
    )
    assert demote.status_code == 403
    assert await membership_role(room.pk, alice.pk) == "owner"
    # With a second owner, the first may go.
    await send(
        owner, "post", f"/api/rooms/{room.pk}/members/", {"username": "bob", "role": "owner"}
    )
    assert (await send(owner, "delete", f"/api/rooms/{room.pk}/members/alice/")).status_code == 200


async def test_an_owner_cannot_remove_another_owner_but_anyone_may_leave():
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await owned_room(alice)
    await with_role(room, bob, "owner")
    await with_role(room, carol, "member")
    owner = await logged_in(alice)
    assert (await send(owner, "delete", f"/api/rooms/{room.pk}/members/bob/")).status_code == 403
    member = await logged_in(carol)
    assert (await send(member, "delete", f"/api/rooms/{room.pk}/members/carol/")).status_code == 200


async def test_a_room_made_in_the_admin_may_have_no_owner():
    alice = await make_user("alice")
    room = await make_room("ops", [alice])
    assert await membership_role(room.pk, alice.pk) == "member"
    response = await send(await logged_in(alice), "patch", f"/api/rooms/{room.pk}/", {"name": "x"})
    assert response.status_code == 403


# Direct rooms


async def test_the_same_people_always_get_the_same_direct_room():
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    first = await send(await logged_in(alice), "post", "/api/dms/", {"usernames": ["bob"]})
    assert first.status_code == 201
    room = first.json()
    assert room["kind"] == "direct" and room["name"] == "bob" and room["is_public"] is False
    assert room["role"] == "member" and room["members"] == 2
    again = await send(await logged_in(bob), "post", "/api/dms/", {"usernames": ["alice", "bob"]})
    assert again.status_code == 200 and again.json()["id"] == room["id"]
    assert again.json()["name"] == "alice"
    group = await send(await logged_in(carol), "post", "/api/dms/", {"usernames": ["bob", "alice"]})
    assert group.status_code == 201 and group.json()["name"] == "alice, bob"
    assert await Room.objects.filter(kind="direct").acount() == 2


async def test_two_concurrent_requests_make_one_direct_room():
    alice, bob = await make_user("alice"), await make_user("bob")
    clients = [await logged_in(alice), await logged_in(bob), await logged_in(alice)]
    bodies = [{"usernames": ["bob"]}, {"usernames": ["alice"]}, {"usernames": ["bob"]}]
    responses = await asyncio.gather(
        *(send(c, "post", "/api/dms/", b) for c, b in zip(clients, bodies, strict=True))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await Room.objects.filter(kind="direct").acount() == 1


@pytest.fixture
def many_users():
    @sync_to_async
    def make(count: int) -> list[str]:
        users = get_user_model().objects.bulk_create(
            get_user_model()(username=f"u{i}") for i in range(count)
        )
        return [u.username for u in users]

    return make


async def test_bad_direct_rooms_are_refused(many_users):
    alice = await make_user("alice")
    sleeper = await make_user("sleeper")
    sleeper.is_active = False
    await sleeper.asave()
    twenty = await many_users(20)
    client = await logged_in(alice)
    for body in (
        {"usernames": ["alice"]},
        {"usernames": []},
        {"usernames": twenty},
        {"usernames": twenty[:9]},
        {"usernames": ["ghost"]},
        {"usernames": ["sleeper"]},
        {"usernames": "u1"},
        {"usernames": [1]},
        {},
    ):
        response = await send(client, "post", "/api/dms/", body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid"
    assert (await send(client, "post", "/api/dms/", {"usernames": twenty[:8]})).status_code == 201
    assert await Room.objects.acount() == 1


async def test_a_direct_room_is_never_joined_renamed_or_given_members():
    alice, carol = await make_user("alice"), await make_user("carol")
    await make_user("bob")
    client = await logged_in(alice)
    room_id = (await send(client, "post", "/api/dms/", {"usernames": ["bob"]})).json()["id"]
    for changes in ({"name": "ours"}, {"topic": "t"}, {"is_public": True}):
        assert (await send(client, "patch", f"/api/rooms/{room_id}/", changes)).status_code == 403
    add = await send(client, "post", f"/api/rooms/{room_id}/members/", {"username": "carol"})
    assert add.status_code == 403
    remove = await send(client, "delete", f"/api/rooms/{room_id}/members/bob/")
    assert remove.status_code == 403
    join = await (await logged_in(carol)).post(f"/chat/room/{room_id}/join/")
    assert join.status_code == 403
    members = (await client.get(f"/api/rooms/{room_id}/members/")).json()["members"]
    assert [m["username"] for m in members] == ["alice", "bob"]


async def test_dm_page_opens_the_direct_room_with_that_user():
    alice, bob = await make_user("alice"), await make_user("bob")
    client = await logged_in(alice)
    response = await client.get("/dm/bob/")
    assert response.status_code == 302
    room = await Room.objects.aget(kind="direct")
    assert response.url == f"/chat/room/{room.pk}/"
    assert (await client.get("/dm/bob/")).url == response.url
    assert (await client.get("/dm/alice/")).status_code == 404
    assert (await client.get("/dm/ghost/")).status_code == 404
    assert bob.pk in [u.pk async for u in room.users.all()]


async def test_user_search_by_prefix():
    alice = await make_user("alice")
    for name in ("albert", "alfred", "bob"):
        await make_user(name)
    sleeper = await make_user("alsleep")
    sleeper.is_active = False
    await sleeper.asave()
    client = await logged_in(alice)
    assert (await client.get("/api/users/?q=AL")).json() == {"users": ["albert", "alfred", "alice"]}
    assert (await client.get("/api/users/?q=")).status_code == 400


async def test_moderators_and_owners_delete_any_message_of_their_room_members_do_not():
    alice, mod, bob = await make_user("alice"), await make_user("mod"), await make_user("bob")
    room = await owned_room(alice)
    await with_role(room, mod, "moderator")
    await with_role(room, bob, "member")
    posted = [
        await send(await logged_in(bob), "post", f"/api/rooms/{room.pk}/messages/", {"body": b})
        for b in ("one", "two")
    ]
    first, second = (response.json()["id"] for response in posted)
    carol = await make_user("carol")
    await with_role(room, carol, "member")
    member = await send(await logged_in(carol), "delete", f"/api/rooms/{room.pk}/messages/{first}/")
    assert member.status_code == 403
    moderator = await send(
        await logged_in(mod), "delete", f"/api/rooms/{room.pk}/messages/{first}/"
    )
    assert moderator.status_code == 200 and moderator.json()["deleted"] is True
    owner = await send(await logged_in(alice), "delete", f"/api/rooms/{room.pk}/messages/{second}/")
    assert owner.status_code == 200
