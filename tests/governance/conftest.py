"""Fixtures of the governance tests: a clinic with a member of each role (and a user of another clinic),
an operator, and classifiers that return chosen results so triage can be driven exactly."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from mlcore import CLASSES, MALIGNANT_CLASSES, PredictionResult

from predictions import inference
from tests.predictions.conftest import Staff, staff  # noqa: F401  (fixture)

from tests.mlcore.conftest import TINY_ARCH, write_dataset
from tests.predictions.fakes import ColourClassifier


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_inference(monkeypatch):
    """No classifier leaks between tests through the inference module's global."""
    monkeypatch.setattr(inference, "_classifier", None)


@pytest.fixture
def fake_classifier(monkeypatch) -> ColourClassifier:
    classifier = ColourClassifier()
    monkeypatch.setattr(inference, "_classifier", classifier)
    monkeypatch.setattr(inference, "model_version", lambda: classifier.version)
    return classifier


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "operator@example.org", "correct horse battery")


def result(probabilities: dict[str, float], version: str = "test-colour:1.0") -> PredictionResult:
    """A model result with exactly these probabilities (the rest spread evenly)."""
    rest = [c for c in CLASSES if c not in probabilities]
    left = max(0.0, 1.0 - sum(probabilities.values()))
    full = {c: probabilities.get(c, left / len(rest) if rest else 0.0) for c in CLASSES}
    top = max(full, key=full.get)
    return PredictionResult(probabilities=full, top_class=top, top_probability=full[top],
                            malignancy_risk=sum(full[c] for c in MALIGNANT_CLASSES), entropy=0.0,
                            model_version=version)


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
    train(TrainOptions(data=data, out=out, epochs=1, batch_size=16, image_size=32, architecture=TINY_ARCH,
                       mixed_precision=False, show_progress=False, seed=seed, version=version), log=lambda _: None)
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
