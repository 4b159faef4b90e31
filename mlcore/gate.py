"""The gate: which images the model may judge ("assessable") and, for the others, why not.

Two kinds of check, both on what the model sees:
- image quality, from the pixels of the preprocessed input and the source photo's size (too small, too
  dark, burnt out, no detail, out of focus), with fixed limits set well outside what val's dermoscopic
  images show (README's gate section has their val distribution);
- likeness to the training data: the Mahalanobis distance of the network's pooled embedding from the
  training images' embeddings (a Gaussian with Ledoit-Wolf shrinkage; Lee et al., NeurIPS 2018), refused
  above a threshold chosen on val. This is what refuses documents, objects, people, noise and screenshots.
A refused image still gets its probabilities: the gate never hides what the model computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GATE_FILE = "gate.npz"

# Quality limits (on 0-255 luminance of the model input). Val's dermoscopic images lie far inside them.
MIN_SOURCE_SIDE = 64  # pixels on the short side of the uploaded photo
MIN_MEAN_LUMINANCE = 25.0
MAX_MEAN_LUMINANCE = 235.0
MAX_CLIPPED_FRACTION = 0.5  # share of pixels at pure black (<= 5) or pure white (>= 250)
MIN_LUMINANCE_STD = 4.0
MIN_SHARPNESS = 1.2  # mean |Laplacian| of the luminance at about a 128 px short side

MESSAGES = {
    "too_small": "The photo is too small ({width}x{height} pixels); the model needs at least "
    f"{MIN_SOURCE_SIDE} pixels on its short side.",
    "too_dark": "The image is too dark to judge.",
    "overexposed": "The image is burnt out (overexposed).",
    "no_detail": "The image shows no detail (a uniform colour).",
    "out_of_focus": "The image is out of focus.",
    "not_dermoscopic": "This does not look like a dermoscopic image of a skin lesion (it is unlike every "
    "image the model was trained on).",
}


def _luminance(image: np.ndarray) -> np.ndarray:
    rgb = image.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def quality_measures(image: np.ndarray) -> dict[str, float]:
    """Brightness, clipping, contrast and sharpness of one preprocessed uint8 image (H x W x 3)."""
    y = _luminance(image)
    step = max(1, round(min(y.shape) / 128))  # sharpness at a fixed scale, whatever the model's input size
    small = y[::step, ::step]
    laplacian = small[1:-1, :-2] + small[1:-1, 2:] + small[:-2, 1:-1] + small[2:, 1:-1] - 4 * small[1:-1, 1:-1]
    return {
        "mean_luminance": float(y.mean()),
        "clipped_fraction": float(((y <= 5) | (y >= 250)).mean()),
        "luminance_std": float(y.std()),
        "sharpness": float(np.abs(laplacian).mean()),
    }


def quality_reasons(image: np.ndarray, source_size: tuple[int, int] | None) -> list[dict]:
    """The quality checks an image fails, as [{code, message}] (empty when it passes)."""
    reasons = []
    if source_size and min(source_size) < MIN_SOURCE_SIDE:
        width, height = source_size
        reasons.append(("too_small", {"width": width, "height": height}))
    m = quality_measures(image)
    if m["mean_luminance"] < MIN_MEAN_LUMINANCE:
        reasons.append(("too_dark", {}))
    elif m["mean_luminance"] > MAX_MEAN_LUMINANCE:
        reasons.append(("overexposed", {}))
    elif m["clipped_fraction"] > MAX_CLIPPED_FRACTION:
        y = _luminance(image)
        reasons.append(("too_dark", {}) if (y <= 5).mean() > (y >= 250).mean() else ("overexposed", {}))
    if m["luminance_std"] < MIN_LUMINANCE_STD:
        reasons.append(("no_detail", {}))
    elif m["sharpness"] < MIN_SHARPNESS:
        reasons.append(("out_of_focus", {}))
    return [{"code": code, "message": MESSAGES[code].format(**values)} for code, values in reasons]


@dataclass
class EmbeddingGate:
    """A Gaussian fitted to the training images' embeddings, and the distance above which an image is refused."""

    mean: np.ndarray
    precision: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, train_embeddings: np.ndarray, val_embeddings: np.ndarray, val_quantile: float) -> EmbeddingGate:
        """Fit on train; the threshold is the distance that `val_quantile` of val's images stay below."""
        from sklearn.covariance import LedoitWolf

        estimate = LedoitWolf().fit(np.asarray(train_embeddings, dtype=np.float64))
        gate = cls(estimate.location_.astype(np.float32), estimate.precision_.astype(np.float32), np.inf)
        gate.threshold = float(np.quantile(gate.distances(val_embeddings), val_quantile))
        return gate

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        centred = np.asarray(embeddings, dtype=np.float32) - self.mean
        # (x P) . x row by row: a BLAS product, where a three-operand einsum loops in plain C.
        return np.sqrt(np.maximum(((centred @ self.precision) * centred).sum(axis=1), 0.0))

    def save(self, model_dir: str | Path) -> None:
        np.savez(
            Path(model_dir) / GATE_FILE, mean=self.mean, precision=self.precision, threshold=np.float64(self.threshold)
        )

    @classmethod
    def load(cls, model_dir: str | Path) -> EmbeddingGate | None:
        """The model's gate, or None for a model without one (1.x)."""
        path = Path(model_dir) / GATE_FILE
        if not path.is_file():
            return None
        with np.load(path) as data:
            return cls(data["mean"], data["precision"], float(data["threshold"]))


def assess(images: np.ndarray, source_sizes, distances: np.ndarray | None, threshold: float | None) -> list[list[dict]]:
    """The reasons each image cannot be assessed (an empty list: it can)."""
    out = []
    for i, image in enumerate(images):
        reasons = quality_reasons(image, source_sizes[i] if source_sizes is not None else None)
        if distances is not None and threshold is not None and distances[i] > threshold:
            reasons.append({"code": "not_dermoscopic", "message": MESSAGES["not_dermoscopic"]})
        out.append(reasons)
    return out
