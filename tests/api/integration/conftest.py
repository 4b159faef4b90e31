"""The backbone's real services for these tests: PostgreSQL, Redis and Celery worker processes."""
from tests.predictions.integration.conftest import fake_classifier, real_services, start_worker  # noqa: F401
