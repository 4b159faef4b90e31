"""A small real classifier for the task paths, so those tests need no TensorFlow.

It honours mlcore's Classifier interface: `version`, and `predict(items, heatmap, heatmap_classes)` returning
mlcore.PredictionResult objects, raising mlcore.ImageError for an unreadable image.
"""

import io

import numpy as np
from PIL import Image

from mlcore import CLASSES, MALIGNANT_CLASSES, LesionInput, PredictionResult, load_image


class ColourClassifier:
    """Probabilities from the image's mean colour and the metadata: deterministic, and different per image."""

    version = "test-colour:1.0"

    def __init__(self):
        self.batches: list[int] = []  # sizes of the batches classified
        self.heatmap_batches: list[int] = []  # sizes of the batches explained

    def predict(
        self, items: list[LesionInput], heatmap: bool = False, heatmap_classes: list[str | None] | None = None
    ) -> list[PredictionResult]:
        (self.heatmap_batches if heatmap else self.batches).append(len(items))
        images = [np.asarray(load_image(item.image).resize((16, 16)), dtype=np.float64) for item in items]
        results = []
        for item, pixels, wanted in zip(items, images, heatmap_classes or [None] * len(items)):
            logits = np.array([pixels[..., k % 3].mean() / 40.0 + k * 0.1 for k in range(len(CLASSES))])
            logits[0] += (item.age or 0) / 100.0
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            top = int(probabilities.argmax())
            result = PredictionResult(
                probabilities={c: float(p) for c, p in zip(CLASSES, probabilities)},
                top_class=CLASSES[top],
                top_probability=float(probabilities[top]),
                malignancy_risk=float(sum(probabilities[CLASSES.index(c)] for c in MALIGNANT_CLASSES)),
                entropy=float(-(probabilities * np.log(probabilities)).sum()),
                model_version=self.version,
            )
            if heatmap:
                result.heatmap = np.full((16, 16), 0.5, dtype=np.float32)
                buffer = io.BytesIO()
                Image.new("RGB", (16, 16), (255, 0, 0)).save(buffer, "PNG")
                result.heatmap_png = buffer.getvalue()
                result.heatmap_class = wanted or result.top_class
            results.append(result)
        return results
