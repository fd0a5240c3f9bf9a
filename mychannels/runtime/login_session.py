"""The login session: Django's database session, with the logged-in user's id as a column."""

from importlib import import_module

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class LoginSession(AbstractBaseSession):
    """Django's session row plus `user_id`, the id its data logs in (`_auth_user_id`), so
    that a socket's opening reads its session and its user in one statement, a join
    (mychannels/runtime/auth.py). The data stays the authority: the socket checks that the
    joined user is the one the signed data names. The column is set whenever the session is
    saved (SessionStore.create_model_instance), Django's documented way to extend the
    database session; no foreign key, so that saving a session never fails on a user
    deleted meanwhile (such a session then logs nobody in, as before)."""

    user_id = models.IntegerField(null=True, blank=True, db_index=True)

    class Meta(AbstractBaseSession.Meta):
        db_table = "mychannels_login_session"

    @classmethod
    def get_session_store_class(cls) -> type:
        return import_module(settings.SESSION_ENGINE).SessionStore  # the store of these rows
