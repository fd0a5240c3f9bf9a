"""The chat app's models, one entity per module; Django finds them here."""

from chat.models.api_token import ApiToken
from chat.models.attachment import Attachment
from chat.models.membership import Membership
from chat.models.message import Message, MessageEdit, Reaction
from chat.models.notification import NotificationSetting, RoomMute
from chat.models.read_marker import ReadMarker
from chat.models.room import Room

__all__ = [
    "ApiToken",
    "Attachment",
    "Membership",
    "Message",
    "MessageEdit",
    "NotificationSetting",
    "Reaction",
    "ReadMarker",
    "Room",
    "RoomMute",
]
