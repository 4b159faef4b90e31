"""The app's one doorway to mlcore's model: a classifier loaded once per process, and its version.

TensorFlow is imported only when `classifier_get()` first runs, which a Celery worker does in each pool
process after the fork (never in the parent, never in the web process).
"""
from __future__ import annotations

import functools
import logging
import os
import threading

from django.conf import settings

logger = logging.getLogger(__name__)

_classifier = None
_resolved: str | None = None  # the version model_version() last returned in this process
_lock = threading.Lock()


def classifier_get(version: str | None = None):
    """The process's classifier (mlcore.Classifier) for a model version, loaded on first use.

    `version` None means the version this process last resolved with `model_version()` (a task claims
    predictions for that version and then asks for the classifier: both must agree even if another
    version is activated in between), or else the active one. Asking for another version than the
    loaded one replaces it: a worker holds one model at a time.
    """
    global _classifier
    version = version or _resolved or model_version()
    if _classifier is None or _classifier.version != version:
        with _lock:
            if _classifier is None or _classifier.version != version:
                from mlcore import Classifier, ModelError

                classifier = Classifier.load(_model_dir_of(version))
                if classifier.version != version:
                    raise ModelError(f"{_model_dir_of(version)} holds {classifier.version}, not {version}")
                _classifier = classifier
    return _classifier


def classifier_warm_up() -> None:
    """Load the model and trace its graph once, so the first real task is not the slow one."""
    from PIL import Image
    from mlcore import LesionInput

    classifier = classifier_get()
    classifier.predict([LesionInput(image=Image.new("RGB", (64, 64), (180, 120, 100)))], heatmap=True)
    logger.info("model %s loaded in worker process %d", classifier.version, os.getpid())


def model_version() -> str:
    """The version ("name:version") new predictions are made with: the active one in the model registry,
    or, while the registry is empty, the configured model (MODEL_DIR, else the one shipped in mlcore).

    Read without loading TensorFlow. Must equal `Classifier.version`; tests/predictions/integration checks it.
    """
    global _resolved
    from .models import ModelVersion

    active = ModelVersion.objects.filter(is_active=True).values_list("identifier", flat=True).first()
    _resolved = active or _configured_version(settings.SKINCLINIC_MODEL_DIR)
    return _resolved


def _model_dir_of(version: str):
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    from .models import ModelVersion

    registered = ModelVersion.objects.filter(identifier=version).values_list("model_dir", flat=True).first()
    if registered is not None:
        return registered or SHIPPED_MODEL_DIR
    if version == _configured_version(settings.SKINCLINIC_MODEL_DIR):
        return settings.SKINCLINIC_MODEL_DIR or SHIPPED_MODEL_DIR
    from mlcore import ModelError

    raise ModelError(f"model version {version} is neither registered nor the configured model")


@functools.cache
def _configured_version(model_dir: str | None) -> str:
    from mlcore.modeldir import SHIPPED_MODEL_DIR, read_config

    config = read_config(model_dir or SHIPPED_MODEL_DIR)
    return f'{config["name"]}:{config["version"]}'
