"""The app's one doorway to mlcore's model: a classifier loaded once per process, and its version.

TensorFlow is imported only when `classifier_get()` first runs, which a Celery worker does in each pool
process after the fork (never in the parent, never in the web process).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_classifier = None
_lock = threading.Lock()


def classifier_get(version: str | None = None):
    """The process's classifier (mlcore.Classifier) for a model version, loaded on first use.

    `version` None means the active one; a task that claimed predictions for a version passes that version,
    so that both agree even if another version is activated in between. Asking for another version than
    the loaded one replaces it: a worker holds one model at a time.
    """
    global _classifier
    version = version or model_version()
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
    from .models import ModelVersion

    active = ModelVersion.objects.active().values_list("identifier", flat=True).first()
    return active or _configured_version(settings.SKINCLINIC_MODEL_DIR)


def configured_model_dir() -> Path:
    """The model directory MODEL_DIR names, else the one shipped in mlcore (what runs while the registry is empty)."""
    from mlcore.modeldir import SHIPPED_MODEL_DIR

    return Path(settings.SKINCLINIC_MODEL_DIR) if settings.SKINCLINIC_MODEL_DIR else SHIPPED_MODEL_DIR


def _model_dir_of(version: str) -> Path:
    from .models import ModelVersion

    registered = ModelVersion.objects.filter(identifier=version).only("model_dir").first()
    if registered is not None:
        return registered.files_dir
    if version == _configured_version(settings.SKINCLINIC_MODEL_DIR):
        return configured_model_dir()
    from mlcore import ModelError

    raise ModelError(f"model version {version} is neither registered nor the configured model")


@functools.cache
def _configured_version(model_dir: str | None) -> str:
    from mlcore.modeldir import SHIPPED_MODEL_DIR, read_config

    config = read_config(model_dir or SHIPPED_MODEL_DIR)
    return f"{config['name']}:{config['version']}"
