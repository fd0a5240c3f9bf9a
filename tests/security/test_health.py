"""/healthz in process: anonymous, JSON, 200 when the database and channel layer work, 503
naming the part that does not (tests/e2e/test_faults.py starts real processes for the rest)."""

import pytest
from django.test import AsyncClient, override_settings

from mychannels.health import redacted
from mychannels.settings import redis_channel_layer
from tests.liveserver import free_port

pytestmark = pytest.mark.django_db(transaction=True)


async def test_healthz_needs_no_login_and_reports_ok():
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


async def test_healthz_names_a_channel_layer_that_is_down():
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(CHANNEL_LAYERS={"default": redis_channel_layer(dead_redis, "hz")}):
        response = await AsyncClient().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "channel_layer": "down"}


async def test_healthz_takes_no_writes():
    response = await AsyncClient().post("/healthz", {})
    assert response.status_code == 405


def test_log_lines_never_show_the_redis_password():
    assert redacted("redis://:s3cret@redis.internal:6379/0") == "redis://:***@redis.internal:6379/0"
    assert redacted("redis://user:s3cret@h/1") == "redis://user:***@h/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
