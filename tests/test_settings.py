"""Settings come from the environment, with safe development defaults."""

import os
import subprocess
import sys

from mychannels.settings import BASE_DIR


def settings_value(expression: str, **env: str) -> str:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    clean.update(env)
    code = f"import mychannels.settings as s; print({expression})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=clean, capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else "ERROR: " + result.stderr


def test_development_defaults_are_sqlite_and_the_in_memory_layer():
    assert settings_value("s.DATABASES['default']['ENGINE']", DJANGO_DEBUG="1").endswith("sqlite3")
    layer = settings_value("s.CHANNEL_LAYERS['default']['BACKEND']", DJANGO_DEBUG="1")
    assert layer == "channels.layers.InMemoryChannelLayer"


def test_database_url_and_redis_url_switch_to_postgres_and_redis_with_a_big_pool():
    env = {
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": "postgres://u@db:5432/chat",
        "REDIS_URL": "redis://r:6379/0",
    }
    assert settings_value("s.DATABASES['default']['ENGINE']", **env).endswith("postgresql")
    host = settings_value("s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]", **env)
    assert "'max_connections': 5000" in host and "'socket_timeout': 15" in host
    # Defaults (docs/performance.md): the Redis pub/sub layer, pooled PostgreSQL.
    layer = settings_value("s.CHANNEL_LAYERS['default']['BACKEND']", **env)
    assert layer == "mychannels.runtime.layers.PubSubChannelLayer"
    assert "'max_size': 10" in settings_value("s.DATABASES['default']['OPTIONS']['pool']", **env)
    options = "s.DATABASES['default']['OPTIONS'].get('assume_role')"
    assert settings_value(options, **env) == "None"
    assert settings_value(options, DATABASE_ROLE="chat_app", **env) == "chat_app"


def test_the_channel_layer_backend_is_chosen_by_environment_and_checked():
    env = {"DJANGO_DEBUG": "1", "REDIS_URL": "redis://r:6379/0"}
    core = settings_value(
        "s.CHANNEL_LAYERS['default']['BACKEND']", CHANNEL_LAYER_BACKEND="core", **env
    )
    assert core == "channels_redis.core.RedisChannelLayer"
    refused = settings_value("s.CHANNEL_LAYERS", CHANNEL_LAYER_BACKEND="rabbit", **env)
    assert refused.startswith("ERROR") and "CHANNEL_LAYER_BACKEND" in refused


def test_production_refuses_to_start_without_a_strong_secret():
    assert "DJANGO_SECRET_KEY" in settings_value("s.DEBUG")
    assert "DJANGO_SECRET_KEY" in settings_value("s.DEBUG", DJANGO_SECRET_KEY="short")
    strong = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
    assert settings_value("s.SESSION_COOKIE_SECURE", DJANGO_SECRET_KEY=strong) == "True"


def test_trusted_origins_follow_the_allowed_hosts():
    value = settings_value(
        "s.CSRF_TRUSTED_ORIGINS", DJANGO_DEBUG="1", DJANGO_ALLOWED_HOSTS="chat.example.com,.x.org"
    )
    assert value == "['https://chat.example.com']"


def test_with_redis_the_cache_is_redis_under_a_prefix_of_its_own():
    env = {"DJANGO_DEBUG": "1", "REDIS_URL": "redis://r:6379/0", "CHANNEL_LAYER_PREFIX": "ci7"}
    assert settings_value("s.CACHES['default']['BACKEND']", **env) == (
        "django.core.cache.backends.redis.RedisCache"
    )
    assert settings_value("s.CACHES['default']['LOCATION']", **env) == "redis://r:6379/0"
    # Apart from the channel layer's keys, and apart per deployment (or test run) with it.
    assert settings_value("s.CACHES['default']['KEY_PREFIX']", **env) == "ci7.cache"
    own = settings_value("s.CACHES['default']['KEY_PREFIX']", CACHE_KEY_PREFIX="mine", **env)
    assert own == "mine"
    local = settings_value("s.CACHES['default']['BACKEND']", DJANGO_DEBUG="1")
    assert local == "django.core.cache.backends.locmem.LocMemCache"
