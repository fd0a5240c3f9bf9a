"""Settings for the chat service, driven by the environment (docs/protocol.md, Configuration).

Development defaults are safe and need nothing installed: SQLite and the in-memory channel
layer. `DATABASE_URL` and `REDIS_URL` switch to PostgreSQL and the Redis channel layer.
Without `DJANGO_DEBUG=1` this is production and refuses to start without a strong secret key.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

# REDIS_URL may name several servers, comma-separated: the channel layer shards over them, and
# so does the service's own state (mychannels/runtime/redisshards.py).
from mychannels.runtime.redisshards import redis_urls

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


DEBUG = env_flag("DJANGO_DEBUG")

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = _DEV_SECRET_KEY
if not DEBUG and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random string of 50+ characters in production "
        "(or set DJANGO_DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)


def trusted_origins(hosts: list[str]) -> list[str]:
    """CSRF (and WebSocket) trusted origins follow from the allowed hosts: the HTTPS origin of
    each, as a browser sees the service behind a TLS proxy. Plain HTTP needs no entry: a page's
    own origin is always accepted."""
    return [f"https://{host}" for host in hosts if host != "*" and not host.startswith(".")]


CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", []) or trusted_origins(ALLOWED_HOSTS)

INSTALLED_APPS = [
    "mychannels",  # its `runserver` is Daphne's with the frame limits answered 1009
    "daphne",  # makes `runserver` the Daphne ASGI server
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "allauth",
    "allauth.account",
    "chat",
    "alert",
]

# Django's database sessions, each row with its user's id: a socket's opening reads both in
# one statement (mychannels/runtime/login_session.py).
SESSION_ENGINE = "mychannels.runtime.sessions"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mychannels.runtime.sessions.SessionMiddleware",  # Django's, refusing NUL keys (500 otherwise)
    # The page's language: the language cookie set by the control on every page, else the
    # browser's Accept-Language, else LANGUAGE_CODE. After sessions, before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "mychannels.urls"
ASGI_APPLICATION = "mychannels.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A pool, not a connection per use: async consumers close the ORM thread's connection
    # after each handler, so without one every message and every socket opening paid for a new
    # PostgreSQL connection (measured: ~30 logged-in connects/s; bench/, docs/performance.md).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX", 10),
        # Fail fast when PostgreSQL is down (a request errors, /healthz says "down") instead of
        # queueing behind a pool that waits for it.
        "timeout": 1,
    }
    # The role the service's statements run as, when the login role is only allowed to assume
    # it (Django's SET ROLE; the event loop's connections set it at startup, asyncdb.py).
    if database_role := os.environ.get("DATABASE_ROLE"):
        DATABASES["default"]["OPTIONS"]["assume_role"] = database_role
# A socket opening's reads run on the event loop through a pool of their own, per process
# (mychannels/runtime/asyncdb.py): no thread hop, which cost a third of an opening's CPU in a
# storm. In a storm of 2,000 the openings queue for these connections for seconds (a 1 s wait
# refused some), so the wait is a storm's length, well within Daphne's 30 s accept timeout.
DATABASE_LOOP_POOL_MAX = env_int("DATABASE_LOOP_POOL_MAX", 4)
DATABASE_LOOP_POOL_WAIT = 10
# Those connections keep their statements prepared (psycopg's default: after 5 runs), as the
# ORM's do not (Django turns it off for PgBouncer's sake): each run was planned again, and
# planning cost PostgreSQL several times the statement itself (a room opening's read: 610 us
# planned each time, 55 us prepared; docs/performance.md). Off for a PgBouncer in transaction
# mode without prepared-statement support (before 1.21, or max_prepared_statements = 0).
DATABASE_LOOP_PREPARED = env_flag("DATABASE_LOOP_PREPARED", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: Redis when REDIS_URL is set (any number of processes), else in-memory (one
# process, development only: it scans every channel on each call).
REDIS_URL = os.environ.get("REDIS_URL", "")
# redis-py 8 caps a pool at 100 connections and times replies out after 5 s, exactly the time
# channels-redis blocks waiting for one: both must be raised (DESIGN.md, trap 1).
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 5000)
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 15)
# The service's own clients (presence, flood control, socket cap): connections per client and
# event loop, and how long a call may wait for a free one (mychannels/runtime/redisclient.py).
REDIS_CLIENT_POOL_SIZE = env_int("REDIS_CLIENT_POOL_SIZE", 32)
REDIS_CLIENT_POOL_WAIT = env_int("REDIS_CLIENT_POOL_WAIT", 5)
CHANNEL_LAYER_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX", "asgi")


# Retry a command a few times on a connection error, reconnecting in between (every Redis
# client uses it; redis-py copies it per connection). After a Redis restart every pooled
# connection is dead; without this the first command on each fails, and a message already
# stored was not broadcast (measured: in about one restart in ten, one message never reached
# the other members until they reconnected).
REDIS_RETRY = Retry(ExponentialBackoff(cap=1.0, base=0.05), 3)


def redis_channel_layer(url: str, prefix: str) -> dict:
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": address,
                    "max_connections": REDIS_MAX_CONNECTIONS,
                    "socket_timeout": REDIS_SOCKET_TIMEOUT,
                    "socket_connect_timeout": 5,
                    "retry": REDIS_RETRY,
                }
                for address in redis_urls(url)
            ],
            "prefix": prefix,
            "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
            "expiry": 60,
            "group_expiry": 86400,
        },
    }


def redis_pubsub_channel_layer(url: str, prefix: str) -> dict:
    """Redis pub/sub: one PUBLISH per group_send, fanned out to the members inside each
    process, instead of one list entry per member pushed and popped through Redis."""
    return {
        "BACKEND": "mychannels.runtime.layers.PubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": address,
                    "max_connections": REDIS_MAX_CONNECTIONS,
                    "socket_timeout": REDIS_SOCKET_TIMEOUT,
                    "socket_connect_timeout": 5,
                }
                for address in redis_urls(url)
            ],
            "prefix": prefix,
        },
    }


# pub/sub measured faster (docs/performance.md) and is the default; core is the fallback.
CHANNEL_LAYER_BACKEND = os.environ.get("CHANNEL_LAYER_BACKEND", "pubsub").strip() or "pubsub"
if CHANNEL_LAYER_BACKEND not in {"core", "pubsub"}:
    raise ImproperlyConfigured("CHANNEL_LAYER_BACKEND must be 'core' or 'pubsub'")

if REDIS_URL:
    build_layer = (
        redis_pubsub_channel_layer if CHANNEL_LAYER_BACKEND == "pubsub" else redis_channel_layer
    )
    CHANNEL_LAYERS = {"default": build_layer(REDIS_URL, CHANNEL_LAYER_PREFIX)}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }

# Django's cache. django-allauth counts failed logins in it (ACCOUNT_RATE_LIMITS below): in
# the local-memory cache each process counted on its own, so N processes allowed N times the
# attempts, and a restart forgot them (DESIGN.md, trap 9). With Redis, every process shares
# one count that outlives restarts, under keys of its own: CACHE_KEY_PREFIX, by default
# derived from CHANNEL_LAYER_PREFIX, so that what keeps two deployments' (or two test runs')
# channel layers apart on one Redis keeps their caches apart too.
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "").strip() or f"{CHANNEL_LAYER_PREFIX}.cache"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # The first server only: given a list, Django's RedisCache writes to the first
            # and reads from the others as replicas, which shards are not.
            "LOCATION": redis_urls(REDIS_URL)[0],
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # A login with Redis away fails within seconds instead of hanging.
            "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# django-allauth: username + password, no e-mail round trip.
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
# allauth's defaults, written out: 5 failed logins per username in 5 minutes (10 a minute per
# address), counted in the cache above; past them even the right password is refused.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Every page and the browser clients' own texts in English and Spanish (docs/protocol.md,
# Languages); user text is never translated. Catalogues in locale/ (`make messages`), compiled
# by `make translations`.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development serves from the app folders; production from `collectstatic`'s output.
STATIC_ROOT = None if DEBUG else BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "mychannels.staticstorage.ModuleManifestStaticFilesStorage"
    },
}

# Uploaded files (docs/protocol.md, Attachments): the default storage, outside the static
# folders so that no static path or whitenoise ever serves them; only the access-checked view
# in chat/attachments_views.py does. Any django-storages backend fits here (docs/deploy.md).
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
STORAGES["default"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(MEDIA_ROOT)},
}
CHAT_ATTACHMENT_MAX_BYTES = env_int("CHAT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
CHAT_ATTACHMENT_QUOTA_BYTES = env_int("CHAT_ATTACHMENT_QUOTA_BYTES", 1024 * 1024 * 1024)
CHAT_ATTACHMENT_ORPHAN_HOURS = env_int("CHAT_ATTACHMENT_ORPHAN_HOURS", 24)
CHAT_ATTACHMENTS_PER_MESSAGE = 10
# Decoded pixels an image may have: past it, it is refused as a decompression bomb.
CHAT_ATTACHMENT_MAX_PIXELS = env_int("CHAT_ATTACHMENT_MAX_PIXELS", 40_000_000)
CHAT_ATTACHMENT_THUMBNAIL_WIDTH = 400
# Uploads per user across tabs and processes (chat/ratelimit.py's buckets).
CHAT_UPLOAD_RATE_PER_SECOND = float(os.environ.get("CHAT_UPLOAD_RATE_PER_SECOND", "1"))
CHAT_UPLOAD_BURST = env_int("CHAT_UPLOAD_BURST", 20)
# Multipart framing around the file (boundaries, part headers): an upload body may be this much
# larger than the file limit; past that it is refused before Django spools it.
CHAT_UPLOAD_BODY_SLACK_BYTES = 64 * 1024
# The largest request body the server itself accepts, on any path: under Daphne a body past it
# is refused (413) before Twisted buffers it in memory or a temporary file
# (mychannels/runtime/httpbody.py). The largest body any route takes is an upload's; the
# per-route limits (the upload's, Django's DATA_UPLOAD_MAX_MEMORY_SIZE) still apply within it.
HTTP_MAX_BODY_BYTES = env_int(
    "HTTP_MAX_BODY_BYTES", CHAT_ATTACHMENT_MAX_BYTES + CHAT_UPLOAD_BODY_SLACK_BYTES
)

# The contract's limits (docs/protocol.md).
CHAT_MESSAGE_MAX_LENGTH = 2000
CHAT_HISTORY_LATEST = 50
# Each room's opening history frame is kept by the room's version (chat/latest_pages.py): an
# opening that finds the room unchanged reads no page. For this long at most, within this
# many bytes of frames per process (16 MiB: some 600 rooms of everyday messages in ASCII, a
# quarter as many where an emoji makes a frame 4 bytes a character); 0 turns it off.
CHAT_OPENING_PAGE_CACHE_SECONDS = env_int("CHAT_OPENING_PAGE_CACHE_SECONDS", 30)
CHAT_OPENING_PAGE_CACHE_BYTES = env_int("CHAT_OPENING_PAGE_CACHE_BYTES", 16 * 1024 * 1024)
CHAT_HISTORY_AFTER_MAX = 200
CHAT_PAGE_MAX = 100
# Presence (chat/services/presence.py): each socket's entry lives this long unless its
# process refreshes it (every HEARTBEAT) and a sweep in every process drops expired ones
# (every SWEEP): a crashed process's users leave the rooms within TTL + SWEEP seconds.
CHAT_PRESENCE_TTL_SECONDS = env_int("CHAT_PRESENCE_TTL_SECONDS", 40)
CHAT_PRESENCE_HEARTBEAT_SECONDS = env_int("CHAT_PRESENCE_HEARTBEAT_SECONDS", 20)
CHAT_PRESENCE_SWEEP_SECONDS = env_int("CHAT_PRESENCE_SWEEP_SECONDS", 10)
# How long after posting its author may edit a message.
CHAT_EDIT_WINDOW_SECONDS = env_int("CHAT_EDIT_WINDOW_SECONDS", 3600)
# Different emoji on one message, and mentions resolved in one body.
CHAT_REACTIONS_MAX = 20
CHAT_MENTIONS_MAX = 50
# Flood control per user across all their tabs: sustained rate and burst.
CHAT_RATE_PER_SECOND = float(os.environ.get("CHAT_RATE_PER_SECOND", "3"))
CHAT_RATE_BURST = env_int("CHAT_RATE_BURST", 20)
# Every request of a user (socket frames of any type, HTTP reads, joins and leaves), per user
# across tabs and processes: generous enough for a reader of a busy room (a read frame per
# message shown) and for catching up over HTTP (pages of 100), not for a flood.
CHAT_REQUEST_RATE_PER_SECOND = float(os.environ.get("CHAT_REQUEST_RATE_PER_SECOND", "20"))
CHAT_REQUEST_BURST = env_int("CHAT_REQUEST_BURST", 100)
# Creating rooms and direct rooms: each makes rows, so it has a budget of its own per user.
CHAT_ROOM_CREATE_RATE_PER_SECOND = float(os.environ.get("CHAT_ROOM_CREATE_RATE_PER_SECOND", "0.1"))
CHAT_ROOM_CREATE_BURST = env_int("CHAT_ROOM_CREATE_BURST", 10)
# Active (unrevoked) API tokens per user: each is a standing way in, so they are few and
# named, and a script that makes one per run is told to revoke instead of piling them up.
CHAT_API_TOKENS_MAX = env_int("CHAT_API_TOKENS_MAX", 20)
# Rejected frames in a row (while limited) before the socket is closed with 4429.
CHAT_FLOOD_CLOSE_AFTER = env_int("CHAT_FLOOD_CLOSE_AFTER", 20)
# Open sockets per user across tabs and processes; the next one is closed with 4409.
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 20)
# Bytes the server may queue for one socket that is not reading before it closes it 1012 and
# drops them (mychannels/runtime/sendbuffer.py); about 300 room messages of 2,000 characters.
CHAT_SOCKET_SEND_BUFFER_BYTES = env_int("CHAT_SOCKET_SEND_BUFFER_BYTES", 1 << 20)
# Frames larger than this are refused before they are parsed.
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 64 * 1024)
# ...and by the server itself, before it buffers them: Daphne accepts 1 MiB by default
# (DESIGN.md, trap 7). `manage.py runserver` and `python -m mychannels.serve` (Daphne's
# command line) read these and close 1009 past them (mychannels/runtime/server.py).
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = CHAT_MAX_FRAME_BYTES
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = CHAT_MAX_FRAME_BYTES
# Seconds a socket may take to be accepted. Daphne's 5 s refuses most of a reconnect storm
# (every client back at once after a deploy), and each refused client retries into the next
# storm; a slower accept lets them all in (docs/performance.md).
DAPHNE_WEBSOCKET_CONNECT_TIMEOUT = 30
# Allocations between two runs of Python's cycle collector in the server (mychannels/serve.py):
# Python's 700 cost 15-20% of the CPU of a connect storm (docs/performance.md).
SERVER_GC_GEN0_THRESHOLD = env_int("SERVER_GC_GEN0_THRESHOLD", 10000)
# Seconds between two hand-backs of the C allocator's free memory in the server
# (mychannels/runtime/memorytrim.py); 0: never.
SERVER_MALLOC_TRIM_SECONDS = env_int("SERVER_MALLOC_TRIM_SECONDS", 60)

if not DEBUG:
    SECURE_SSL_REDIRECT = env_flag("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe the processes directly over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own loggers would print each line twice (theirs and the root's).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "daphne": {"level": "WARNING"},
    },
}
