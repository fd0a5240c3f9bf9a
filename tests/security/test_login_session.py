"""Login sessions with their user's id (mychannels/runtime/login_session.py): a socket reads
its session and user in one statement on PostgreSQL, and the signed data stays the authority. A row
whose `user_id` names someone else, or no one, logs in the user the data names or no one;
sessions from Django's own table are carried over by the migration."""

import importlib
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connection
from django.test import AsyncClient

from mychannels.models import LoginSession
from mychannels.runtime import auth
from mychannels.runtime.sessions import SessionStore
from tests.conftest import counted_statements, field_values, make_user, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgresql")]
User = get_user_model()


@pytest.fixture
def statements(monkeypatch) -> Iterator[list[str]]:
    """Every statement the socket login sends on the event loop."""
    with counted_statements(monkeypatch) as sent:
        yield sent


def key_of(cookie: str) -> str:
    return cookie.split("=", 1)[1]


async def test_a_saved_session_row_names_its_user_and_one_statement_reads_both(statements):
    alice = await make_user("alice")
    key = key_of(await session_cookie(alice))
    assert (await LoginSession.objects.aget(session_key=key)).user_id == alice.pk
    session, user = await auth.session_and_user(key)
    assert field_values(user) == field_values(await User.objects.aget(pk=alice.pk))
    assert session.session_key == key and len(statements) == 1


async def test_logging_in_through_the_form_saves_the_user_id():
    await make_user("alice")
    client = AsyncClient()
    response = await client.post(
        "/accounts/login/", {"login": "alice", "password": "pw-for-tests-1"}
    )
    assert response.status_code == 302
    key = client.cookies["sessionid"].value
    row = await LoginSession.objects.aget(session_key=key)
    assert row.user_id == (await User.objects.aget(username="alice")).pk
    await client.post("/accounts/logout/")
    assert not await LoginSession.objects.filter(session_key=key).aexists()


async def test_a_row_naming_another_user_logs_in_the_one_the_signed_data_names(statements):
    alice, mallory = await make_user("alice"), await make_user("mallory")
    key = key_of(await session_cookie(alice))
    await LoginSession.objects.filter(session_key=key).aupdate(user_id=mallory.pk)
    _, user = await auth.session_and_user(key)
    assert user.pk == alice.pk and len(statements) == 2  # the joined user was not taken


@pytest.mark.parametrize("user_id", [None, 2**31 - 1])
async def test_a_row_naming_no_user_reads_the_user_apart(statements, user_id):
    alice = await make_user("alice")
    key = key_of(await session_cookie(alice))
    await LoginSession.objects.filter(session_key=key).aupdate(user_id=user_id)
    _, user = await auth.session_and_user(key)
    assert user.pk == alice.pk and len(statements) == 2


async def test_a_joined_user_still_passes_every_check():
    alice = await make_user("alice")
    key = key_of(await session_cookie(alice))
    alice.is_active = False
    await alice.asave()
    assert not (await auth.session_and_user(key))[1].is_authenticated
    alice.is_active = True
    alice.set_password("a-new-password-2026")
    await alice.asave()
    assert not (await auth.session_and_user(key))[1].is_authenticated
    assert not await LoginSession.objects.filter(session_key=key).aexists()  # flushed


async def test_a_session_without_a_login_logs_in_no_one(statements):
    session = SessionStore()
    session["cart"] = "nothing"
    await sync_to_async(session.save)()
    assert (await LoginSession.objects.aget(session_key=session.session_key)).user_id is None
    loaded, user = await auth.session_and_user(session.session_key)
    assert not user.is_authenticated and loaded["cart"] == "nothing"
    assert len(statements) == 1


@sync_to_async
def carry_over(rows: list[DjangoSession]) -> None:
    DjangoSession.objects.bulk_create(rows)
    migration = importlib.import_module("mychannels.migrations.0001_login_session")
    migration.carry_over_sessions(apps, connection.schema_editor())


async def test_the_migration_carries_over_djangos_sessions_with_their_user():
    alice = await make_user("alice")
    store = SessionStore()
    data = store.encode({"_auth_user_id": str(alice.pk), "_auth_user_backend": "x"})
    expired = "2000-01-01T00:00:00Z"
    later = "2100-01-01T00:00:00Z"
    await carry_over(
        [
            DjangoSession(session_key="a" * 32, session_data=data, expire_date=later),
            DjangoSession(session_key="b" * 32, session_data="garbage", expire_date=later),
            DjangoSession(session_key="c" * 32, session_data=data, expire_date=expired),
        ]
    )
    carried = {row.session_key: row async for row in LoginSession.objects.all()}
    assert set(carried) == {"a" * 32, "b" * 32}
    assert carried["a" * 32].user_id == alice.pk and carried["a" * 32].session_data == data
    assert carried["b" * 32].user_id is None
