"""Settings of the test suite (pytest.ini names this module): the production settings, and what only tests want.

What the settings read at import stays in the environment (pytest.ini's `env`): SECRET_KEY, which they require;
CELERY_BROKER_URL, from which they build the broker's options; WARM_MODEL_ON_WORKER_START, which the worker
processes that integration tests start inherit (with this module's name). `manage.py`, the WSGI app, the Celery
app and `.ci/run`'s deployment check use skinclinic.settings.
"""

from .settings import *  # noqa: F403

# Every factory-made user gets a password; the production hasher's slowness buys nothing in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client and the browser tests' live server speak plain HTTP.
SECURE_SSL_REDIRECT = False
