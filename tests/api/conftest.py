"""Fixtures of the API tests: the backbone's clinic staff and fakes, and API clients signed in by token."""

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from predictions.services.api_tokens import api_token_create
from tests.conftest import Staff
from tests.predictions.factories import LesionImageFactory, PredictionFactory
from tests.predictions.fakes import ColourClassifier

ROLES = ["clinician", "reviewer", "admin"]
EVERYONE = ROLES + ["outsider"]


@pytest.fixture(autouse=True)
def model_behind_the_seam(fake_classifier) -> ColourClassifier:
    # The API's tests run with the fake classifier (tests/conftest.py); its integration tests make it None.
    return fake_classifier


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """The throttles count in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def token_client(user, name="tests") -> APIClient:
    client = APIClient()
    if user is not None:
        _, key = api_token_create(user=user, name=name)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(staff: Staff):
    """`api("clinician")` is a client holding a token of that member ("outsider": another clinic's admin;
    "anonymous": no credentials)."""
    clients = {}

    def client_for(role: str) -> APIClient:
        if role not in clients:
            clients[role] = token_client(None if role == "anonymous" else staff.role(role))
        return clients[role]

    return client_for


def succeeded(prediction, probabilities=None, **fields):
    """Mark a factory prediction finished with the given (or fixed) probabilities."""
    from mlcore import CLASSES, MALIGNANT_CLASSES

    probabilities = probabilities or dict(zip(CLASSES, [0.02, 0.03, 0.05, 0.02, 0.8, 0.05, 0.03]))
    prediction.status = "succeeded"
    prediction.probabilities = probabilities
    prediction.top_class = max(probabilities, key=probabilities.get)
    prediction.malignancy_risk = sum(probabilities[c] for c in MALIGNANT_CLASSES)
    prediction.started_at = prediction.started_at or timezone.now()
    prediction.finished_at = prediction.finished_at or timezone.now()
    prediction.attempts = max(prediction.attempts, 1)
    for name, value in fields.items():
        setattr(prediction, name, value)
    prediction.save()
    return prediction


@pytest.fixture
def image(staff):
    return LesionImageFactory(lesion=staff.lesion)


@pytest.fixture
def prediction(image):
    return succeeded(PredictionFactory(image=image, model_version=ColourClassifier.version))
