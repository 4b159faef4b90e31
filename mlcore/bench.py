"""Inference benchmark: single-image latency, batch throughput and peak memory of a serving process."""

from __future__ import annotations

import io
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import Classifier
from .preprocess import LesionInput

SHARED_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "ham10000" / "images"


def _sample_images(count: int) -> list[bytes]:
    """Real HAM10000 JPEGs when present, else synthetic 600x450 JPEGs (the original camera size)."""
    if SHARED_IMAGES.is_dir():
        paths = sorted(SHARED_IMAGES.glob("*.jpg"))[:count]
        if len(paths) == count:
            return [p.read_bytes() for p in paths]
    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (450, 600, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bench(
    model_dir: Path | None = None,
    single_runs: int = 200,
    batch_size: int = 64,
    batch_runs: int = 5,
    heatmap_runs: int = 20,
    views: int | None = None,
) -> dict:
    classifier = Classifier.load(model_dir)
    if views:  # what another choice of test-time views would cost
        classifier.tta_views = views
    images = [LesionInput(image=b, age=50.0, sex="female", site="back") for b in _sample_images(batch_size)]
    for item in images[:5]:  # warm up graph tracing for both batch shapes
        classifier.predict([item])
    classifier.predict(images)

    latencies = []
    for i in range(single_runs):
        start = time.perf_counter()
        classifier.predict([images[i % len(images)]])
        latencies.append((time.perf_counter() - start) * 1000)
    throughputs = []
    cpu_before = _cpu_seconds()
    for _ in range(batch_runs):
        start = time.perf_counter()
        classifier.predict(images)
        throughputs.append(len(images) / (time.perf_counter() - start))
    # CPU time (all threads) moves less than wall time when other work shares the cores.
    batch_cpu_ms = (_cpu_seconds() - cpu_before) * 1000 / (batch_runs * len(images))
    heatmap_ms = []
    for i in range(heatmap_runs):
        start = time.perf_counter()
        classifier.predict([images[i % len(images)]], heatmap=True)
        heatmap_ms.append((time.perf_counter() - start) * 1000)
    return {
        "model_version": classifier.version,
        "tta_views": classifier.tta_views,
        "single_image_latency_ms": {
            "p50": statistics.median(latencies),
            "p95": float(np.percentile(latencies, 95)),
            "runs": single_runs,
        },
        "batch_throughput_images_per_s": {
            "median": statistics.median(throughputs),
            "batch_size": batch_size,
            "runs": batch_runs,
        },
        "batch_cpu_ms_per_image": batch_cpu_ms,
        "single_image_with_heatmap_ms": {"p50": statistics.median(heatmap_ms), "runs": heatmap_runs},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "includes": "decode + preprocess + model + the gate (+ Grad-CAM where stated), warm",
    }
