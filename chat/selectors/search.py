"""Message search: what a user may read (rooms they belong to now, never deleted messages),
newest first, with the body's matched words highlighted as safe HTML.

On PostgreSQL it is full-text search in web-search syntax (words, "quoted phrases",
-excluded words) over the stored, GIN-indexed `search_vector`; elsewhere (SQLite in
development) it finds messages containing every plain word, excluded words left out.
"""

import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchHeadline, SearchQuery
from django.db import connection
from django.db.models import F, Func, QuerySet, Value
from django.utils.html import escape

from chat.models import Message, Room
from chat.models.message import SEARCH_CONFIG

SEARCH_QUERY_MAX_LENGTH = 200
SEARCH_LIMIT_DEFAULT = 20
SEARCH_LIMIT_MAX = 50

# ts_headline marks matches in raw text, so its marks must survive escaping and be told apart
# from anything a body holds: two Unicode noncharacters, removed from the body first, mark
# them; the text is escaped, then they become <mark> and </mark>.
MARK_START, MARK_STOP = "\ufdd0", "\ufdd1"
_SENTINELS = MARK_START + MARK_STOP

_WORD_RE = re.compile(r"-?[\w]+")


@dataclass(frozen=True)
class SearchHit:
    message: Message
    highlight: str


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    has_more: bool


def highlight_html(marked_text: str) -> str:
    """Text with sentinel marks to safe HTML: escaped, marks as <mark>…</mark>."""
    return escape(marked_text).replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")


def _without_sentinels(text: str) -> str:
    return text.replace(MARK_START, "").replace(MARK_STOP, "")


async def _room_ids_of(user_id: int) -> list[int]:
    through = Room.users.through.objects.filter(user_id=user_id)
    return [room_id async for room_id in through.values_list("room_id", flat=True)]


def readable_messages(room_ids: list[int], room_id: int | None, before_id: int | None) -> QuerySet:
    """Searchable messages: in these rooms (the user's now), not deleted. The rooms are a
    list rather than a join: with a join the planner walks each room's messages and filters
    them for rare matches (35 ms for a phrase on 100k messages); with a list it reads the GIN
    index first (docs/performance.md)."""
    if room_id is not None:
        room_ids = [room_id] if room_id in room_ids else []
    messages = Message.objects.filter(room_id__in=room_ids, deleted=False)
    if before_id is not None:
        messages = messages.filter(id__lt=before_id)
    return messages.select_related("author", "room", "reply_to__author").order_by("-id")


def postgres_matches(messages: QuerySet, text: str) -> QuerySet:
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    plain_body = Func(F("body"), Value(_SENTINELS), Value(""), function="translate")
    headline = SearchHeadline(
        plain_body,
        query,
        config=SEARCH_CONFIG,
        start_sel=MARK_START,
        stop_sel=MARK_STOP,
        highlight_all=True,
    )
    return messages.filter(search_vector=query).annotate(marked=headline)


def plain_words(text: str) -> tuple[list[str], list[str]]:
    """(wanted, excluded) words of a query, operators and quotes dropped."""
    wanted, excluded = [], []
    for token in _WORD_RE.findall(text):
        if token.startswith("-"):
            if token[1:]:
                excluded.append(token[1:])
        else:
            wanted.append(token)
    return wanted, excluded


def _word_matches(messages: QuerySet, text: str) -> QuerySet | None:
    wanted, excluded = plain_words(text)
    if not wanted:
        return None
    for word in wanted:
        messages = messages.filter(body__icontains=word)
    for word in excluded:
        messages = messages.exclude(body__icontains=word)
    return messages


def _marked_words(body: str, words: list[str]) -> str:
    if not words:
        return body
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I)
    return pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_STOP}", body)


def _hit(message: Message, text: str) -> SearchHit:
    marked = getattr(message, "marked", None)
    if marked is None:  # the word search: marked here
        marked = _marked_words(_without_sentinels(message.body), plain_words(text)[0])
    return SearchHit(message=message, highlight=highlight_html(marked))


async def search_messages(
    *,
    user_id: int,
    text: str,
    room_id: int | None = None,
    before_id: int | None = None,
    limit: int = SEARCH_LIMIT_DEFAULT,
) -> SearchPage:
    """The newest `limit` messages matching `text` that the user may read, before
    `before_id` if given, in one room if `room_id` is given. `text` is already checked
    (chat.api's search_text): non-empty, at most SEARCH_QUERY_MAX_LENGTH characters."""
    room_ids = await _room_ids_of(user_id)
    if not room_ids:
        return SearchPage(hits=[], has_more=False)
    messages = readable_messages(room_ids, room_id, before_id)
    if connection.vendor == "postgresql":
        matches = postgres_matches(messages, text)
    else:
        matches = _word_matches(messages, text)
        if matches is None:
            return SearchPage(hits=[], has_more=False)
    rows = [m async for m in matches[: limit + 1]]
    hits = [_hit(m, text) for m in rows[:limit]]
    return SearchPage(hits=hits, has_more=len(rows) > limit)
