"""ASGI entry point: `python -m mychannels.serve mychannels.asgi:application` (Daphne with the
project's frame limits), plain `daphne`, and `manage.py runserver`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")

from mychannels.routing import build_application

application = build_application()

from mychannels.health import log_redis_at_start  # noqa: E402  (needs Django set up)

log_redis_at_start()
