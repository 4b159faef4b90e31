"""The classifier the app and the CLI use: load a model directory once, predict batches."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .calibration import softmax
from .labels import CLASSES, MALIGNANT_CLASSES
from .modeldir import SHIPPED_MODEL_DIR, WEIGHTS_FILE, member_dirs, read_config, weights_checksum
from .model import Architecture, input_hw
from .preprocess import LesionInput, prepare

_MALIGNANT_IDX = [CLASSES.index(c) for c in MALIGNANT_CLASSES]


@dataclass
class PredictionResult:
    probabilities: dict[str, float]
    top_class: str
    top_probability: float
    malignancy_risk: float
    entropy: float  # in nats; log(7) ~ 1.95 is total uncertainty
    model_version: str
    # The gate: False when the image is not one the model may judge; reasons say why ({code, message}).
    assessable: bool | None = None  # None: the model has no gate (1.x)
    reasons: list[dict] = field(default_factory=list)
    # The model's sensitivity-first operating point; None for a model that has none (1.x).
    refer: bool | None = None
    referral_threshold: float | None = None
    heatmap: np.ndarray | None = None  # float32 HxW in [0, 1], the size of the model input
    heatmap_png: bytes | None = None  # the heatmap over the preprocessed image

    def as_dict(self) -> dict:
        return {
            "probabilities": self.probabilities, "top_class": self.top_class,
            "top_probability": self.top_probability, "malignancy_risk": self.malignancy_risk,
            "entropy": self.entropy, "model_version": self.model_version,
            "assessable": self.assessable, "reasons": self.reasons,
            "refer": self.refer, "referral_threshold": self.referral_threshold,
        }


def _configure_threads() -> None:
    # A worker process on a small machine should not spawn a thread pool per core per op pool.
    import tensorflow as tf

    threads = int(os.environ.get("MLCORE_THREADS", "0"))
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised in this process
            pass


def _dihedral_views(x: np.ndarray, count: int) -> list[np.ndarray]:
    """The first `count` of the 8 symmetries of the square (dermoscopy has no canonical orientation);
    the last 4 (transposed) only exist for square inputs."""
    flips = [x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1]]
    transposed = [v.transpose(0, 2, 1, 3) for v in flips]
    return (flips + transposed)[:count]


class Classifier:
    """A loaded model. Create one per process (after fork); `predict` is safe to call from one thread at a time."""

    def __init__(self, model_dir: Path, config: dict, keras_models: list):
        self.model_dir = Path(model_dir)
        self.config = config
        self.image_size = Architecture.from_dict(config["architecture"]).image_size
        height, width = input_hw(self.image_size)
        self.max_views = 8 if height == width else 4
        self.temperature = float(config.get("temperature", 1.0))
        # Test-time augmentation: 1 (off), 4 (flips) or 8 (all flips and 90-degree rotations) views.
        self.tta_views = int(config.get("tta_views", 1))
        self.version = f'{config["name"]}:{config["version"]}'
        self.checksum = config.get("weights_sha256") or weights_checksum(model_dir)
        self._models = keras_models
        self._lock = threading.Lock()
        self._logits_fn = None

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> "Classifier":
        """Load a model directory (default: the shipped model). Raises ModelError if it is not one."""
        from .model import build_model

        model_dir = Path(model_dir) if model_dir else SHIPPED_MODEL_DIR
        config = read_config(model_dir)
        _configure_threads()
        import keras

        keras.mixed_precision.set_global_policy("float32")
        models = []
        for directory in member_dirs(model_dir, config):
            member_config = config if directory == Path(model_dir) else read_config(directory)
            model = build_model(Architecture.from_dict(member_config["architecture"]))
            model.load_weights(directory / WEIGHTS_FILE)
            models.append(model)
        return cls(model_dir, config, models)

    @property
    def keras_model(self):
        """The network of a single model (not an ensemble)."""
        [model] = self._models
        return model

    def _raw_logits(self, images: np.ndarray, meta: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self._logits_fn is None:
            models = self._models

            @tf.function(reduce_retracing=True)
            def fn(x, m):
                # An ensemble averages its members' logits; one temperature calibrates the average.
                return tf.add_n([model({"image": x, "meta": m}, training=False) for model in models]) / len(models)

            self._logits_fn = fn
        return self._logits_fn(tf.constant(images), tf.constant(meta)).numpy()

    def logits(self, images: np.ndarray, meta: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Uncalibrated logits for preprocessed arrays, averaged over flips when the model uses TTA."""
        out = []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            m = meta[start:start + batch_size]
            if self.tta_views > 1:
                views = _dihedral_views(x, self.tta_views)
                z = self._raw_logits(np.ascontiguousarray(np.concatenate(views)), np.concatenate([m] * len(views)))
                out.append(z.reshape(len(views), len(x), -1).mean(axis=0))
            else:
                out.append(self._raw_logits(x, m))
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), dtype=np.float32)

    def probabilities(self, images: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (rows sum to 1) for preprocessed arrays."""
        with self._lock:
            return softmax(self.logits(images, meta), self.temperature)

    def prepare(self, items: Sequence[LesionInput]) -> tuple[np.ndarray, np.ndarray]:
        prepared = [prepare(item, self.image_size) for item in items]
        return (np.stack([p[0] for p in prepared]), np.stack([p[1] for p in prepared]))

    def results(self, probs: np.ndarray) -> list[PredictionResult]:
        results = []
        for row in probs:
            top = int(row.argmax())
            results.append(PredictionResult(
                probabilities={c: float(p) for c, p in zip(CLASSES, row)},
                top_class=CLASSES[top], top_probability=float(row[top]),
                malignancy_risk=float(row[_MALIGNANT_IDX].sum()),
                entropy=float(-(row * np.log(np.clip(row, 1e-12, 1))).sum()),
                model_version=self.version,
            ))
        return results

    def predict(self, items: Sequence[LesionInput], heatmap: bool = False) -> list[PredictionResult]:
        """Classify a batch. Raises ImageError naming the first unreadable image."""
        if not items:
            return []
        images, meta = self.prepare(items)
        results = self.results(self.probabilities(images, meta))
        if heatmap:
            from .explain import grad_cam, overlay_png

            with self._lock:
                classes = [CLASSES.index(r.top_class) for r in results]
                cams = np.mean([grad_cam(model, images, classes) for model in self._models], axis=0)
                peak = cams.max(axis=(1, 2), keepdims=True)
                cams = np.where(peak > 0, cams / np.maximum(peak, 1e-12), 0).astype(np.float32)
            for result, image, cam in zip(results, images, cams):
                result.heatmap = cam
                result.heatmap_png = overlay_png(image, cam)
        return results
