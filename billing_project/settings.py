"""Settings, all driven by the environment (see the README's configuration table)."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url

from billing_project.observability.logformat import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Return the boolean value of an environment variable ("1", "true", "yes", "on")."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def with_jit_off(options: str) -> str:
    """Return libpq `options` (e.g. DATABASE_URL's `?options=`) with `-c jit=off` added last, so it wins."""
    return f"{options} -c jit=off".strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or os.environ.get(
    "JWT_SIGNING_KEY", "dev-insecure-signing-key-change-me-in-production-0123456789"
)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
PORT = int(os.environ.get("PORT", "8087"))

# Behind TLS (HTTPS_ONLY=1): redirect to https, secure cookies, HSTS; trust the proxy's X-Forwarded-Proto.
if env_bool("HTTPS_ONLY", False):
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_REDIRECT_EXEMPT = [r"^health(/live|/ready)?$", r"^metrics$"]

INSTALLED_APPS = [
    "billing_project.admin_site.BillingAdminConfig",  # django.contrib.admin with the billing site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_standardized_errors",
    "billing_project.apps.PlumbingConfig",  # starts the Celery app; deploy checks; schema extensions
    "billing",
    "coupons",
    "quotas",
    "costcenters",
    "realtime",
    "notifications",
]

# --- Operators' view: Prometheus metrics at /metrics (see the README, "Operating the service") ----
# METRICS_ENABLED=0 turns off recording (and the request/database instrumentation) entirely.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# A Celery worker on a host without a web process serves its pool's metrics on this port (unset: no).
WORKER_METRICS_PORT = int(os.environ.get("WORKER_METRICS_PORT") or 0)
WORKER_METRICS_ADDR = os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1")
# Multiprocess metrics need PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported: the
# Makefile sets it (under .data/) for gunicorn and Celery; a test session gets a fresh temporary one.
if "pytest" in sys.modules and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="billing-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)
PROMETHEUS_EXPORT_MIGRATIONS = False  # /health/ready checks migrations; no database access at start-up
if METRICS_ENABLED:
    INSTALLED_APPS.append("django_prometheus")

MIDDLEWARE = [
    "billing_project.observability.requestlog.RequestLogMiddleware",
    "billing_project.limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "billing_project.csp.ContentSecurityPolicyMiddleware",
    "billing_project.idempotency.IdempotencyMiddleware",
]
if METRICS_ENABLED:  # django-prometheus' request series, the few operators read (see observability/httpmetrics.py)
    MIDDLEWARE = ["billing_project.observability.httpmetrics.RequestMetricsMiddleware", *MIDDLEWARE]

# Request bodies: 413 above this. 6 MiB admits the largest valid usage batch (1,000 events with 4 KB of
# properties each, ~4.3 MB) with room for JSON overhead.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(6 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# URL (path + query) and single-header limits the app answers in the error shape (414 / 431); gunicorn's
# own limits (Makefile: --limit-request-line, --limit-request-field_size) are set above these.
API_MAX_URL_BYTES = int(os.environ.get("API_MAX_URL_BYTES", "4096"))
API_MAX_HEADER_BYTES = int(os.environ.get("API_MAX_HEADER_BYTES", "8192"))
# Retry-After (seconds) sent with 503 service_unavailable when the database cannot be reached.
RETRY_AFTER_SECONDS = int(os.environ.get("RETRY_AFTER_SECONDS", "5"))

ROOT_URLCONF = "billing_project.urls"
APPEND_SLASH = False

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

WSGI_APPLICATION = "billing_project.wsgi.application"

# --- Database: PostgreSQL only. DATABASE_URL, else the embedded server under .data/ -------------
# A connection lives as long as its worker thread unless DB_CONN_MAX_AGE (seconds) says otherwise: a
# reopened one costs its request the connect and ≈ 5 ms of PostgreSQL catalog-cache and planning
# warm-up (README, "Benchmarks": tails), which with a 60 s age landed on a few percent of requests.
CONN_MAX_AGE = int(os.environ["DB_CONN_MAX_AGE"]) if os.environ.get("DB_CONN_MAX_AGE") else None
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=CONN_MAX_AGE)}
else:
    from billing_project.embedded_db import ensure_embedded_postgres

    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "CONN_MAX_AGE": CONN_MAX_AGE,
            **ensure_embedded_postgres(BASE_DIR / ".data" / "pg"),
        }
    }
