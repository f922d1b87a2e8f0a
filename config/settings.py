"""Settings for batchgen: every knob comes from the environment (README "Configuration")."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from config import dotenv
from generation import pricing

BASE_DIR = Path(__file__).resolve().parent.parent
# A dev checkout's `.env` (written by `make run`) fills in what the environment leaves unset,
# so every `manage.py` command gets the development settings; production has no such file.
dotenv.load()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Production by default (issue 15) -------------------------------------------------------
# A deploy that forgets DEBUG must not show debug pages: it is off unless set. `make run` and
# the tests set DEBUG (or a SECRET_KEY) themselves.
DEBUG = env_bool("DEBUG", False)
DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-it-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "")


def real_secret_key(key: str) -> bool:
    """Return whether `key` is usable in production (the rule of Django's check W009)."""
    return len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure-")


if not DEBUG and not real_secret_key(SECRET_KEY):
    # django-q2 signs its pickled tasks with this key: a known key plus broker access is code
    # execution on every worker. Refuse to start rather than run with one.
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or weak and DEBUG is off. Set SECRET_KEY to a random string of "
        "at least 50 characters (e.g. the output of `python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'`), or run `make run` once in a development "
        "checkout (it writes a .env with DEBUG=1)."
    )
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

# Behind a TLS-terminating proxy (docs/deploy.md): the proxy says the request was https in
# SECURE_PROXY_SSL_HEADER ("X-Forwarded-Proto,https"), and the site's https origins must be
# trusted for CSRF, or every POST with `Origin: https://...` is refused.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
if _proxy_header := env_list("SECURE_PROXY_SSL_HEADER"):
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER must be "Header-Name,value".')
    _header = "HTTP_" + _proxy_header[0].upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (_header, _proxy_header[1])
# HTTPS_ONLY=1 when users reach the site over TLS: redirect http, secure cookies, HSTS. (Not
# `HTTPS`: wsgiref, under runserver, takes that CGI variable to mean every request is https.)
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS_ONLY)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS_ONLY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS_ONLY)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "generation",
    "tenants",
    "sources",
    # Before django_q: its `qcluster` command is batches' own, which tells the slots when
    # the cluster stops (an earlier app's command wins).
    "batches",
    "django_q",
    "csp",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ itself, so one process (runserver or gunicorn) is a complete web tier.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout response.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts only from our own static files, never inline
# and never eval. Style *attributes* stay allowed (the progress bar's widths, the admin's own
# markup); style elements do not, which is why htmx's indicator styles are turned off in
# base.html and live in app.css.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Sign-in throttling (django-axes) -------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username or address is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures per username, and separately per address, before a lockout; an operator clears
# one in the admin (Access attempts) or with `manage.py axes_reset_username USER`.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "batches.signin.lockout_response"
# How many proxies in front of the app append to X-Forwarded-For: the client's address for
# lockouts is then the one the outermost of them saw (batches/signin.py); 0 = REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "batches.signin.client_address"

# API tokens expire this many seconds after they were issued; a password change revokes them.
API_TOKEN_TTL_S = env_int("API_TOKEN_TTL_S", 30 * 24 * 3600)
# Pending + running items one faculty member may have at once (batches/quota.py).
USER_MAX_ACTIVE_ITEMS = env_int("USER_MAX_ACTIVE_ITEMS", 20_000)

# --- Institutions and the three limits (batches/scheduler.py) ------------------------------
# A new institution's items in flight at once (its batches together); the admin overrides it
# per institution. Items in flight across every institution (0 = no cap), and the default
# monthly token budget of an institution (0 = none; the usage ledger enforces it).
INSTITUTION_CONCURRENCY_LIMIT = env_int("INSTITUTION_CONCURRENCY_LIMIT", 10)
GENERATION_MAX_IN_FLIGHT = env_int("GENERATION_MAX_IN_FLIGHT", 0)
INSTITUTION_TOKEN_BUDGET = env_int("INSTITUTION_TOKEN_BUDGET", 0)
if INSTITUTION_CONCURRENCY_LIMIT < 1:
    raise ImproperlyConfigured("INSTITUTION_CONCURRENCY_LIMIT must be at least 1.")
