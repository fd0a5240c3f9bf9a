"""ASGI entry point: `daphne mychannels.asgi:application` (and `manage.py runserver`)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")

from mychannels.routing import build_application

application = build_application()
