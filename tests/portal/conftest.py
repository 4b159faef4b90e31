"""The portal's view tests reuse the clinical app's fixtures: a clinic with a member of each role, a user
of another clinic, per-test media, and the fake classifier behind the model seam."""

import pytest
from django.utils import timezone

from tests.predictions.factories import LesionImageFactory, PredictionFactory

ROLES = ["clinician", "reviewer", "admin"]

PROBABILITIES_CONFIDENT_NEVUS = {
    "akiec": 0.01,
    "bcc": 0.01,
    "bkl": 0.03,
    "df": 0.01,
    "mel": 0.04,
    "nv": 0.88,
    "vasc": 0.02,
}
PROBABILITIES_NEVUS_20_PERCENT_RISK = {
    "akiec": 0.02,
    "bcc": 0.02,
    "bkl": 0.04,
    "df": 0.01,
    "mel": 0.16,
    "nv": 0.73,
    "vasc": 0.02,
}
PROBABILITIES_UNCERTAIN_MELANOMA = {
    "akiec": 0.08,
    "bcc": 0.07,
    "bkl": 0.2,
    "df": 0.03,
    "mel": 0.33,
    "nv": 0.27,
    "vasc": 0.02,
}


def succeeded(image, probabilities=PROBABILITIES_CONFIDENT_NEVUS, **kwargs):
    """A finished prediction of `image` with these probabilities."""
    top = max(probabilities, key=probabilities.get)
    risk = probabilities["mel"] + probabilities["bcc"] + probabilities["akiec"]
    return PredictionFactory(
        image=image,
        status="succeeded",
        probabilities=probabilities,
        top_class=top,
        malignancy_risk=risk,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        **kwargs,
    )


@pytest.fixture(autouse=True)
def model_behind_the_seam(fake_classifier):
    # The portal's tests run with the fake classifier (tests/conftest.py).
    return fake_classifier


@pytest.fixture
def image(staff):
    return LesionImageFactory(lesion=staff.lesion)
