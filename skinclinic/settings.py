"""SkinClinic settings: one module, read from the environment with strict parsing.

With nothing set but DEBUG=1 the app runs on the embedded default: SQLite and a Celery broker kept in
files under var/ (no server), with a real worker process. Production sets DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (Redis), SECRET_KEY and ALLOWED_HOSTS; everything else defaults to the safe choice.
"""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Local state of the embedded default (SQLite file, media, the file broker); ignored by git.
VAR_DIR = Path(env.str("SKINCLINIC_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite and celery beat cannot create their file's folder

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-development-key-never-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: refuses to start without one

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # before predictions: its failed-sign-in receiver decides a lockout before ours records it
    "predictions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "predictions.middleware.FaultResponseMiddleware",  # a fault is a plain answer (JSON under /api/), never a traceback
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "predictions.middleware.AuditContextMiddleware",  # audit records say where a request came from
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Last: turns a sign-in refused for a lockout into the lockout page (429).
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# Content-Security-Policy on every response (django-csp; the policy is below, under Security).
MIDDLEWARE += ["csp.middleware.CSPMiddleware"]

ROOT_URLCONF = "skinclinic.urls"
LOGIN_URL = "login"  # the portal's sign-in page
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"
WSGI_APPLICATION = "skinclinic.wsgi.application"

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
                "predictions.portal.context_processors.portal",
            ],
            "libraries": {"portal": "predictions.portal.templatetags"},
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write to one file: wait for locks, and take the write lock at BEGIN so that
    # concurrent transactions queue instead of failing to upgrade a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DB_PREPARED_STATEMENTS", default=False):
        # Parameters bound on the server let psycopg prepare a statement that a connection runs again and
        # again, so PostgreSQL plans each API read once per connection rather than once per request (planning
        # was most of a read's database CPU). Off by default: a statement bound on the server takes at most
        # 65,535 parameters, and Django does not split an `id__in` list or a cascade delete to fit (a re-run
        # or a delete over more rows than that would fail). Not behind a pooler that cannot keep prepared
        # statements (PgBouncer before 1.21 in transaction mode).
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=env.int("DB_PREPARE_THRESHOLD", default=2)
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in lockout (django-axes; predictions/services/sign_in.py audits each failure) ---------------------
# LOGIN_FAILURE_LIMIT failed sign-ins for one account, or LOGIN_ADDRESS_FAILURE_LIMIT from one address (higher:
# a hospital's staff share one address behind its NAT or proxy), lock that account or address out for
# LOGIN_LOCKOUT_MINUTES (the right password included); `manage.py sign_in_unlock` lifts it early.
AUTHENTICATION_BACKENDS = [
    "predictions.backends.SignInLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SKINCLINIC_LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
SKINCLINIC_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
if not 0 < SKINCLINIC_LOGIN_FAILURE_LIMIT <= SKINCLINIC_LOGIN_ADDRESS_FAILURE_LIMIT:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT must be positive and at most LOGIN_ADDRESS_FAILURE_LIMIT")
AXES_FAILURE_LIMIT = "predictions.services.sign_in.sign_in_failure_limit"  # one limit per try: see there
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
# A success must not clear failures: signing in to one's own account would wipe the count against another.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "predictions.middleware.client_ip"  # the address the audit trail records
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ADMIN = False  # unlocking goes through sign_in_unlock, which audits it (predictions/admin.py)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------------------
# Uploaded images are patient data: MEDIA_ROOT is never served by URL; only a view that checks the
# user's clinic streams them. Code touches files through the storage API only, so STORAGE_BACKEND=s3
# moves web and workers onto one private bucket without code changes.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem")
_default_storage: dict[str, object]
if STORAGE_BACKEND == "filesystem":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "region_name": env.str("S3_REGION", default=None),
            "location": env.str("S3_PREFIX", default=""),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'filesystem' or 's3', not {STORAGE_BACKEND!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads over this size are refused with a clear message (default 20 MB).
SKINCLINIC_MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_MB", default=20) * 1024 * 1024
# Images with more pixels are refused before decoding (decompression bombs). Below Pillow's own
# MAX_IMAGE_PIXELS, so ours raises before Pillow would only warn.
SKINCLINIC_MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=64_000_000)
# Images with a shorter side, or longer than this many times their width, cannot show a lesion: refused.
SKINCLINIC_MIN_IMAGE_SIDE = env.int("MIN_IMAGE_SIDE", default=64)
SKINCLINIC_MAX_IMAGE_ASPECT_RATIO = env.float("MAX_IMAGE_ASPECT_RATIO", default=4.0)

# --- Security (safe by default; DEBUG relaxes only what plain-HTTP local runs need) -----------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container health checks speak plain HTTP inside the network
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts only from this server's own files: no inline <script>, no on*= handlers, no eval, nothing from
# another origin, so an injected tag cannot run. Styles may be inline (bar widths, htmx's indicator rule):
# CSS cannot run code. Swagger UI's icons are data: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Email (password reset) ------------------------------------------------------------------------------
# EMAIL_URL as django-environ reads it (smtp+tls://user:password@host:587); the embedded default prints
# mail to the console so a local password reset works without a mail server.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SkinClinic <noreply@localhost>")

# --- Portal: how results are put into words ------------------------------------------------------------------
# Malignancy risk bands shown to clinicians: low below INTERMEDIATE_AT, high from HIGH_AT. Set them from
# the clinic's own validation of the model; the defaults lean towards sending lesions for a closer look.
SKINCLINIC_RISK_INTERMEDIATE_AT = env.float("RISK_INTERMEDIATE_AT", default=0.15)
SKINCLINIC_RISK_HIGH_AT = env.float("RISK_HIGH_AT", default=0.40)
# A result is flagged uncertain when the top class has less than this probability...
SKINCLINIC_UNCERTAIN_TOP_PROBABILITY_BELOW = env.float("UNCERTAIN_TOP_PROBABILITY_BELOW", default=0.50)
# ...or the entropy of the 7 probabilities exceeds this many nats (ln 7 = 1.95 is no information at all).
SKINCLINIC_UNCERTAIN_ENTROPY_ABOVE = env.float("UNCERTAIN_ENTROPY_ABOVE", default=1.20)
# How often a page showing a queued or running prediction asks for its status.
SKINCLINIC_STATUS_POLL_SECONDS = env.float("STATUS_POLL_SECONDS", default=2.0)
if not 0 < SKINCLINIC_RISK_INTERMEDIATE_AT < SKINCLINIC_RISK_HIGH_AT <= 1:
    raise ImproperlyConfigured("Risk bands must satisfy 0 < RISK_INTERMEDIATE_AT < RISK_HIGH_AT <= 1")

# --- Audit trail ----------------------------------------------------------------------------------------
# Take the client address from the first X-Forwarded-For hop instead of REMOTE_ADDR: only behind a proxy
# that sets the header, or anyone could write any address into the audit trail.
SKINCLINIC_AUDIT_TRUST_X_FORWARDED_FOR = env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False)
# The chain's records are keyed (HMAC-SHA256) with a secret kept outside the database, so that someone who can
# write to the database cannot forge a record that verifies. Unset: a key derived from SECRET_KEY (keep the old
# SECRET_KEY in SECRET_KEY_FALLBACKS when rotating it). The fallbacks only verify older records.
SKINCLINIC_AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
SKINCLINIC_AUDIT_CHAIN_KEY_FALLBACKS = env.list("AUDIT_CHAIN_KEY_FALLBACKS", default=[])
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Checkpoints of the chain's head are appended to this file, which audit_verify checks against. Put it where
# the database's users cannot write (another volume or host, storage that only appends).
SKINCLINIC_AUDIT_CHECKPOINT_PATH = env.str(
    "AUDIT_CHECKPOINT_PATH", default=str(VAR_DIR / "audit" / "checkpoints.jsonl")
)

# --- Inference ------------------------------------------------------------------------------------------
# The model directory the workers load (empty: the model shipped in mlcore).
SKINCLINIC_MODEL_DIR = env.str("MODEL_DIR", default="") or None
# Where `python -m mlcore reference` writes each model's similar-cases index (REFERENCE_DIR/<model version>/),
# read by the workers (the neighbours) and the web (their thumbnails). Outside the repository: HAM10000 is
# not redistributed with the code.
SKINCLINIC_REFERENCE_DIR = env.str("REFERENCE_DIR", default=str(VAR_DIR / "reference"))
# A worker claims up to this many queued predictions and runs them through the model as one batch.
SKINCLINIC_PREDICTION_BATCH_SIZE = env.int("PREDICTION_BATCH_SIZE", default=32)
# Attempts (kept on each Prediction row) before a prediction is marked failed for good.
SKINCLINIC_PREDICTION_MAX_ATTEMPTS = env.int("PREDICTION_MAX_ATTEMPTS", default=3)
# Seconds between retries of a transient failure: base * 2**(attempt-1).
SKINCLINIC_PREDICTION_RETRY_BACKOFF = env.int("PREDICTION_RETRY_BACKOFF_SECONDS", default=10)
# Load the model when a worker process starts (after fork) instead of on its first task.
SKINCLINIC_WARM_MODEL_ON_WORKER_START = env.bool("WARM_MODEL_ON_WORKER_START", default=True)

# --- Celery ---------------------------------------------------------------------------------------------
# Celery ignores misspelled settings silently; tests/skinclinic/test_celery_config.py asserts the
# effective values and that every CELERY_ name here is one Celery knows.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Redis redelivers an unacknowledged message after this long: it must exceed the hard time limit,
# or a task still running would be handed to a second worker.
_visibility_timeout = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(_broker_dir / "queue"),
        data_folder_out=str(_broker_dir / "queue"),
        control_folder=str(_broker_dir / "control"),
        store_processed=False,
    )
    for _folder in ("queue", "control"):  # web and worker both need them before they connect
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Loading TensorFlow in a fresh worker process takes seconds; Celery's default 4 s would kill it.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.int("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=120)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="skinclinic")
CELERY_TASK_IGNORE_RESULT = True  # results live in the Prediction rows
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The sweep re-enqueues predictions left queued (a lost message, a broker that was down at commit) or
# running (a worker that died) for longer than this. It must exceed the hard time limit, so that a
# prediction still running is never handed out twice.
SKINCLINIC_PREDICTION_STUCK_AFTER = env.int("PREDICTION_STUCK_AFTER_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60)
# Each worker records a heartbeat this often; a running prediction whose worker has been silent for
# WORKER_LOST_AFTER_SECONDS was stranded by a crash, and the sweep queues it again (whatever the time limit).
SKINCLINIC_WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=10)
SKINCLINIC_WORKER_LOST_AFTER = env.int("WORKER_LOST_AFTER_SECONDS", default=30)
# Attempts at drawing a prediction's heatmap (counted in the database) before it is marked unavailable.
SKINCLINIC_HEATMAP_MAX_ATTEMPTS = env.int("HEATMAP_MAX_ATTEMPTS", default=6)
# A prediction queued this long while the broker's queue is empty lost its message (the broker was down at
# upload, or restarted empty): the sweep sends it again without waiting PREDICTION_STUCK_AFTER_SECONDS.
SKINCLINIC_QUEUED_RESEND_AFTER = env.int("QUEUED_RESEND_AFTER_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    "predictions-sweep": {
        "task": "predictions.tasks.predictions_sweep_task",
        "schedule": env.float("PREDICTION_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
}

if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < _visibility_timeout:
    raise ImproperlyConfigured("Celery time limits must satisfy soft < hard < broker visibility timeout")
if SKINCLINIC_PREDICTION_STUCK_AFTER <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("PREDICTION_STUCK_AFTER_SECONDS must exceed CELERY_TASK_TIME_LIMIT")
if SKINCLINIC_WORKER_LOST_AFTER < 2 * SKINCLINIC_WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("WORKER_LOST_AFTER_SECONDS must be at least twice WORKER_HEARTBEAT_SECONDS")

# --- REST API (predictions/api) -----------------------------------------------------------------------------
INSTALLED_APPS += ["rest_framework", "django_filters", "drf_spectacular", "drf_spectacular_sidecar"]

# The throttles count requests in the default cache: set CACHE_URL to Redis (e.g. redis://redis:6379/1)
# when several web processes serve the API, or each process keeps its own count.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "predictions.api.authentication.ApiTokenAuthentication",  # integrations
        "rest_framework.authentication.SessionAuthentication",  # the portal's own calls (CSRF-checked)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["predictions.api.renderers.JSONRenderer"],  # orjson (see the module)
    "DEFAULT_PARSER_CLASSES": ["predictions.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "predictions.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["predictions.api.throttles.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("API_THROTTLE_TOKEN_RATE", default="1200/minute"),
        "user": env.str("API_THROTTLE_USER_RATE", default="600/minute"),
        "anon": env.str("API_THROTTLE_ANON_RATE", default="60/minute"),
    },
    "EXCEPTION_HANDLER": "predictions.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SkinClinic API",
    "DESCRIPTION": "Patients, lesions, images, predictions, reviews, FHIR R4 export and webhooks, "
    "scoped to the clinics of the caller. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load their scripts from this server (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "predictions.api.schema.add_common_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DiagnosisClassEnum": "predictions.models.DiagnosisClass",
        "PredictionStatusEnum": "predictions.models.PredictionStatus",
        "HeatmapStatusEnum": "predictions.models.HeatmapStatus",
        "DeliveryStatusEnum": "predictions.models.DeliveryStatus",
        "WebhookEventEnum": "predictions.models.WebhookEvent",
        "VerdictEnum": "predictions.models.Verdict",
        "SexEnum": "predictions.models.Sex",
        "SiteEnum": "predictions.models.Site",
    },
}

