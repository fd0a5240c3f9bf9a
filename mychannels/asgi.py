"""ASGI entry point: `python -m mychannels.serve mychannels.asgi:application` (Daphne with the
project's frame limits), plain `daphne`, `manage.py runserver` and uvicorn."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")

from mychannels.routing import build_application
from mychannels.runtime.closecodes import let_daphne_send_rfc_close_codes
from mychannels.runtime.httpbody import refuse_oversized_bodies_in_daphne

# Here, not in the project's server entry: plain `daphne` loads nothing else of ours, and it
# too must send 1009 and 1012 instead of failing with 1011 (mychannels/runtime/closecodes.py),
# and refuse a request body over HTTP_MAX_BODY_BYTES before Twisted buffers it whole
# (mychannels/runtime/httpbody.py). Both are inert under uvicorn.
let_daphne_send_rfc_close_codes()
refuse_oversized_bodies_in_daphne()

application = build_application()

from mychannels.health import log_redis_at_start  # noqa: E402  (needs Django set up)

log_redis_at_start()
