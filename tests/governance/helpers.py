"""Running predictions to a chosen result through the real services (claim, run, store, triage)."""

from __future__ import annotations

from django.utils import timezone

from predictions import services
from predictions.models import Prediction, PredictionStatus, Review
from tests.predictions.factories import LesionImageFactory, PredictionFactory

from .conftest import ScriptedClassifier, result


def finished_prediction(*, lesion=None, image=None, probabilities=None, version="test-colour:1.0", fail: str = ""):
    """A prediction queued and then finished by a worker run: succeeded with `probabilities`, or failed."""
    if image is None:
        image = LesionImageFactory(lesion=lesion) if lesion is not None else LesionImageFactory()
    prediction = PredictionFactory(image=image, model_version=version)
    [held] = services.prediction_claim(
        prediction_id=prediction.pk, claimant=f"run-{prediction.pk}", model_version=version, limit=1
    )
    if fail:
        services.prediction_fail(prediction=held, claimant=f"run-{prediction.pk}", error=fail)
    else:
        classifier = ScriptedClassifier([result(probabilities, version)], version=version)
        services.prediction_run(predictions=[held], classifier=classifier, claimant=f"run-{prediction.pk}")
    prediction.refresh_from_db()
    assert prediction.status == (PredictionStatus.FAILED if fail else PredictionStatus.SUCCEEDED)
    return prediction


def stored_prediction(*, image, version, probabilities) -> Prediction:
    """A succeeded prediction written directly (for figures that need no worker run)."""
    r = result(probabilities, version)
    return Prediction.objects.create(
        image=image,
        model_version=version,
        status=PredictionStatus.SUCCEEDED,
        probabilities=r.probabilities,
        top_class=r.top_class,
        malignancy_risk=r.malignancy_risk,
        queued_at=timezone.now(),
        finished_at=timezone.now(),
    )


# The performance tests' reviewed cases (the `reviewed` fixture in conftest.py stores them).
V1, V2 = "model:1", "model:2"

# (sex, age, site, predicted by V1, reviewed diagnosis)
CASES = [
    ("female", 25, "back", "mel", "mel"),
    ("female", 50, "face", "nv", "mel"),
    ("male", 62, "back", "mel", "nv"),
    ("male", 80, "trunk", "bcc", "bcc"),
    ("male", None, "back", "nv", "nv"),
    ("female", 35, "face", "bkl", None),  # reviewed twice: histopathology says mel, a later look says bkl
]


def review(image, diagnosis, reviewer, histopathology=False):
    return Review.objects.create(
        image=image, verdict="override", diagnosis=diagnosis, reviewer=reviewer, histopathology_confirmed=histopathology
    )