# An Idempotency-Key is remembered this long (seconds); a retry after that runs again.
SKINCLINIC_IDEMPOTENCY_KEY_TTL = env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=24 * 3600)
# Prefix of links in webhook bodies (e.g. https://clinic.example.org); empty gives paths.
SKINCLINIC_PUBLIC_URL = env.str("PUBLIC_URL", default="")

# Webhooks: attempts (kept on each delivery) and the backoff between them, base * 2**(attempt-1) capped at
# the maximum, which stays below the broker's visibility timeout (a delayed message outliving it is redelivered).
SKINCLINIC_WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
SKINCLINIC_WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
SKINCLINIC_WEBHOOK_RETRY_BACKOFF = env.float("WEBHOOK_RETRY_BACKOFF_SECONDS", default=30.0)
SKINCLINIC_WEBHOOK_RETRY_BACKOFF_MAX = env.float("WEBHOOK_RETRY_BACKOFF_MAX_SECONDS", default=1800.0)
# Pending deliveries overdue by this long are sent again by the sweep (their message was lost).
SKINCLINIC_WEBHOOK_SWEEP_GRACE = env.int("WEBHOOK_SWEEP_GRACE_SECONDS", default=120)
# Plain http and private or loopback addresses as webhook targets: for local development only.
SKINCLINIC_WEBHOOK_ALLOW_INSECURE = env.bool("WEBHOOK_ALLOW_INSECURE", default=DEBUG)
CELERY_BEAT_SCHEDULE["webhook-deliveries-sweep"] = {
    "task": "predictions.webhook_tasks.webhook_deliveries_sweep_task",
    "schedule": env.float("WEBHOOK_SWEEP_INTERVAL_SECONDS", default=60.0),
}
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "predictions.audit_tasks.audit_checkpoint_task",
    "schedule": env.float("AUDIT_CHECKPOINT_INTERVAL_SECONDS", default=300.0),
}
if SKINCLINIC_WEBHOOK_RETRY_BACKOFF_MAX >= _visibility_timeout:
    raise ImproperlyConfigured("WEBHOOK_RETRY_BACKOFF_MAX_SECONDS must be below CELERY_VISIBILITY_TIMEOUT")
