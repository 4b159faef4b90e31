"""Datasets and a tiny model made by the tests themselves (no HAM10000 needed)."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.labels import CLASSES
from mlcore.model import Architecture

# Each class gets its own lesion colour so that even a one-epoch model learns something.
_COLOURS = [(120, 60, 40), (200, 120, 140), (150, 110, 60), (110, 80, 90), (40, 30, 30), (90, 60, 40), (180, 30, 50)]
TINY_ARCH = Architecture(image_size=32, stem_width=8, widths=(8, 16, 16, 16), blocks=(1, 1, 1, 1), meta_width=8)


def lesion_image(class_index: int, seed: int, size=(200, 150), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    radius = min(width, height) * rng.uniform(0.2, 0.35)
    inside = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < radius**2
    pixels = np.full((height, width, 3), (225, 180, 160), dtype=np.float64)
    pixels[inside] = _COLOURS[class_index]
    pixels += rng.normal(0, 12, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.convert(mode) if mode != "RGB" else image


def jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **kwargs)
    return buffer.getvalue()


def write_dataset(root: Path, per_class: int = 8, with_split: bool = True) -> Path:
    """A HAM10000-layout directory: two images per lesion, train/val split by lesion."""
    (root / "images").mkdir(parents=True)
    rows = []
    for k, dx in enumerate(CLASSES):
        for i in range(per_class):
            lesion = f"HAM_{k}{i // 2:03d}"
            image_id = f"ISIC_{k}{i:04d}"
            split = "val" if (i // 2) % 4 == 3 else "train"
            image = lesion_image(k, seed=k * 1000 + i)
            if i == 1:  # some PNGs and greyscale images, as users bring them
                image.save(root / "images" / f"{image_id}.png")
            else:
                (root / "images" / f"{image_id}.jpg").write_bytes(jpeg_bytes(image))
            rows.append(
                {
                    "lesion_id": lesion,
                    "image_id": image_id,
                    "dx": dx,
                    "dx_type": "histo",
                    "age": str(30 + i * 5) if i != 2 else "",
                    "sex": ["male", "female"][i % 2],
                    "localization": ["back", "face", "trunk", "unknown"][i % 4],
                    "split": split,
                }
            )
    fields = list(rows[0]) if with_split else [f for f in rows[0] if f != "split"]
    with (root / "metadata.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture
def dataset_dir(tmp_path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A real model trained for one epoch on a synthetic dataset: exercises the whole train path."""
    from mlcore.train import TrainOptions, train

    root = tmp_path_factory.mktemp("tiny")
    data = write_dataset(root / "data")
    out = root / "model"
    train(
        TrainOptions(
            data=data,
            out=out,
            epochs=1,
            batch_size=16,
            image_size=32,
            architecture=TINY_ARCH,
            mixed_precision=False,
            show_progress=False,
            version="0.0.1-test",
        ),
        log=lambda _: None,
    )
    return out
