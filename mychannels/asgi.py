"""ASGI entry point: `python -m mychannels.serve mychannels.asgi:application` (Daphne with the
project's frame limits), plain `daphne`, `manage.py runserver` and uvicorn."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")

from django.conf import settings

from mychannels.routing import build_application
from mychannels.runtime.closecodes import let_daphne_send_rfc_close_codes
from mychannels.runtime.httpbody import refuse_oversized_bodies_in_daphne
from mychannels.runtime.sendbuffer import bound_send_buffers

# Here, not in the project's server entry: plain `daphne` loads nothing else of ours, and it
# too must send 1009 and 1012 instead of failing with 1011 (mychannels/runtime/closecodes.py),
# and refuse a request body over HTTP_MAX_BODY_BYTES before Twisted buffers it whole
# (mychannels/runtime/httpbody.py). Both are inert under uvicorn.
let_daphne_send_rfc_close_codes()
refuse_oversized_bodies_in_daphne()
# Likewise: a socket that stops reading is closed 1012 past this many queued bytes
# (mychannels/runtime/sendbuffer.py).
bound_send_buffers(settings.CHAT_SOCKET_SEND_BUFFER_BYTES)

application = build_application()

from mychannels.health import log_redis_at_start  # noqa: E402  (needs Django set up)

log_redis_at_start()
