"""The one preprocessing path shared by training, evaluation and serving.

Images become square uint8 RGB arrays; scaling to floats happens inside the Keras model,
so nothing outside this module decides how pixels are prepared.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .labels import SEXES, SITES

ImageSource = bytes | bytearray | str | os.PathLike | Image.Image

# Refuse absurd pixel counts before decoding (decompression bombs); a dermatoscope frame is far below.
MAX_PIXELS = 80_000_000

# Known sites get a one-hot slot; "unknown" or missing is all zeros.
_KNOWN_SITES = tuple(s for s in SITES if s != "unknown")
_KNOWN_SEXES = tuple(s for s in SEXES if s != "unknown")
META_FEATURES = 2 + len(_KNOWN_SEXES) + len(_KNOWN_SITES)


@dataclass(frozen=True)
class LesionInput:
    """One image to classify with the metadata the model may use (each may be None)."""

    image: ImageSource
    age: float | None = None
    sex: str | None = None
    site: str | None = None


def load_image(source: ImageSource) -> Image.Image:
    """Open bytes, a path or a PIL image as an upright RGB image, or raise ImageError."""
    if isinstance(source, Image.Image):
        image = source
        name = "image"
    else:
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "uploaded image"
        try:
            fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
        except OSError as exc:
            raise ImageError(f"{name}: cannot open ({exc.strerror or exc})") from exc
        try:
            with fp:
                image = Image.open(fp)
                if image.width * image.height > MAX_PIXELS:
                    raise ImageError(f"{name}: {image.width}x{image.height} pixels is too large")
                image.load()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
            raise ImageError(f"{name}: not a readable image ({exc})") from exc
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not make an otherwise good image unreadable
        pass
    if image.mode in ("RGBA", "LA", "P"):
        # Composite transparency over white instead of letting it turn black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def preprocess_image(image: Image.Image, size: int | tuple[int, int]) -> np.ndarray:
    """The model's input: uint8 RGB of `size` (a square side, or (height, width)).

    Dermoscopic lesions are centred, so the frame is centre-cropped to the input's shape; a portrait photo
    is turned a quarter to landscape first (dermoscopy has no canonical orientation), so a 3:4 phone photo
    keeps as much of the lesion as a 4:3 one.
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if (image.width < image.height) != (width < height) and image.width != image.height and width != height:
        image = image.transpose(Image.Transpose.ROTATE_90)
    # The largest centred crop of the input's aspect ratio.
    crop_w = min(image.width, round(image.height * width / height))
    crop_h = min(image.height, round(image.width * height / width))
    left = (image.width - crop_w) // 2
    top = (image.height - crop_h) // 2
    crop = image.crop((left, top, left + crop_w, top + crop_h))
    resized = crop.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized, dtype=np.uint8)


def encode_metadata(age: float | None, sex: str | None, site: str | None) -> np.ndarray:
    """Encode age, sex and site as a fixed float vector; missing values have their own encoding."""
    vector = np.zeros(META_FEATURES, dtype=np.float32)
    if age is not None and not (isinstance(age, float) and math.isnan(age)):
        vector[0] = float(np.clip(age, 0, 100)) / 100.0
        vector[1] = 1.0  # age is known
    sex = (sex or "").strip().lower()
    if sex in _KNOWN_SEXES:
        vector[2 + _KNOWN_SEXES.index(sex)] = 1.0
    site = (site or "").strip().lower()
    if site in _KNOWN_SITES:
        vector[2 + len(_KNOWN_SEXES) + _KNOWN_SITES.index(site)] = 1.0
    return vector