if os.environ.get("TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DB_NAME"]}
DATABASES["default"].setdefault("OPTIONS", {})
# JIT compilation adds ~30 ms to short queries whose row estimates on skewed usage data pass
# jit_above_cost (the preview's partial-hour read); it never pays back on this OLTP workload. Set for
# every connection, after any `options` of DATABASE_URL, so no read needs a SET of its own.
DATABASES["default"]["OPTIONS"]["options"] = with_jit_off(DATABASES["default"]["OPTIONS"].get("options", ""))
# Django turns psycopg's prepared statements off (for transaction-mode poolers); its own cursors bind
# client-side and never prepare anyway. The usage ingest's few fixed statements run on a server-binding
# cursor with prepare=True, which needs a threshold: they are then parsed and planned once per
# connection instead of on every request (≈ 1 ms of PostgreSQL CPU per single event).
DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
if METRICS_ENABLED and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"  # query/error counters
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "templates" / "static"] if (BASE_DIR / "templates" / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/admin/login/"

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["billing_project.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["billing_project.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "billing_project.pagination.LimitOffsetPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "billing_project.schema.BillingAutoSchema",
    "EXCEPTION_HANDLER": "billing_project.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["billing_project.parsers.JSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["billing_project.throttling.RoleRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Off unless configured: RATE_LIMIT_FINANCE=1000/min, RATE_LIMIT_TENANT=…, RATE_LIMIT_SERVICE=…
        "finance": os.environ.get("RATE_LIMIT_FINANCE") or None,
        "tenant": os.environ.get("RATE_LIMIT_TENANT") or None,
        "service": os.environ.get("RATE_LIMIT_SERVICE") or None,
    },
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
}

API_DOCS_REQUIRE_AUTH = env_bool("API_DOCS_REQUIRE_AUTH", False)
# Login throttling (admin and POST /api/v1/auth/token): this many failures per (username, IP) lock
# the pair out for LOGIN_LOCKOUT_SECONDS (429 with Retry-After).
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))

SPECTACULAR_SETTINGS = {
    "TITLE": "Billing Service API",
    "DESCRIPTION": "Meters usage, prices it, bills it and collects payment. See shared/spec/API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # API_DOCS_REQUIRE_AUTH=1: /api/schema and /api/docs need a bearer token or a staff admin session.
    "SERVE_PERMISSIONS": [
        "billing_project.permissions.DocsAccess" if API_DOCS_REQUIRE_AUTH else "rest_framework.permissions.AllowAny"
    ],
    "SERVE_AUTHENTICATION": (
        ["billing_project.auth.JWTAuthentication", "rest_framework.authentication.SessionAuthentication"]
        if API_DOCS_REQUIRE_AUTH
        else []
    ),
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "AlertTypeEnum": "realtime.models.AlertType",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billing_project.schema.register_error_component",
    ],
    "DISABLE_ERRORS_AND_WARNINGS": True,
}

# --- JWT (stateless verification; HS256 by default, RS256 when JWT_VERIFYING_KEY is set) --------
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", "dev-insecure-signing-key-change-me-in-production-0123456789")
JWT_VERIFYING_KEY = os.environ.get("JWT_VERIFYING_KEY", "")
SIMPLE_JWT = {
    "ALGORITHM": "RS256" if JWT_VERIFYING_KEY else "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": JWT_VERIFYING_KEY or None,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "60"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    "LEEWAY": 0,
}

# --- Celery: eager without a broker ------------------------------------------------------------
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every periodic job, in one place (task names are strings: settings import no app code).
CELERY_BEAT_SCHEDULE: dict = {
    "billing-run-invoices": {"task": "billing.tasks.invoices_run", "schedule": 300.0},
    "billing-resume-paused": {"task": "billing.tasks.subscriptions_resume_due", "schedule": 60.0},
    "billing-expire-idempotency-keys": {"task": "billing.tasks.idempotency_keys_purge", "schedule": 3600.0},
    # Usage events' monthly partitions: this month and the next two exist (rows of the default moved in).
    "billing-usage-partitions": {"task": "billing.tasks.usage_partitions_ensure", "schedule": 3600.0},
    # Raw events of closed months older than BILLING_RAW_RETENTION_MONTHS: to Parquet, then dropped.
    "billing-usage-archive": {"task": "billing.tasks.usage_archive", "schedule": 86400.0},
    # Dunning retries, attempts a dead worker left processing, first charges whose task was lost.
    "billing-payments-sweep": {"task": "billing.tasks.payments_sweep", "schedule": 60.0},
    # Base accrues with time and periods roll over without usage: re-evaluate every tenant's alerts.
    "realtime-evaluate-alerts": {"task": "realtime.tasks.alerts_evaluate_all", "schedule": 300.0},
    # The safety net behind every after-commit enqueue of events, webhooks and e-mail: late, never lost.
    "notifications-sweep": {"task": "notifications.tasks.notifications_sweep", "schedule": 30.0},
    "notifications-purge-events": {"task": "notifications.tasks.events_purge", "schedule": 3600.0},
}

# --- Plumbing: what the shared middleware and routes use, named here so they import no app ------
IDEMPOTENCY_KEY_MODEL = "billing.IdempotencyKey"  # where IdempotencyMiddleware stores answers
BENCH_VIEWS = env_bool("BENCH_VIEWS", False)  # bench/urls.py under /bench/ (bench/ingest.py only)

