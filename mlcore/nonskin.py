"""A set of images the model must refuse to judge, to measure the gate: things that are not skin, and
dermoscopic images made unusable. Everything is generated here or read from photos that installed
packages ship (scikit-learn's and matplotlib's sample photos; scikit-image's when it is installed), so the
set is the same on every machine and needs no download.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE = (600, 450)  # the original HAM10000 frame size, as a user's file would be

_WORDS = (
    "patient referral letter dermatology clinic appointment invoice total amount date signature "
    "report history findings plan follow-up phone address insurance number page of the and with"
).split()


def _solid(rng) -> Image.Image:
    rgb = tuple(int(v) for v in rng.integers(0, 256, 3))
    return Image.new("RGB", SIZE, rgb)


def _skin_tone(rng) -> Image.Image:
    # A flat patch of skin colour: skin, but nothing to judge.
    h, s, v = rng.uniform(0.02, 0.08), rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.95)
    return Image.new("RGB", SIZE, tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v)))


def _noise(rng) -> Image.Image:
    kind = rng.integers(0, 3)
    if kind == 0:
        pixels = rng.integers(0, 256, (SIZE[1], SIZE[0], 3))
    elif kind == 1:
        pixels = rng.normal(rng.uniform(60, 200), rng.uniform(20, 70), (SIZE[1], SIZE[0], 3))
    else:  # coarse blocky noise, upscaled
        small = rng.integers(0, 256, (SIZE[1] // 25, SIZE[0] // 25, 3)).astype(np.uint8)
        return Image.fromarray(small).resize(SIZE, Image.Resampling.NEAREST)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _pattern(rng) -> Image.Image:
    yy, xx = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    kind = rng.integers(0, 3)
    a, b = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    if kind == 0:  # checkerboard
        cell = int(rng.integers(10, 80))
        mask = ((xx // cell) + (yy // cell)) % 2 == 0
    elif kind == 1:  # stripes at an angle
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 60)
        mask = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0
    else:  # a smooth gradient
        t = (xx / SIZE[0] * rng.uniform(0.2, 1) + yy / SIZE[1] * rng.uniform(0, 1)) / 2
        pixels = np.array(a)[None, None] * (1 - t[..., None]) + np.array(b)[None, None] * t[..., None]
        return Image.fromarray(pixels.astype(np.uint8))
    pixels = np.where(mask[..., None], np.array(a)[None, None], np.array(b)[None, None])
    return Image.fromarray(pixels.astype(np.uint8))


def _document(rng) -> Image.Image:
    page = Image.new("RGB", SIZE, (250, 250, 245) if rng.random() < 0.7 else (255, 255, 255))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=int(rng.integers(12, 22)))
    y = int(rng.integers(10, 40))
    while y < SIZE[1] - 20:
        words = " ".join(rng.choice(_WORDS, int(rng.integers(3, 12))))
        draw.text((int(rng.integers(15, 40)), y), words.capitalize(), fill=(20, 20, 30), font=font)
        y += int(rng.integers(18, 34))
    return page


def _screenshot(rng) -> Image.Image:
    shot = Image.new("RGB", SIZE, tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, SIZE[0], 40), fill=tuple(int(v) for v in rng.integers(20, 120, 3)))
    font = ImageFont.load_default(size=16)
    draw.text((12, 10), "SkinClinic - Patients", fill=(255, 255, 255), font=font)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = int(rng.integers(10, SIZE[0] - 200)), int(rng.integers(50, SIZE[1] - 60))
        draw.rectangle(
            (x0, y0, x0 + int(rng.integers(80, 190)), y0 + int(rng.integers(25, 50))),
            fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
            outline=(90, 90, 90),
        )
        draw.text((x0 + 8, y0 + 6), " ".join(rng.choice(_WORDS, 2)), fill=(10, 10, 10), font=font)
    return shot


def sample_photos() -> list[tuple[str, Image.Image]]:
    """Photos of everyday things that installed packages ship (documents, objects, people, animals)."""
    photos = []
    import matplotlib
    import sklearn

    for path in sorted(Path(sklearn.__file__).parent.joinpath("datasets", "images").glob("*.jpg")):
        photos.append((path.stem, Image.open(path).convert("RGB")))
    sample_data = Path(matplotlib.get_data_path()) / "sample_data"
    for name in ("grace_hopper.jpg",):
        if (sample_data / name).is_file():
            photos.append((Path(name).stem, Image.open(sample_data / name).convert("RGB")))
    try:
        import skimage
    except ImportError:
        return photos
    data = Path(skimage.__file__).parent / "data"
    for path in sorted([*data.glob("*.png"), *data.glob("*.jpg")]):
        image = Image.open(path)
        if min(image.size) >= 64:
            photos.append((path.stem, image.convert("RGB")))
    return photos


def _crops(image: Image.Image, rng, count: int) -> Iterator[Image.Image]:
    """The whole photo, then random crops of it (each a new picture for the model)."""
    yield image
    for _ in range(count - 1):
        w, h = image.size
        scale = rng.uniform(0.35, 0.8)
        cw, ch = int(w * scale), int(h * scale)
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        yield image.crop((left, top, left + cw, top + ch))


def not_skin(seed: int = 0, per_kind: int = 20, crops_per_photo: int = 3) -> list[tuple[str, Image.Image]]:
    """(kind, image) pairs of things that are not a dermoscopic photograph."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, Image.Image]] = []
    for kind, make in (
        ("solid colour", _solid),
        ("flat skin tone", _skin_tone),
        ("noise", _noise),
        ("pattern", _pattern),
        ("document", _document),
        ("screenshot", _screenshot),
    ):
        out.extend((kind, make(rng)) for _ in range(per_kind))
    for name, photo in sample_photos():
        out.extend((f"photo: {name}", crop) for crop in _crops(photo, rng, crops_per_photo))
    return out


