"""Settings shared by every environment.

Everything that differs between machines is read from the environment (or a
`.env` file beside manage.py). The defaults serve development on SQLite with no
other service running.
"""

import tempfile
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="development-only-key-never-use-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core.apps.ScopedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Third-party
    "crispy_forms",
    "crispy_bootstrap5",
    "import_export",
    "bootstrap",  # Bootstrap 5 CSS/JS, served from our own static files
    "django_htmx",  # htmx served from our own static files (the survey form's live result)
    # Ours
    "core",
    "geo",
    "households",
    "reviews",
    "programs",
    "exchange",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.middleware.NFCInputMiddleware",
    "core.middleware.NumberBoundsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
                "core.context_processors.user_area",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the in-process task runner and the web server read while one writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

# Every way to sign in (the sign-in page, the admin's, any later API) goes through
# this backend and so through one throttle (core.throttle).
AUTHENTICATION_BACKENDS = ["core.throttle.ThrottledModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "core.passwords.LocalCommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end when the browser closes, and after SESSION_IDLE_SECONDS without a
# request (the expiry slides forward on each request).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=4 * 60 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True

# Sign-in throttling (core.throttle). Failures are counted for a user name from one
# address (LOGIN_FAILURE_LIMIT), for a user name from every address, and for one
# address over every user name (0 turns that one off); past its limit a counter
# refuses attempts until LOGIN_LOCK_SECONDS after its last failure. The cache must
# increment atomically and be shared by every process: Redis in production.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_USER_FAILURE_LIMIT = env.int("LOGIN_USER_FAILURE_LIMIT", default=10)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=50)
LOGIN_LOCK_SECONDS = env.int("LOGIN_LOCK_SECONDS", default=15 * 60)
# Behind a reverse proxy: the request header (as in request.META) that carries the
# client address, e.g. HTTP_X_FORWARDED_FOR, and how many proxies append to it.
# Empty: the connection's address (REMOTE_ADDR), and the header is ignored.
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", default="")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)

# Vietnamese first, English second.
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "media"
MEDIA_URL = "media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery. With no broker configured, tasks run eagerly in the process that
# queues them (after the transaction commits), so `make run` needs no service.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Long jobs must not be handed to a second worker while the first still runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
# Celery beat: the nightly reconciliation of every rollup from the rows (reports.tasks);
# imports left waiting or running by a worker that died are marked failed; stored files
# past their retention period are removed (exchange.tasks, reports.tasks).
CELERY_BEAT_SCHEDULE = {
    "reconcile-rollups": {
        "task": "reports.tasks.reconcile_rollups",
        "schedule": crontab(hour=1, minute=30),
        "options": {"expires": 6 * 60 * 60},
    },
    "reclaim-stale-imports": {
        "task": "exchange.tasks.reclaim_stale_imports",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 15 * 60},
    },
    "remove-expired-import-files": {
        "task": "exchange.tasks.remove_expired_files",
        "schedule": crontab(hour=2, minute=15),
        "options": {"expires": 6 * 60 * 60},
    },
    "remove-expired-report-packs": {
        "task": "reports.tasks.remove_expired_packs",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 60 * 60},
    },
}

# An import check or run with no sign of life for this long is marked failed. No task
# outlives the hard time limit, so past it (and a margin) the worker is certainly gone.
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 5 * 60)
# Uploaded files (imports) and generated ones (report packs) are removed this many days
# after they were made; the records stay, marked that their file is gone. Personal data
# are kept no longer than the work needs them: a review round lasts from September to
# December, so 90 days cover a round and its corrections.
UPLOAD_RETENTION_DAYS = env.int("UPLOAD_RETENTION_DAYS", default=90)
# django-import-export's admin import (surveys, supports) keeps the uploaded file between
# the preview and the confirmation in this private directory, under a random name.
IMPORT_EXPORT_TMP_STORAGE_CLASS = "exchange.tmp_storage.PrivateTempStorage"
IMPORT_EXPORT_TMP_DIR = env.str("IMPORT_EXPORT_TMP_DIR",
                                default=str(Path(tempfile.gettempdir()) / "poverty-review-import-export"))

IMPORT_EXPORT_SKIP_ADMIN_ACTION_EXPORT_UI = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
