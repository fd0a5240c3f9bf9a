"""Message search (`GET /api/search/`, the `/search/` page): what it finds, that it finds only
what the user may read now, the highlight's escaping, paging, bad input, and that PostgreSQL
answers from the GIN index."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test import AsyncClient, override_settings

from chat.models import Message, Room
from chat.selectors.search import MARK_START, MARK_STOP
from chat.services.direct_rooms import direct_room_open
from chat.services.membership import room_leave
from chat.services.messages import message_create, message_delete, message_edit
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def search(client: AsyncClient, q: str, **params):
    return await client.get("/api/search/", {"q": q, **params})


async def found(client: AsyncClient, q: str, **params) -> list[str]:
    response = await search(client, q, **params)
    assert response.status_code == 200, response.content
    return [result["message"]["body"] for result in response.json()["results"]]


async def say(room: Room, author, body: str) -> Message:
    return (await message_create(room=room, author=author, body=body)).message


@pytest.fixture
async def world():
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    general = await make_room("general", [alice, bob], is_public=True)
    # Rooms alice never joined: a private room, and a direct conversation of two others.
    secret = await make_room("secret", [bob, carol])
    direct, _ = await direct_room_open(creator=bob, usernames=["carol"])
    return alice, bob, carol, general, secret, direct


async def test_finds_words_phrases_and_exclusions_newest_first(world):
    alice, bob, _, general, _, _ = world
    await say(general, bob, "the deploy went fine")
    await say(general, alice, "deploy again tomorrow")
    await say(general, bob, "lunch?")
    client = await logged_in(alice)
    assert await found(client, "deploy") == ["deploy again tomorrow", "the deploy went fine"]
    assert await found(client, '"went fine"') == ["the deploy went fine"]
    assert await found(client, "deploy -tomorrow") == ["the deploy went fine"]
    assert await found(client, "DEPLOY Fine") == ["the deploy went fine"]
    assert await found(client, "nothing-like-this") == []


async def test_result_carries_the_full_message_object_and_a_highlight(world):
    alice, bob, _, general, _, _ = world
    message = await say(general, bob, "ping @alice about the **release**")
    response = await search(await logged_in(alice), "release")
    body = response.json()
    assert body["has_more"] is False
    (result,) = body["results"]
    assert result["message"]["id"] == message.pk
    assert result["message"]["mentions"] == ["alice"]
    assert result["message"]["room_id"] == general.pk and result["message"]["username"] == "bob"
    assert set(result["message"]) >= {"html", "version", "reactions", "attachments", "reply_to"}
    assert result["highlight"] == "ping @alice about the **<mark>release</mark>**"


async def test_highlight_is_escaped_text_with_only_marks_as_markup(world):
    alice, bob, _, general, _, _ = world
    hostile = f'<script>alert("x")</script> & <b>bold</b> {MARK_START}fake{MARK_STOP} alert'
    await say(general, bob, hostile)
    (result,) = (await search(await logged_in(alice), "alert")).json()["results"]
    # PostgreSQL's parser reads `<script>…</script>` as markup and skips what is inside.
    assert result["highlight"] == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
        "&lt;b&gt;bold&lt;/b&gt; fake <mark>alert</mark>"
    )


async def test_only_rooms_the_user_belongs_to_now_never_deleted(world):
    alice, bob, carol, general, secret, direct = world
    await say(secret, bob, "budget plans")
    await say(direct, carol, "budget between us")
    gone = await say(general, bob, "budget draft")
    await say(general, bob, "budget final")
    await message_delete(room=general, user=bob, message_id=gone.pk)
    client = await logged_in(alice)
    assert await found(client, "budget") == ["budget final"]
    assert await found(client, "budget", room=secret.pk) == []
    assert await found(client, "budget", room=direct.pk) == []
    bob_client = await logged_in(bob)
    assert await found(bob_client, "budget") == [
        "budget final",
        "budget between us",
        "budget plans",
    ]


async def test_direct_rooms_are_found_by_their_members_and_named_by_the_others(world):
    _, bob, carol, _, _, direct = world
    await say(direct, carol, "our little secret")
    client = await logged_in(bob)
    assert await found(client, "secret") == ["our little secret"]
    page = (await client.get("/search/", {"q": "secret"})).content.decode()
    assert '<span class="search-room">carol</span>' in page


async def test_a_user_removed_from_a_room_no_longer_finds_its_messages(world):
    alice, bob, _, general, _, _ = world
    await say(general, bob, "quarterly numbers")
    client = await logged_in(alice)
    assert await found(client, "quarterly") == ["quarterly numbers"]
    await room_leave(room=general, user=alice)
    assert await found(client, "quarterly") == []


async def test_an_edit_is_indexed_by_the_database(world):
    alice, bob, _, general, _, _ = world
    message = await say(general, bob, "old wording")
    await message_edit(room=general, user=bob, message_id=message.pk, body="new phrasing")
    client = await logged_in(alice)
    assert await found(client, "wording") == []
    assert await found(client, "phrasing") == ["new phrasing"]


async def test_rows_written_outside_the_services_are_indexed_too(world):
    """Admin saves, bulk imports: the column is the database's, so every write is indexed."""
    alice, bob, _, general, _, _ = world
    await Message.objects.abulk_create(
        [Message(room=general, author=bob, body=f"imported line {n}", version=n) for n in (1, 2)]
    )
    await Message.objects.filter(body="imported line 2").aupdate(body="renamed by hand")
    client = await logged_in(alice)
    assert await found(client, "imported") == ["imported line 1"]
    assert await found(client, "renamed") == ["renamed by hand"]