def unusable(lesions: list[Image.Image], seed: int = 0) -> list[tuple[str, Image.Image]]:
    """(kind, image) pairs of real lesion photos made unusable: black, burnt out, far out of focus, tiny."""
    rng = np.random.default_rng(seed)
    out = []
    for image in lesions:
        out.append(("black", Image.eval(image, lambda v: int(v * rng.uniform(0.02, 0.08)))))
        out.append(("burnt out", Image.eval(image, lambda v: min(255, int(v * 2.2 + 90)))))
        out.append(("out of focus", image.filter(ImageFilter.GaussianBlur(max(image.size) / 40))))
        out.append(("too small", image.resize((48, 36), Image.Resampling.BILINEAR)))
    return out


def gate_figures(classifier, lesion_paths: list[Path], seed: int = 0) -> dict:
    """The gate's refusal rates on the not-skin set and on 20 of `lesion_paths` made unusable, by kind."""
    from collections import Counter, defaultdict

    from .preprocess import LesionInput

    rng = np.random.default_rng(seed)
    chosen = [lesion_paths[i] for i in rng.choice(len(lesion_paths), size=min(20, len(lesion_paths)), replace=False)]
    lesions = [Image.open(p).convert("RGB") for p in chosen]
    sets = {"not_skin": not_skin(seed), "unusable": unusable(lesions, seed)}
    figures: dict = {}
    for name, pairs in sets.items():
        by_kind: dict[str, list[bool]] = defaultdict(list)
        reasons: Counter = Counter()
        for start in range(0, len(pairs), 32):
            batch = pairs[start : start + 32]
            results = classifier.predict([LesionInput(image=image) for _, image in batch])
            for (kind, _), result in zip(batch, results):
                by_kind[kind.split(":")[0]].append(result.assessable is False)
                reasons.update(r["code"] for r in result.reasons)
        flags = [f for kind in by_kind.values() for f in kind]
        figures[name] = {
            "n_images": len(flags),
            "refused_rate": float(np.mean(flags)),
            "by_kind": {k: {"n": len(v), "refused": int(sum(v))} for k, v in by_kind.items()},
            "refused_by_reason": dict(reasons),
        }
    return figures
