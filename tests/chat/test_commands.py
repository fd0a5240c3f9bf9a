"""seed_demo is idempotent and prints how to log in."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chat.models import Room


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_login():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())
    text = out.getvalue()
    assert "http://127.0.0.1:8000/" in text and "chat-demo-2026" in text
    assert (
        get_user_model().objects.filter(username__in=["alice", "bob", "carol", "dave"]).count() == 4
    )
    assert Room.objects.count() == 3
    general = Room.objects.get(name="general")
    assert general.is_public and general.users.count() == 4
    assert not Room.objects.get(name="ops").is_public
    alice = get_user_model().objects.get(username="alice")
    assert alice.check_password("chat-demo-2026")
