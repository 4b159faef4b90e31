"""Fixtures of the governance tests: a clinic with a member of each role (and a user of another clinic),
an operator, and classifiers that return chosen results so triage can be driven exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from mlcore import CLASSES, MALIGNANT_CLASSES, PredictionResult
from predictions import inference
from tests.mlcore.conftest import TINY_ARCH, write_dataset


@pytest.fixture(autouse=True)
def fresh_inference(monkeypatch):
    """No classifier leaks between tests through the inference module's global."""
    monkeypatch.setattr(inference, "_classifier", None)


@pytest.fixture(autouse=True)
def checkpoint_path(settings, tmp_path):
    """Each test keeps its audit checkpoints in its own file."""
    settings.SKINCLINIC_AUDIT_CHECKPOINT_PATH = str(tmp_path / "audit" / "checkpoints.jsonl")
    return tmp_path / "audit" / "checkpoints.jsonl"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "operator@example.org", "correct horse battery")


def result(probabilities: dict[str, float], version: str = "test-colour:1.0") -> PredictionResult:
    """A model result with exactly these probabilities (the rest spread evenly)."""
    rest = [c for c in CLASSES if c not in probabilities]
    left = max(0.0, 1.0 - sum(probabilities.values()))
    full = {c: probabilities.get(c, left / len(rest) if rest else 0.0) for c in CLASSES}
    top = max(full, key=full.get)
    return PredictionResult(
        probabilities=full,
        top_class=top,
        top_probability=full[top],
        malignancy_risk=sum(full[c] for c in MALIGNANT_CLASSES),
        entropy=0.0,
        model_version=version,
    )


class ScriptedClassifier:
    """Returns the next scripted result for each image, in order."""

    def __init__(self, results: list[PredictionResult], version: str = "test-colour:1.0"):
        self.results = list(results)
        self.version = version

    def predict(self, items, heatmap=False):
        return [self.results.pop(0) for _ in items]


def _train_tiny(root: Path, *, seed: int, version: str) -> Path:
    from mlcore.train import TrainOptions, train

    data = root / "data"
    if not data.exists():
        write_dataset(data)
    out = root / f"model-{version}"
    train(
        TrainOptions(
            data=data,
            out=out,
            epochs=1,
            batch_size=16,
            image_size=32,
            architecture=TINY_ARCH,
            mixed_precision=False,
            show_progress=False,
            seed=seed,
            version=version,
        ),
        log=lambda _: None,
    )
    return out


@pytest.fixture(scope="session")
def two_model_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """(first, second): the shipped model and a tiny one, or two tiny ones trained with different seeds."""
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    root = tmp_path_factory.mktemp("model-versions")
    if (SHIPPED_MODEL_DIR / "config.json").is_file():
        first = SHIPPED_MODEL_DIR
    else:
        first = _train_tiny(root, seed=1, version="0.0.1-first")
    return first, _train_tiny(root, seed=2, version="0.0.2-second")


@pytest.fixture
def reviewed(staff):
    """Six reviewed images of V1 (three re-run on V2), and results the figures must leave out."""
    from predictions.models import Prediction, PredictionStatus
    from tests.predictions.factories import LesionFactory, LesionImageFactory

    from .helpers import CASES, V1, V2, review, stored_prediction

    images = []
    for sex, age, site, predicted, diagnosis in CASES:
        image = LesionImageFactory(lesion=staff.lesion, sex=sex, age=age, site=site)
        stored_prediction(image=image, version=V1, probabilities={predicted: 0.9})
        if diagnosis:
            review(image, diagnosis, staff.reviewer)
        images.append(image)
    review(images[5], "mel", staff.reviewer, histopathology=True)
    review(images[5], "bkl", staff.admin)  # newer, but not confirmed: the histopathology wins
    # V2 ran on the first three images and agrees with every review.
    for image, predicted in zip(images[:3], ["mel", "mel", "nv"]):
        stored_prediction(image=image, version=V2, probabilities={predicted: 0.9})
    # Left out: an unreviewed result, a failed prediction of a reviewed image, and another clinic's images.
    stored_prediction(image=LesionImageFactory(lesion=staff.lesion), version=V1, probabilities={"mel": 0.9})
    failed_image = LesionImageFactory(lesion=staff.lesion)
    Prediction.objects.create(
        image=failed_image,
        model_version=V1,
        status=PredictionStatus.FAILED,
        queued_at=failed_image.uploaded_at,
        error="unreadable",
    )
    review(failed_image, "mel", staff.reviewer)
    other = LesionImageFactory(lesion=LesionFactory(patient__clinic=staff.other_clinic))
    stored_prediction(image=other, version=V1, probabilities={"nv": 0.9})
    review(other, "mel", staff.outsider)
    return images