if GENERATION_MAX_IN_FLIGHT < 0 or INSTITUTION_TOKEN_BUDGET < 0:
    raise ImproperlyConfigured(
        "GENERATION_MAX_IN_FLIGHT and INSTITUTION_TOKEN_BUDGET must not be negative."
    )

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time: IMMEDIATE takes the write lock at BEGIN so two workers never
    # deadlock upgrading read locks, WAL lets readers run beside the writer, and the busy
    # timeout makes writers queue instead of failing with "database is locked".
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # django-q2's ORM broker closes old connections on every poll: keep them alive.
    _db["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60)
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

# Shared by every process on every machine, so throttles and lockouts hold across gunicorn
# workers: Redis when there is one, else a table in the database (`migrate` creates it).
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "batchgen",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "batchgen_cache",
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve straight from the app and project static dirs: no collectstatic step to forget.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/batches/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Generation ---------------------------------------------------------------------------
GENERATION_MODEL = os.environ.get("GENERATION_MODEL", "demo") or "demo"
GENERATION_TIMEOUT_S = env_float("GENERATION_TIMEOUT_S", 60.0)
GENERATION_RPM = env_int("GENERATION_RPM", 60)
GENERATION_TPM = env_int("GENERATION_TPM", 0) or None
# The budget window of RPM/TPM. Always 60 in production; system tests shrink it to show the
# limit holding across clusters without waiting whole minutes.
GENERATION_RATE_PERIOD_S = env_float("GENERATION_RATE_PERIOD_S", 60.0)
# Seconds the offline demo model "thinks" per call, so progress is visible in `make run`.
DEMO_LATENCY_S = env_float("DEMO_LATENCY_S", 0.4)
# How long a rendered progress fragment serves the polls of one batch (batches/progress_cache.py).
PROGRESS_CACHE_S = env_float("PROGRESS_CACHE_S", 1.0)
ITEM_LEASE_S = env_float("ITEM_LEASE_S", GENERATION_TIMEOUT_S * 2 + 30)
# A queued task whose worker never claimed it (the Redis broker drops a killed worker's
# task silently) is dispatched again after this long.
DISPATCH_LEASE_S = env_float("DISPATCH_LEASE_S", max(ITEM_LEASE_S, 120.0))
# Backoff between attempts: base * 2**(attempt-1), capped; half of it fixed, half random.
RETRY_BACKOFF_BASE_S = env_float("RETRY_BACKOFF_BASE_S", 2.0)
RETRY_BACKOFF_MAX_S = env_float("RETRY_BACKOFF_MAX_S", 30.0)
# A provider 429 does not burn an attempt, but an item may be throttled only this often.
MAX_RATE_LIMIT_HITS = env_int("MAX_RATE_LIMIT_HITS", 10)
# USD per 1M tokens per model, merged over generation.pricing.DEFAULT_PRICES; bad JSON stops
# the start-up here, naming the variable, rather than pricing a batch wrong later.
GENERATION_PRICES = pricing.parse_prices(os.environ.get("GENERATION_PRICES"))
# The largest call (prompt + output cap) the TPM reservation plans for: the shared bucket's
# burst holds one such call, so reserving never lets a window overshoot (generation/ratelimit).
GENERATION_MAX_CALL_TOKENS = env_int("GENERATION_MAX_CALL_TOKENS", 6000)
# The quality gate: a critic score below this (or a reject verdict) regenerates the question.
QUALITY_MIN_SCORE = env_int("QUALITY_MIN_SCORE", 3)

# --- Course material (sources/) -----------------------------------------------------------
# Largest uploaded file (413 past it) and most pages, slides or 3,000-character sections.
SOURCE_MAX_BYTES = env_int("SOURCE_MAX_BYTES", 25 * 1024 * 1024)
SOURCE_MAX_PAGES = env_int("SOURCE_MAX_PAGES", 1000)
# Uploaded originals, through Django's storage API (shared storage on several machines).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(BASE_DIR / "media")
MEDIA_URL = "media/"
# A multipart file is streamed to a temporary file past this, never held whole in memory;
# DATA_UPLOAD_MAX_MEMORY_SIZE (below) does not count file parts, so the JSON limit stays.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

BATCH_WEBHOOK_URL = os.environ.get("BATCH_WEBHOOK_URL") or None
BATCH_WEBHOOK_SECRET = os.environ.get("BATCH_WEBHOOK_SECRET") or None
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 10.0)
# Webhook POSTs one worker process has in flight at once, on its event loop beside the items
# (batches/webhooks.py): they never hold a worker.
WEBHOOK_MAX_IN_FLIGHT = env_int("WEBHOOK_MAX_IN_FLIGHT", 4)

