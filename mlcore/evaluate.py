"""Evaluation of a model directory on a dataset: metrics.json and plots."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from .classifier import Classifier
from .data import Arrays, load_arrays, read_dataset
from .errors import DataError
from .metrics import compute_metrics
from .operating_point import operating_point
from .plots import write_plots


def evaluate(
    data: Path,
    out: Path,
    model_dir: Path | None = None,
    split: str | None = None,
    show_progress: bool = True,
    classifier: Classifier | None = None,
) -> dict:
    """Evaluate on every readable image of `data` (or one split) and write OUT/metrics.json and plots."""
    dataset = read_dataset(data)
    if split:
        dataset = dataset.split(split)
        if not dataset.records:
            raise DataError(f"{data}: no images in split {split!r}")
    classifier = classifier or Classifier.load(model_dir)
    arrays = load_arrays(dataset, classifier.image_size, "loading images", show_progress)
    return evaluate_arrays(classifier, arrays, out, data=str(data), split=split)


def evaluate_arrays(classifier: Classifier, arrays: Arrays, out: Path, **extra) -> dict:
    """Metrics of preprocessed arrays, written to OUT/metrics.json with the plots."""
    probs, reasons = classifier.analyse(arrays.images, arrays.meta)
    # Classification figures count every image, refused or not: the gate must not buy accuracy.
    metrics = compute_metrics(arrays.labels, probs)
    metrics.update(model_version=classifier.version, model_sha256=classifier.checksum, skipped=arrays.problems, **extra)
    metrics["assessable_rate"] = float(np.mean([not r for r in reasons])) if classifier.gate else None
    metrics["refused_by_reason"] = dict(Counter(r["code"] for rs in reasons for r in rs))
    metrics["operating_point"] = (
        operating_point(
            arrays.labels,
            probs,
            classifier.referral_threshold,
            groups=[r.lesion_id or r.image_id for r in arrays.records],
        )
        if classifier.referral_threshold is not None
        else None
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_plots(arrays.labels, probs, metrics, out)
    return metrics
