"""Auth events that must reach open sockets: the user is fixed when a socket connects, so
logging out or changing the password over HTTP would leave old sockets open (DESIGN.md,
trap 5). These receivers close them through the one service that does it."""

from typing import Any

from allauth.account.signals import password_changed, password_reset, password_set
from asgiref.sync import async_to_sync
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from chat.services.membership import user_sockets_close


@receiver(user_logged_out, dispatch_uid="chat.close_sockets_on_logout")
@receiver([password_changed, password_set, password_reset], dispatch_uid="chat.close_sockets_on_pw")
def close_sockets_of_user(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """Logged out, or a new password (which ends the user's other sessions as well).

    Sync on purpose: Django and allauth send these from sync views, and Django runs a sync
    receiver in a worker thread when a signal is sent asynchronously (`alogout`), so
    async_to_sync is the safe bridge either way."""
    if user is not None and getattr(user, "pk", None) is not None:
        async_to_sync(user_sockets_close)(user_id=user.pk)