# --- Billing -------------------------------------------------------------------------------------
BILLING_GRACE_HOURS = int(os.environ.get("BILLING_GRACE_HOURS", "0"))
BILLING_DUE_DAYS = int(os.environ.get("BILLING_DUE_DAYS", "30"))
BILLING_PDF_ON_FINALIZE = env_bool("BILLING_PDF_ON_FINALIZE", True)  # off only to benchmark the run alone
# Dunning: retry a failed automatic charge this many days after the first failure, then the final
# action: "none" (stay open and past_due), "uncollectible" (the invoice), or "cancel" (the subscription).
BILLING_RETRY_SCHEDULE = [
    int(part) for part in os.environ.get("BILLING_RETRY_SCHEDULE", "3,5,7").replace(" ", "").split(",") if part
]
BILLING_DUNNING_FINAL_ACTION = os.environ.get("BILLING_DUNNING_FINAL_ACTION", "none")
# A payment attempt still `processing` this long after it was written (a worker died mid-charge, a
# lost task) is resumed by the beat sweeper with the same idempotency key.
BILLING_PAYMENT_RESUME_AFTER_SECONDS = int(os.environ.get("BILLING_PAYMENT_RESUME_AFTER_SECONDS", "120"))
# Raw usage events: months older than this many months (before the current one) whose periods are all
# closed by finalized invoices are archived to Parquet under BILLING_ARCHIVE_DIR and dropped
# (rollups stay). Unset: keep every raw event.
BILLING_RAW_RETENTION_MONTHS = (
    int(os.environ["BILLING_RAW_RETENTION_MONTHS"]) if os.environ.get("BILLING_RAW_RETENTION_MONTHS") else None
)
BILLING_ARCHIVE_DIR = os.environ.get("BILLING_ARCHIVE_DIR") or str(BASE_DIR / ".data" / "archive")
BILLING_SELLER = {
    "name": os.environ.get("BILLING_SELLER_NAME", "Cloud Platform Inc."),
    "address": os.environ.get("BILLING_SELLER_ADDRESS", "1 Infrastructure Way\nSan Francisco, CA 94105\nUSA"),
    "email": os.environ.get("BILLING_SELLER_EMAIL", "billing@cloud.example"),
    "tax_id": os.environ.get("BILLING_SELLER_TAX_ID", "US-12-3456789"),
}

# --- Stripe --------------------------------------------------------------------------------------
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")

# --- Alerts: webhook notices are signed with HMAC-SHA256 (X-Billing-Signature) -----------------
ALERT_WEBHOOK_SECRET = (
    os.environ.get("ALERT_WEBHOOK_SECRET") or hashlib.sha256(f"alert-webhooks:{SECRET_KEY}".encode()).hexdigest()
)

# --- Events, webhooks and e-mail (contract section 13) -----------------------------------------
BILLING_EVENT_RETENTION_DAYS = int(os.environ.get("BILLING_EVENT_RETENTION_DAYS", "30"))
WEBHOOK_RETRY_SCHEDULE = [
    int(s)
    for s in os.environ.get("WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000").split(",")
    if s.strip()
]
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_DISABLE_AFTER_DAYS = int(os.environ.get("WEBHOOK_DISABLE_AFTER_DAYS", "5"))
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
# Without a broker, deliveries and e-mail run in a background thread after commit, never in the request.
NOTIFICATIONS_EAGER_IN_THREAD = env_bool("NOTIFICATIONS_EAGER_IN_THREAD", True)
# EMAIL_URL (smtp://user:pass@host:587?tls=True, console:, …); unset: files under .data/mail/.
if os.environ.get("EMAIL_URL"):
    globals().update(dj_email_url.parse(os.environ["EMAIL_URL"]))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(BASE_DIR / ".data" / "mail")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or BILLING_SELLER["email"]
EMAIL_RETRY_SCHEDULE = [30, 120, 600, 1800, 7200]

# Cache (rate limits, alert coalescing): Redis when CACHE_URL is set, else per-process memory.
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_URL"]}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Logs: LOG_FORMAT=text (default, human) or json (JSON lines with request/task context); one line per
# request (logger billing.request) when LOG_REQUESTS is on (default: on in json, off in text, where
# gunicorn's access log already says it).
LOG_FORMAT = "json" if os.environ.get("LOG_FORMAT", "text").strip().lower() == "json" else "text"
LOGGING = logging_config(
    fmt=LOG_FORMAT,
    level=os.environ.get("LOG_LEVEL", "WARNING"),
    request_level="INFO" if env_bool("LOG_REQUESTS", LOG_FORMAT == "json") else "WARNING",
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too

# Error reporting: Sentry with the Django and Celery integrations when SENTRY_DSN is set (scrubbed).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from billing_project.observability.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", ""),
        release=os.environ.get("SENTRY_RELEASE", ""),
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )
