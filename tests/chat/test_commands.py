"""seed_demo is idempotent and prints how to log in."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chat.models import Message, Room


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


@pytest.mark.django_db(transaction=True)
def test_seed_demo_conversation_is_posted_once_through_the_message_service():
    call_command("seed_demo", "--conversation", stdout=io.StringIO())
    call_command("seed_demo", "--conversation", stdout=io.StringIO())
    general = Room.objects.get(name="general")
    messages = list(Message.objects.filter(room=general).order_by("id"))
    assert [m.author.username for m in messages] == ["alice", "bob", "carol"]
    # Stored as the service stores a typed message: rendered, versioned, mentions resolved.
    assert "<strong>MyChannels</strong>" in messages[0].html
    assert [m.version for m in messages] == sorted({m.version for m in messages})
    assert messages[1].mentions == ["alice"]
    assert Message.objects.filter(room__name="random").count() == 1
