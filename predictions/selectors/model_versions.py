"""The model registry's versions, and which model answers now: the one the workers load, with its card's
figures and operating point.

The served model is read without TensorFlow, from the same place the workers resolve it (`inference.model_version`):
the active version of the model registry, or, while the registry holds none (a fresh install), the configured model
(`MODEL_DIR`, else the one shipped in mlcore).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from .. import inference
from ..interpretation import OperatingPoint, model_config_get
from ..models import ModelVersion


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("registered_by", "activated_by").order_by("-is_active", "-registered_at")


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.active().first()


def model_version_get(*, identifier: str) -> ModelVersion:
    """A registered version by "name:version" (ModelVersion.DoesNotExist otherwise)."""
    return ModelVersion.objects.get(identifier=identifier)


CARD_FIGURES = (
    ("balanced_accuracy", "Balanced accuracy"),
    ("melanoma_auc", "Melanoma AUC"),
    ("malignant_auc", "Malignant AUC (mel + bcc + akiec)"),
    ("accuracy", "Accuracy"),
    ("ece", "Calibration error (ECE)"),
)


@dataclass(frozen=True)
class ServedModel:
    identifier: str  # "name:version", as stored on every prediction it makes
    registered: ModelVersion | None  # its registry row; None: a fresh install's configured model
    model_dir: str  # where its files are ("" for the one shipped in mlcore)
    checksum: str  # SHA-256 of its weights ("" when its config declares none and it is not registered)
    metrics: dict = field(default_factory=dict)
    operating_point: OperatingPoint | None = None
    problem: str = ""  # why the configured model cannot be read (the workers cannot load it either)

    @property
    def version(self) -> str:
        return self.identifier.rpartition(":")[2]

    @property
    def card_figures(self) -> list[tuple[str, float]]:
        return [
            (label, self.metrics[key]) for key, label in CARD_FIGURES if isinstance(self.metrics.get(key), (int, float))
        ]

    @property
    def validation_images(self) -> int | None:
        count = self.metrics.get("n_images")
        return count if isinstance(count, int) else None


def model_served_get() -> ServedModel:
    """The model new predictions are made with, as the workers resolve it."""
    from mlcore.errors import ModelError
    from mlcore.modeldir import METRICS_FILE, SHIPPED_MODEL_DIR

    configured_dir = settings.SKINCLINIC_MODEL_DIR or ""
    try:
        identifier = inference.model_version()
    except ModelError as exc:
        return ServedModel(identifier="", registered=None, model_dir=configured_dir, checksum="", problem=str(exc))
    registered = ModelVersion.objects.filter(identifier=identifier).first()
    config = model_config_get(identifier) or {}
    if registered is not None:
        return ServedModel(
            identifier=identifier,
            registered=registered,
            model_dir=registered.model_dir,
            checksum=registered.checksum,
            metrics=registered.metrics,
            operating_point=OperatingPoint.from_config(registered.config or config),
        )
    metrics_path = Path(configured_dir or SHIPPED_MODEL_DIR) / METRICS_FILE
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        metrics = {}  # the card's figures are shown when readable; the model itself loads from its config
    return ServedModel(
        identifier=identifier,
        registered=None,
        model_dir=configured_dir,
        checksum=str(config.get("weights_sha256") or ""),
        metrics=metrics,
        operating_point=OperatingPoint.from_config(config),
    )
