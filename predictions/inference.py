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
_lock = threading.Lock()


def classifier_get():
    """The process's classifier (mlcore.Classifier), loaded on first use."""
    global _classifier
    if _classifier is None:
        with _lock:
            if _classifier is None:
                from mlcore import Classifier

                _classifier = Classifier.load(settings.SKINCLINIC_MODEL_DIR)
    return _classifier


def classifier_warm_up() -> None:
    """Load the model and trace its graph once, so the first real task is not the slow one."""
    from PIL import Image
    from mlcore import LesionInput

    classifier = classifier_get()
    classifier.predict([LesionInput(image=Image.new("RGB", (64, 64), (180, 120, 100)))], heatmap=True)
    logger.info("model %s loaded in worker process %d", classifier.version, os.getpid())


@functools.cache
def model_version() -> str:
    """The version of the configured model, read from its config without loading TensorFlow.

    Must equal `Classifier.version` (name:version); tests/predictions/integration checks that it does.
    """
    from mlcore.modeldir import SHIPPED_MODEL_DIR, read_config

    config = read_config(settings.SKINCLINIC_MODEL_DIR or SHIPPED_MODEL_DIR)
    return f'{config["name"]}:{config["version"]}'
