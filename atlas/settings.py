"""Atlas settings: one module, driven by the environment.

SQLite is the embedded default; ``DATABASE_URL`` selects PostgreSQL in production.
``REDIS_URL`` switches the django-q2 broker from the ORM to Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "atlas-development-only-secret-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "django_q",
    "axes",
    "auditlog",  # before atlas: atlas/admin.py replaces its admin with a read-only one
    "atlas",
    "catalog",
    "customers",
    "metering",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "atlas.middleware.HostileInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "atlas.audit.context.AuditActorMiddleware",  # who the audit log names for this request's changes
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "atlas.tenancy.CockpitMerchantMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the login page saying so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "atlas.urls"
WSGI_APPLICATION = "atlas.wsgi.application"
ASGI_APPLICATION = "atlas.asgi.application"

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
                "atlas.tenancy.merchant_context",
            ],
        },
    },
]

# SQLite file by default: a new user needs nothing installed.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
    )
}
# The API's hot statements are prepared on PostgreSQL (atlas/db.py asks for it per statement; Django's own
# client-side-binding cursors never prepare). Off for PgBouncer before 1.21 in transaction mode.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_PREPARED_STATEMENTS:
    # psycopg disables preparation when the threshold is None (Django's default); "never automatically"
    # is a threshold no statement reaches.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
# A backstop for a connection left idle inside a transaction (it would hold its locks, the merchant's state
# lock of ingestion among them): PostgreSQL ends such a session after this many seconds. 0 sends nothing
# (behind a PgBouncer that refuses the ``options`` startup parameter: set it on the database role instead).
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT = env_int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", 60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_IDLE_IN_TRANSACTION_TIMEOUT:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c idle_in_transaction_session_timeout={DATABASE_IDLE_IN_TRANSACTION_TIMEOUT * 1000}"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the django-q2 cluster share the file; the
    # busy timeout makes a writer wait for the lock instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "atlas.auth.AxesBackend",  # refuses a locked-out account or address before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cockpit:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"

# E-mail (dunning reminders, invitations): SMTP when EMAIL_HOST is set, else printed to the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
EMAIL_BACKEND = f"django.core.mail.backends.{'smtp' if EMAIL_HOST else 'console'}.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@localhost")

# Password guessing (django-axes): 10 failures for one account, or from one address, within the cool-off
# refuse every login (the right password too) for the next 15 minutes; the login page says so.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_USE_ATTEMPT_EXPIRATION = True  # failures older than the cool-off no longer count
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "atlas.auth.locked_out"
AXES_USERNAME_FORM_FIELD = "username"

# HTTPS. Production (DEBUG=0) is served over HTTPS, usually behind a proxy that terminates TLS and says so in
# X-Forwarded-Proto: every protection is on unless the environment turns it off. Development runs on plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# "HEADER,value" as the proxy sets it ("" when Atlas terminates TLS itself or there is no proxy).
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header.split(",", 1)) if _proxy_ssl_header else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["atlas.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["atlas.api.permissions.HasMerchant"],
    "DEFAULT_PAGINATION_CLASS": "atlas.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "atlas.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers plus the text rule (atlas/text.py): no NUL, no lone surrogate, anywhere in a body.
    "DEFAULT_PARSER_CLASSES": [
        "atlas.api.parsers.JSONParser",
        "atlas.api.parsers.MultiPartParser",
        "atlas.api.parsers.FormParser",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Atlas API",
    "DESCRIPTION": "Usage-based billing: catalog, metering, customers, billing.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TimingEnum": "catalog.models.PlanVersion.Timing",
        "PaymentMethodEnum": "billing.payments.models.Payment.Method",
        "CreditNoteMethodEnum": "billing.credit_notes.models.CreditNote.Method",
    },
    # Every operation documents its 4xx answers in the one error shape (atlas/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "atlas.api.schema.add_error_responses",
    ],
}

# django-q2: the ORM broker needs no extra server; REDIS_URL switches to Redis.
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "atlas",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": 600,
    "retry": 900,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "label": "Jobs",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# Tests (and anyone who wants it) may run tasks inline with Q_SYNC=1.
if env_bool("Q_SYNC", False):
    Q_CLUSTER["sync"] = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        # WeasyPrint warns once per font of every PDF when Debian's HarfBuzz-Subset library is missing ("Using
        # fontTools instead of HarfBuzz-Subset"): hundreds of lines that bury `make run`'s login and key. The PDF
        # is the same either way, so only its errors are logged (PDF_LOG_LEVEL=WARNING shows the rest).
        "weasyprint": {"level": os.environ.get("PDF_LOG_LEVEL", "ERROR")},
        "fontTools": {"level": os.environ.get("PDF_LOG_LEVEL", "ERROR")},
    },
}

# E-mail (team invitations): SMTP when EMAIL_HOST is set, else printed on the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "atlas@localhost")
# The set-password link of an invitation is valid this long (Django's password-reset tokens).
PASSWORD_RESET_TIMEOUT = env_int("INVITATION_VALID_HOURS", 72) * 3600

# Audit log (django-auditlog, docs/audit.md): entries in atlas.AuditEntry, stamped with the merchant and the
# actor (staff user or API key). Every model whose changes a merchant must be able to trace is listed here;
# bookkeeping columns that change on every run are left out so they do not drown the real changes.
AUDITLOG_LOGENTRY_MODEL = "atlas.AuditEntry"
# django-auditlog's own migrations create its default entry table (auditlog_logentry, with a foreign key to the
# user table) even though atlas.AuditEntry replaces it. Unused, that table only stops PostgreSQL from emptying the
# user table between transactional tests (TRUNCATE refuses a referenced table), so its migrations are not run.
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_DISABLE_REMOTE_ADDR = False
_INVOICE_STATE = ["status", "number", "finalized_at", "paid_at", "voided_at", "amount_paid", "amount_due", "credited"]
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "atlas.Merchant"},
    {"model": "atlas.Membership"},
    {"model": "atlas.ApiKey", "exclude_fields": ["hashed_key", "last_used_at"]},
    "catalog.Metric",
    "catalog.Feature",
    "catalog.Plan",
    "catalog.PlanVersion",
    "catalog.Charge",
    "catalog.PlanFeature",
    "catalog.OneTimeFee",
    {"model": "customers.Customer", "exclude_fields": ["updated_at"]},
    "customers.CustomerUser",
    "customers.BillingRule",
    "billing.Subscription",
    "billing.CreditGrant",
    {"model": "billing.Invoice", "include_fields": _INVOICE_STATE},
    "billing.CreditNote",
    "billing.Payment",
    "billing.Refund",
)

# Atlas's own knobs.
ATLAS_EVENT_FUTURE_TOLERANCE_SECONDS = 300
ATLAS_BATCH_MAX_EVENTS = 1000
ATLAS_NIGHTLY_BILLING_HOUR_UTC = env_int("ATLAS_NIGHTLY_BILLING_HOUR_UTC", 2)