# --- django-q2 ----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL") or None
# Processes per cluster, each running up to WORKER_SLOTS items at once on an event loop
# (batches.runner): 8 x 50 = 400 items in flight per cluster. The work waits on the provider,
# so slots, not processes, are what a cluster needs more of; see docs/deploy.md for sizing.
Q_WORKERS = env_int("Q_WORKERS", 8)
WORKER_SLOTS = env_int("WORKER_SLOTS", 50)
# A worker's slots stop claiming after this long and hand on to a fresh task, so the worker
# also gets to run the sweep and webhook deliveries queued behind it.
RUNNER_LIFETIME_S = env_float("RUNNER_LIFETIME_S", 120.0)
# One slots task claims for RUNNER_LIFETIME_S and then lets its items finish: a rate-limit
# wait, model calls and a backoff each. Model calls are bounded by GENERATION_TIMEOUT_S, but
# a wait for a token under a tight GENERATION_RPM is not (the item's lease is renewed
# meanwhile), so the kill switch is an hour: a task killed mid-wait would only hand its
# items to another worker after their lease.
Q_TASK_TIMEOUT = env_int("Q_TASK_TIMEOUT", int(max(ITEM_LEASE_S * 4, 3600)))
Q_CLUSTER = {
    "name": "batchgen",
    "workers": Q_WORKERS,
    "timeout": Q_TASK_TIMEOUT,
    # `retry` must exceed timeout plus the time a task waits in the cluster's own queue, or
    # the ORM broker redelivers long tasks while they still run.
    "retry": Q_TASK_TIMEOUT + 300,
    # Our item rows drive retries; the broker's own redelivery is only a safety net.
    "ack_failures": True,
    "max_attempts": 1,
    # Each cluster holds only what its workers can start now, so other machines get work.
    "queue_limit": Q_WORKERS,
    "bulk": 1,
    "save_limit": env_int("Q_SAVE_LIMIT", 100),
    "catch_up": False,
    "poll": env_float("Q_POLL", 0.1),
    "guard_cycle": 0.5,
    "label": "Task queue",
    # `make run` keeps the cluster's own chatter at WARNING so its banner stays readable.
    "log_level": os.environ.get("Q_LOG_LEVEL", "INFO").upper(),
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header is what makes DRF answer 401, not 403, to a
    # request without credentials. Session auth serves the browsable API.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "batches.api.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["batches.api.permissions.IsFaculty"],
    "DEFAULT_RENDERER_CLASSES": [
        "batches.api.envelope.EnvelopeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["batches.api.parsers.ApiJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "batches.api.envelope.EnvelopePagination",
    "EXCEPTION_HANDLER": "batches.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "batches.api.schema.EnvelopeAutoSchema",
    "DEFAULT_THROTTLE_RATES": {"batch_create": os.environ.get("API_CREATE_RATE") or "60/minute"},
    # The API parses JSON only.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Largest request body accepted, in bytes (the API answers 413 beyond it); a batch
# definition needs a few kilobytes at most.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)

SPECTACULAR_SETTINGS = {
    "TITLE": "batchgen API",
    "DESCRIPTION": (
        "Generate batches of exam questions and control them. Every JSON response is an "
        'envelope: `{"data": ..., "error": null}` on success, `{"data": null, "error": '
        '{"code", "message", "details"}}` on failure; lists add `meta` (count, next, previous). '
        "Authenticate with `Authorization: Token <key>` (POST /api/v1/auth/token/) or a session."
    ),
    "VERSION": "1.0.0",
    # 3.1 can say "always null" (`type: null`), which the envelope's `error` is on success.
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "BatchStatusEnum": "batches.states.BatchStatus",
        "ItemStatusEnum": "batches.states.ItemStatus",
        "ReviewStatusEnum": "batches.states.ReviewStatus",
        "OptionLabelEnum": "generation.schemas.OPTION_LABELS",
    },
    # Swagger UI from the drf-spectacular-sidecar package: the docs need no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "batches": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        # Failed sign-ins (username, address, path) are logged here.
        "axes": {"handlers": ["console"], "level": "WARNING"},
        "generation": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}
