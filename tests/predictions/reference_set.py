"""A small reference set of real HAM10000 training photographs, and its index built with a real model.

Real photographs, because the shipped model's gate refuses drawn lesions as not dermoscopic (and a refused
image gets no similar cases). Copied from ../shared/ham10000 into a temporary folder; never committed.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

HAM10000 = Path(__file__).resolve().parents[2].parent / "shared" / "ham10000"


def reference_set_build(root: Path, classifier, per_class: int = 6) -> tuple[Path, list[dict], Path]:
    """(data directory, its metadata rows, index root): `per_class` training images of each diagnosis and
    the index of them built with `classifier`. Skips the test when HAM10000 is not there."""
    from mlcore.reference import build_index

    if not (HAM10000 / "metadata.csv").is_file():
        pytest.skip("HAM10000 images not present at ../shared/ham10000")
    data = root / "data"
    (data / "images").mkdir(parents=True)
    rows: list[dict] = []
    taken: dict[str, int] = {}
    with (HAM10000 / "metadata.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "train" and taken.get(row["dx"], 0) < per_class:
                taken[row["dx"]] = taken.get(row["dx"], 0) + 1
                shutil.copy(HAM10000 / "images" / f"{row['image_id']}.jpg", data / "images")
                rows.append(row)
    with (data / "metadata.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    build_index(classifier, data, root / "index", show_progress=False)
    return data, rows, root / "index"


def training_image(reference_set, dx: str) -> tuple[str, bytes]:
    """(image id, JPEG bytes) of the first photograph of diagnosis `dx` in the reference set."""
    data, rows, _ = reference_set
    row = next(r for r in rows if r["dx"] == dx)
    return row["image_id"], (data / "images" / f"{row['image_id']}.jpg").read_bytes()
