"""Test-wide setup: development settings, and names of our own on the shared servers so that
two checkouts (or a developer and CI) can run the suite on one machine at once."""

import hashlib
import os
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent
RUN_TAG = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")
os.environ["DJANGO_DEBUG"] = "1"
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mychannels")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test{RUN_TAG}p{os.getpid()}")
os.environ.pop("REDIS_URL", None)  # in-memory layer unless a test asks for Redis


def compile_translations() -> None:
    """The .mo files Django reads, from locale/**/*.po, when missing or older (what `make
    translations` does with compilemessages; here for a bare `pytest`): the server processes
    the browser tests start read them."""
    import shutil
    import subprocess

    for po in (BASE_DIR / "locale").glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime) and shutil.which("msgfmt"):
            subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)


compile_translations()

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()  # now, so that test modules and their conftests can import models


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        test_settings["NAME"] = f"test_mychannels_{RUN_TAG}"
