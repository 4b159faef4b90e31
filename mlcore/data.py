"""Reading datasets in the HAM10000 layout: DIR/metadata.csv and DIR/images/<image_id>.<ext>."""

from __future__ import annotations

import csv
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, ImageError
from .labels import CLASSES
from .preprocess import LesionInput, encode_metadata, load_image, preprocess_image
from .progress import progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
REQUIRED_COLUMNS = ("image_id", "dx")


@dataclass(frozen=True)
class Record:
    image_id: str
    dx: str
    path: Path
    lesion_id: str | None = None
    age: float | None = None
    sex: str | None = None
    site: str | None = None
    split: str | None = None

    @property
    def label(self) -> int:
        return CLASSES.index(self.dx)

    def as_input(self) -> LesionInput:
        return LesionInput(image=self.path, age=self.age, sex=self.sex, site=self.site)


@dataclass
class Dataset:
    records: list[Record]
    problems: list[str] = field(default_factory=list)  # "image_id: reason", one per skipped row

    def split(self, name: str) -> Dataset:
        return Dataset([r for r in self.records if r.split == name], list(self.problems))

    @property
    def splits(self) -> set[str]:
        return {r.split for r in self.records if r.split}

    def labels(self) -> np.ndarray:
        return np.array([r.label for r in self.records], dtype=np.int64)


def _parse_age(value: str | None) -> float | None:
    try:
        age = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return None if age is None or math.isnan(age) else age


def _find_image(images_dir: Path, image_id: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for candidate in (images_dir / f"{image_id}{ext}", images_dir / f"{image_id}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def read_dataset(directory: str | Path) -> Dataset:
    """Read metadata.csv; rows with an unknown class or a missing image are reported, not fatal."""
    directory = Path(directory)
    metadata = directory / "metadata.csv"
    if not metadata.is_file():
        raise DataError(f"{directory}: no metadata.csv (expected the HAM10000 layout)")
    images_dir = directory / "images"
    if not images_dir.is_dir():
        raise DataError(f"{directory}: no images/ folder")
    with metadata.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{metadata}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    records, problems = [], []
    for row in rows:
        image_id = (row.get("image_id") or "").strip()
        dx = (row.get("dx") or "").strip().lower()
        if dx not in CLASSES:
            problems.append(f"{image_id}: unknown class {dx!r}")
            continue
        path = _find_image(images_dir, image_id)
        if path is None:
            problems.append(f"{image_id}: image file not found")
            continue
        records.append(
            Record(
                image_id=image_id,
                dx=dx,
                path=path,
                lesion_id=(row.get("lesion_id") or "").strip() or None,
                age=_parse_age(row.get("age")),
                sex=(row.get("sex") or "").strip().lower() or None,
                site=(row.get("localization") or "").strip().lower() or None,
                split=(row.get("split") or "").strip().lower() or None,
            )
        )
    if not records:
        raise DataError(f"{directory}: no usable images" + (f" ({problems[0]}, ...)" if problems else ""))
    return Dataset(records, problems)


def split_by_lesion(dataset: Dataset, val_fraction: float = 0.15, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split train/val so that all images of a lesion fall on one side, stratified by class."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in dataset.records:
        groups[record.lesion_id or record.image_id].append(record)
    by_class: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        by_class[members[0].dx].append(key)
    rng = random.Random(seed)
    val_keys: set[str] = set()
    for keys in by_class.values():
        keys.sort()
        rng.shuffle(keys)
        val_keys.update(keys[: max(1, round(len(keys) * val_fraction))] if len(keys) > 1 else [])
    train = [r for r in dataset.records if (r.lesion_id or r.image_id) not in val_keys]
    val = [r for r in dataset.records if (r.lesion_id or r.image_id) in val_keys]
    return Dataset(train, list(dataset.problems)), Dataset(val, list(dataset.problems))


@dataclass
class Arrays:
    images: np.ndarray  # (n, size, size, 3) uint8
    meta: np.ndarray  # (n, META_FEATURES) float32
    labels: np.ndarray  # (n,) int64
    records: list[Record]
    problems: list[str]


def load_arrays(
    dataset: Dataset, size: int | tuple[int, int], desc: str = "loading images", show_progress: bool = True
) -> Arrays:
    """Decode and preprocess every image; unreadable ones are skipped and reported by name."""
    images, metas, kept = [], [], []
    problems = list(dataset.problems)
    for record in progress(dataset.records, desc=desc, enabled=show_progress):
        try:
            images.append(preprocess_image(load_image(record.path), size))
        except ImageError as exc:
            problems.append(f"{record.image_id}: {exc}")
            continue
        metas.append(encode_metadata(record.age, record.sex, record.site))
        kept.append(record)
    if not kept:
        raise DataError("no readable images: " + "; ".join(problems[:3]))
    return Arrays(
        images=np.stack(images),
        meta=np.stack(metas),
        labels=np.array([r.label for r in kept], dtype=np.int64),
        records=kept,
        problems=problems,
    )
