"""Production settings (DJANGO_DEBUG unset): `check --deploy` has nothing to say, and the
service refuses to start without a strong secret key. Run as separate processes, since the
settings are read once at start."""

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.liveserver import BASE_DIR

STRONG_KEY = secrets.token_urlsafe(60)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    clean.pop("REDIS_URL", None)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_no_warning():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="chat.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_settings_are_the_secure_ones():
    shown = (
        "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
        "for k in ['DEBUG', 'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
        " 'SECURE_HSTS_SECONDS', 'CSRF_TRUSTED_ORIGINS', 'ALLOWED_HOSTS',"
        " 'SECURE_PROXY_SSL_HEADER']}))"
    )
    result = manage(
        "shell",
        "-c",
        shown,
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="chat.example.com,chat2.example.com",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "CSRF_TRUSTED_ORIGINS": ["https://chat.example.com", "https://chat2.example.com"],
        "ALLOWED_HOSTS": ["chat.example.com", "chat2.example.com"],
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DJANGO_DEBUG": "0"},
        {"DJANGO_SECRET_KEY": "too-short"},
        {"DJANGO_SECRET_KEY": "a" * 80},
        {"DJANGO_SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(60)},
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": ""},
    ],
    ids=["unset", "debug-0", "short", "repetitive", "django-insecure", "empty"],
)
def test_production_refuses_to_start_without_a_strong_secret_key(env):
    result = manage("check", DJANGO_ALLOWED_HOSTS="chat.example.com", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set to a random string of 50+ characters" in result.stderr