async def test_paging_with_before_limit_and_room(world):
    alice, bob, _, general, _, _ = world
    other = await make_room("other", [alice, bob])
    for n in range(5):
        await say(general, bob, f"report {n}")
    await say(other, bob, "report elsewhere")
    client = await logged_in(alice)
    first = (await search(client, "report", limit=2)).json()
    assert [r["message"]["body"] for r in first["results"]] == ["report elsewhere", "report 4"]
    assert first["has_more"] is True
    before = first["results"][-1]["message"]["id"]
    second = (await search(client, "report", limit=2, before=before)).json()
    assert [r["message"]["body"] for r in second["results"]] == ["report 3", "report 2"]
    in_general = await found(client, "report", room=general.pk, limit=50)
    assert in_general == [f"report {n}" for n in (4, 3, 2, 1, 0)]
    assert len(await found(client, "report")) == 6  # default limit 20


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 201},
        {"q": "nul\x00byte"},
        {"q": "ok", "limit": "0"},
        {"q": "ok", "limit": "51"},
        {"q": "ok", "limit": "ten"},
        {"q": "ok", "before": "-1"},
        {"q": "ok", "room": "1.5"},
        {},
    ],
)
async def test_bad_input_is_400_invalid(world, params):
    client = await logged_in(world[0])
    response = await client.get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


async def test_two_hundred_characters_are_allowed(world):
    client = await logged_in(world[0])
    assert await found(client, "y" * 200) == []


@pytest.mark.parametrize(
    "q",
    [
        "-",
        '"',
        '""',
        '-""-',
        "'&|!:*()",
        "\\",
        "\\\\",
        "a & b | !c",
        "x:*",
        "(((",
        "!!",
        "'; DROP TABLE chat_message; --",
        "1' OR '1'='1",
        "<->",
        "OR",
        "--",
        "-- -",
    ],
)
async def test_operators_and_sql_looking_input_answer_without_error(world, q):
    alice, bob, _, general, _, _ = world
    await say(general, bob, "a plain message OR two")
    response = await search(await logged_in(alice), q)
    assert response.status_code == 200
    assert await Message.objects.acount() == 1


async def test_unicode_words(world):
    alice, bob, _, general, _, _ = world
    await say(general, bob, "café con leche 😀 und Straße, 東京 tower")
    client = await logged_in(alice)
    for word in ("café", "CAFÉ", "straße", "leche", "東京"):
        assert await found(client, word) == ["café con leche 😀 und Straße, 東京 tower"], word
    (result,) = (await search(client, "café")).json()["results"]
    assert "<mark>café</mark>" in result["highlight"]


async def test_anonymous_is_401_and_only_get(world):
    assert (await AsyncClient().get("/api/search/", {"q": "x"})).status_code == 401
    client = await logged_in(world[0])
    assert (await client.post("/api/search/?q=x")).status_code == 405


@override_settings(CHAT_REQUEST_BURST=3, CHAT_REQUEST_RATE_PER_SECOND=0.01)
async def test_rate_limited_per_user(world):
    client = await logged_in(world[0])
    codes = [(await search(client, "anything")).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


async def test_search_page_renders_results_linking_to_the_message(world):
    alice, bob, _, general, _, _ = world
    message = await say(general, bob, "see <b>the</b> roadmap")
    client = await logged_in(alice)
    page = (await client.get("/search/", {"q": "roadmap"})).content.decode()
    assert f'href="/chat/room/{general.pk}/?at={message.pk}"' in page
    assert "see &lt;b&gt;the&lt;/b&gt; <mark>roadmap</mark>" in page
    assert "general" in page and "bob" in page
    assert "No messages found" in (await client.get("/search/", {"q": "zzz"})).content.decode()
    too_long = (await client.get("/search/", {"q": "x" * 201})).content.decode()
    assert "longer than 200" in too_long


async def test_every_page_has_the_search_box(world):
    client = await logged_in(world[0])
    page = (await client.get("/")).content.decode()
    assert 'action="/search/"' in page and 'name="q"' in page


async def test_room_page_opens_at_a_message_of_that_room_only(world):
    alice, bob, _, general, secret, _ = world
    mine = await say(general, bob, "here")
    elsewhere = await say(secret, bob, "not for alice")
    client = await logged_in(alice)
    page = (await client.get(f"/chat/room/{general.pk}/", {"at": mine.pk})).content.decode()
    assert f'"at": {mine.pk}' in page
    for at in (elsewhere.pk, "abc", "99999999999999999999", ""):
        page = (await client.get(f"/chat/room/{general.pk}/", {"at": at})).content.decode()
        assert '"at"' not in page


def _explain(user_id: int, word: str) -> str:
    """The plan of the API's own query, with fresh statistics and sequential scans priced
    out (SET LOCAL, this transaction only): on a small table the planner rightly prefers
    reading it all, which would hide whether the index is usable."""
    from chat.models import Room
    from chat.selectors.search import postgres_matches, readable_messages

    room_ids = list(
        Room.users.through.objects.filter(user_id=user_id).values_list("room_id", flat=True)
    )
    queryset = postgres_matches(readable_messages(room_ids, None, None), word)[:21]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_message")
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


async def test_postgres_answers_from_the_gin_index(world):
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL)")
    alice, bob, _, general, _, _ = world
    await Message.objects.abulk_create(
        [Message(room=general, author=bob, body=f"filler text {n}", version=n) for n in range(2000)]
    )
    await say(general, bob, "needle")
    plan = await sync_to_async(_explain)(alice.pk, "needle")
    assert "Bitmap Index Scan on chat_message_search_gin" in plan, plan
