"""The classifier the app and the CLI use: load a model directory once, predict batches."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import softmax
from .explain import overlay_png
from .gate import EmbeddingGate, assess
from .labels import CLASSES, MALIGNANT_CLASSES
from .model import Architecture, input_hw
from .modeldir import SHIPPED_MODEL_DIR, WEIGHTS_FILE, member_dirs, read_config, weights_checksum
from .preprocess import LesionInput, encode_metadata, load_image, preprocess_image

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
    heatmap_class: str | None = None  # the class whose evidence the heatmap shows
    embedding: np.ndarray | None = None  # the pooled embedding (of the image as given): for similar cases

    def as_dict(self) -> dict:
        return {
            "probabilities": self.probabilities,
            "top_class": self.top_class,
            "top_probability": self.top_probability,
            "malignancy_risk": self.malignancy_risk,
            "entropy": self.entropy,
            "model_version": self.model_version,
            "assessable": self.assessable,
            "reasons": self.reasons,
            "refer": self.refer,
            "referral_threshold": self.referral_threshold,
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

    def __init__(self, model_dir: Path, config: dict, keras_models: list, gate: EmbeddingGate | None = None):
        self.model_dir = Path(model_dir)
        self.config = config
        self.image_size = Architecture.from_dict(config["architecture"]).image_size
        height, width = input_hw(self.image_size)
        self.max_views = 8 if height == width else 4
        self.temperature = float(config.get("temperature", 1.0))
        # Test-time augmentation: 1 (off), 2 or 4 (flips) or 8 (flips and quarter turns, square inputs) views.
        self.tta_views = int(config.get("tta_views", 1))
        self.version = f"{config['name']}:{config['version']}"
        self.checksum = config.get("weights_sha256") or weights_checksum(model_dir)
        # The sensitivity-first referral threshold chosen on val (None for models without one, 1.x).
        point = config.get("operating_point") or {}
        self.referral_threshold: float | None = point.get("threshold")
        self.gate = gate
        self._models = keras_models
        self._lock = threading.Lock()
        # The compiled tf.function of _forward, traced on first use: (images, meta) -> (logits, pooled) tensors.
        self._forward_fn: Callable[[Any, Any], tuple[Any, Any]] | None = None

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> Classifier:
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
        return cls(model_dir, config, models, gate=EmbeddingGate.load(model_dir))

    @property
    def keras_model(self):
        """The network of a single model (not an ensemble)."""
        [model] = self._models
        return model

    def _forward(self, images: np.ndarray, meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, pooled embedding) of one batch; an ensemble averages its members' logits (one
        temperature calibrates the average) and gives the first member's embedding."""
        import keras
        import tensorflow as tf

        if self._forward_fn is None:
            first = self._models[0]
            embedder = keras.Model(first.inputs, [first.output, first.get_layer("pool").output])
            others = self._models[1:]

            @tf.function(reduce_retracing=True)
            def fn(x, m):
                logits, pooled = embedder({"image": x, "meta": m}, training=False)
                for model in others:
                    logits = logits + model({"image": x, "meta": m}, training=False)
                return logits / len(self._models), pooled

            self._forward_fn = fn
        logits, pooled = self._forward_fn(tf.constant(images), tf.constant(meta))
        return logits.numpy(), pooled.numpy()

    def outputs(self, images: np.ndarray, meta: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated logits for preprocessed arrays (averaged over the test-time views), and each
        image's embedding (of the image as given, the view the gate was fitted on)."""
        logits, embeddings = [], []
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size]
            m = meta[start : start + batch_size]
            views = _dihedral_views(x, self.tta_views) if self.tta_views > 1 else [x]
            z, e = self._forward(np.ascontiguousarray(np.concatenate(views)), np.concatenate([m] * len(views)))
            logits.append(z.reshape(len(views), len(x), -1).mean(axis=0))
            embeddings.append(e[: len(x)])
        if not logits:
            return np.zeros((0, len(CLASSES)), dtype=np.float32), np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(logits), np.concatenate(embeddings)

    def logits(self, images: np.ndarray, meta: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Uncalibrated logits for preprocessed arrays, averaged over flips when the model uses TTA."""
        return self.outputs(images, meta, batch_size)[0]

    def probabilities(self, images: np.ndarray, meta: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (rows sum to 1) for preprocessed arrays."""
        with self._lock:
            return softmax(self.logits(images, meta), self.temperature)

    def analyse(self, images: np.ndarray, meta: np.ndarray, source_sizes=None) -> tuple[np.ndarray, list[list[dict]]]:
        """Calibrated probabilities and, per image, the gate's reasons it cannot be assessed (empty: it can;
        always empty for a model without a gate)."""
        probs, reasons, _ = self._analyse(images, meta, source_sizes)
        return probs, reasons

    def _analyse(self, images: np.ndarray, meta: np.ndarray, source_sizes=None):
        with self._lock:
            logits, embeddings = self.outputs(images, meta)
        probs = softmax(logits, self.temperature)
        if self.gate is None:
            return probs, [[] for _ in range(len(images))], embeddings
        return probs, assess(images, source_sizes, self.gate.distances(embeddings), self.gate.threshold), embeddings

    def prepare(self, items: Sequence[LesionInput]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """(images, metadata, source photo sizes) of a batch, through the one preprocessing path."""
        images, metas, sizes = [], [], []
        for item in items:
            source = load_image(item.image)
            sizes.append(source.size)
            images.append(preprocess_image(source, self.image_size))
            metas.append(encode_metadata(item.age, item.sex, item.site))
        return np.stack(images), np.stack(metas), sizes

    def results(self, probs: np.ndarray, reasons: Sequence[list[dict]] | None = None) -> list[PredictionResult]:
        results = []
        for i, row in enumerate(probs):
            top = int(row.argmax())
            risk = float(row[_MALIGNANT_IDX].sum())
            refused = reasons[i] if reasons is not None else []
            assessable = not refused if self.gate is not None else None
            # An image the model may not judge gets no referral advice either way.
            refer = (
                risk >= self.referral_threshold
                if self.referral_threshold is not None and assessable is not False
                else None
            )
            results.append(
                PredictionResult(
                    probabilities={c: float(p) for c, p in zip(CLASSES, row)},
                    top_class=CLASSES[top],
                    top_probability=float(row[top]),
                    malignancy_risk=risk,
                    entropy=float(-(row * np.log(np.clip(row, 1e-12, 1))).sum()),
                    model_version=self.version,
                    assessable=assessable,
                    reasons=list(refused),
                    refer=refer,
                    referral_threshold=self.referral_threshold,
                )
            )
        return results

    def predict(
        self, items: Sequence[LesionInput], heatmap: bool = False, heatmap_classes: Sequence[str | None] | None = None
    ) -> list[PredictionResult]:
        """Classify a batch. Raises ImageError naming the first unreadable image.

        With `heatmap`, each result carries the Grad-CAM map of `heatmap_classes[i]` (default: its top class).
        """
        if not items:
            return []
        images, meta, sizes = self.prepare(items)
        probs, reasons, embeddings = self._analyse(images, meta, sizes)
        results = self.results(probs, reasons)
        for result, embedding in zip(results, embeddings):
            result.embedding = embedding  # from the same forward pass: similar cases cost no second one
        if heatmap:
            wanted = [c or r.top_class for c, r in zip(heatmap_classes or [None] * len(results), results)]
            cams = self.heatmaps(images, wanted)
            for result, image, cam, name in zip(results, images, cams, wanted):
                result.heatmap = cam
                result.heatmap_class = name
                result.heatmap_png = overlay_png(image, cam)
        return results

    def heatmaps(self, images: np.ndarray, classes: Sequence[str]) -> np.ndarray:
        """Grad-CAM maps in [0, 1] (n, H, W) of preprocessed images, each for the class named."""
        from .explain import grad_cam

        with self._lock:
            indices = [CLASSES.index(c) for c in classes]
            cams = np.mean([grad_cam(model, images, indices) for model in self._models], axis=0)
        peak = cams.max(axis=(1, 2), keepdims=True)
        return np.where(peak > 0, cams / np.maximum(peak, 1e-12), 0).astype(np.float32)
