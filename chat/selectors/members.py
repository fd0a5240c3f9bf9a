"""A room's members as a write needs them (mentions)."""

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

# A body of 2000 characters could name hundreds of `@names`; past this many distinct ones the
# rest are not looked up (and the contract resolves at most CHAT_MENTIONS_MAX anyway).
MAX_CANDIDATES = 200


def member_usernames(room_id: int, lowercase_names: list[str]) -> list[str]:
    """The usernames of the room's members among `lowercase_names` (compared ignoring case)."""
    users = get_user_model()
    field = users.USERNAME_FIELD
    return list(
        users.objects.filter(rooms_joined=room_id)
        .annotate(name_lower=Lower(field))
        .filter(name_lower__in=lowercase_names[:MAX_CANDIDATES])
        .values_list(field, flat=True)
    )
