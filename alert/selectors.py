"""Alert reads, async. A user's feed is every alert of every room they belong to now."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, QuerySet

from alert.models import Alert
from chat.models import ApiToken, Room


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]  # ascending ids
    has_more: bool


def _of_room(room_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(room_id=room_id).select_related("user")


def _of_user(user_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(room__users=user_id).select_related("user", "room")


async def _page(queryset: QuerySet[Alert], limit: int, newest_first: bool) -> AlertPage:
    rows = [alert async for alert in queryset[: limit + 1]]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if newest_first:
        rows.reverse()
    return AlertPage(alerts=rows, has_more=has_more)


async def alerts_latest_of_room(*, room_id: int, limit: int) -> AlertPage:
    return await _page(_of_room(room_id).order_by("-id"), limit, True)


async def alerts_latest_of_user(*, user_id: int, limit: int) -> AlertPage:
    return await _page(_of_user(user_id).order_by("-id"), limit, True)


async def alerts_page_of_user(
    *, user_id: int, after_id: int | None, before_id: int | None, limit: int
) -> AlertPage:
    """The API's paging, as for messages: `after` reads forward, `before` backward, neither
    the latest; always ascending ids."""
    queryset = _of_user(user_id)
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    if after_id is not None:
        return await _page(queryset.filter(id__gt=after_id).order_by("id"), limit, False)
    return await _page(queryset.order_by("-id"), limit, True)


async def alerts_for_room_page(*, room_id: int, limit: int) -> tuple[list[Alert], int]:
    """The room's newest alerts (newest first) and the highest alert id anywhere, read first:
    the page catches up from that id once its socket is live, so nothing falls in between."""
    last_id = (await Alert.objects.aaggregate(last=Max("id")))["last"] or 0
    page = await alerts_latest_of_room(room_id=room_id, limit=limit)
    return list(reversed(page.alerts)), last_id


async def room_ids_of_user(*, user_id: int) -> list[int]:
    queryset = Room.users.through.objects.filter(user_id=user_id).values_list("room_id", flat=True)
    return [room_id async for room_id in queryset]


async def rooms_of_user_by_id(*, user_id: int) -> dict[int, str]:
    """room id -> name, for labelling alerts on the feed page."""
    return {room.pk: room.name async for room in Room.objects.filter(users=user_id)}


def alerts_for_feed(*, user: AbstractBaseUser, limit: int) -> list[Alert]:
    """Sync, for django.contrib.syndication: the user's newest alerts, newest first."""
    return list(_of_user(user.pk).order_by("-id")[:limit])


async def api_tokens_of_user(*, user_id: int) -> list[ApiToken]:
    return [token async for token in ApiToken.objects.filter(user_id=user_id)]
