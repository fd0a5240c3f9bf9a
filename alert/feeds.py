"""The user's alerts as an Atom feed at a secret URL, for feed readers that cannot log in.

The URL carries the user's id and an HMAC (keyed by SECRET_KEY) of the id and a per-user nonce:
nothing in the database is enough to forge it, and rotating the nonce revokes the old URL.
"""

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.feedgenerator import Atom1Feed

from alert import selectors
from alert.models import Alert, FeedKey

FEED_SIZE = 50
_HMAC_SALT = "alert.feed"


def _signature(user_id: int, nonce: str) -> str:
    return salted_hmac(_HMAC_SALT, f"{user_id}:{nonce}", algorithm="sha256").hexdigest()


def feed_token(key: FeedKey) -> str:
    return f"{key.user_id}-{_signature(key.user_id, key.nonce)}"


def feed_key_get_or_create(*, user: AbstractBaseUser) -> FeedKey:
    key, _ = FeedKey.objects.get_or_create(user=user, defaults={"nonce": secrets.token_urlsafe(32)})
    return key


def feed_key_rotate(*, user: AbstractBaseUser) -> FeedKey:
    """A new secret URL; every copy of the old one stops working at once."""
    key, _ = FeedKey.objects.update_or_create(
        user=user, defaults={"nonce": secrets.token_urlsafe(32), "rotated": timezone.now()}
    )
    return key


def feed_path(key: FeedKey) -> str:
    return reverse("alert:feed", kwargs={"token": feed_token(key)})


def feed_user(token: str) -> AbstractBaseUser | None:
    """The active user a feed token belongs to, or None for anything forged, stale or odd."""
    user_id, _, signature = token.partition("-")
    if not user_id.isdigit() or len(user_id) > 18 or len(signature) != 64:
        return None
    key = FeedKey.objects.select_related("user").filter(user_id=int(user_id)).first()
    if key is None or not key.user.is_active:
        return None
    if not constant_time_compare(signature, _signature(key.user_id, key.nonce)):
        return None
    return key.user


class AlertAtomFeed(Feed):
    feed_type = Atom1Feed
    login_required = False  # the secret URL is the credential (LoginRequiredMiddleware)

    def get_object(self, request: HttpRequest, token: str) -> AbstractBaseUser:
        user = feed_user(token)
        if user is None:
            raise Http404("No such feed")
        return user

    def title(self, user: AbstractBaseUser) -> str:
        return f"MyChannels alerts for {user.get_username()}"

    def subtitle(self, user: AbstractBaseUser) -> str:
        return f"The latest {FEED_SIZE} alerts of the rooms {user.get_username()} belongs to"

    def link(self) -> str:
        return reverse("alert:feed_page")

    def author_name(self) -> str:
        return "MyChannels"

    def items(self, user: AbstractBaseUser) -> list[Alert]:
        return selectors.alerts_for_feed(user=user, limit=FEED_SIZE)

    def item_title(self, alert: Alert) -> str:
        return f"[{alert.level}] {alert.room.name}: {alert.content}"

    def item_description(self, alert: Alert) -> str:
        return alert.content

    def item_link(self, alert: Alert) -> str:
        # The alerts page that starts at this alert: it always shows it (however old), and the
        # link is unique per alert, so it also serves as the entry's <id>.
        return f"{reverse('alert:feed_page')}?before={alert.pk + 1}#alert-{alert.pk}"

    def item_author_name(self, alert: Alert) -> str:
        return alert.user.get_username()

    def item_pubdate(self, alert: Alert):
        return alert.create_at

    def item_updateddate(self, alert: Alert):
        return alert.create_at

    def item_categories(self, alert: Alert) -> list[str]:
        return [alert.level]
