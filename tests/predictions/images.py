"""Image files made by the tests: good ones, damaged ones and hostile ones."""

import io
import struct
import zlib

import numpy as np
from PIL import Image


def lesion_picture(size=(120, 90), colour=(120, 70, 50), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    inside = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (min(size) * 0.3) ** 2
    pixels = np.full((height, width, 3), (225, 180, 160), dtype=np.float64)
    pixels[inside] = colour
    pixels += rng.normal(0, 10, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def jpeg_bytes(seed=0, size=(120, 90), **kwargs) -> bytes:
    return encode(lesion_picture(size=size, seed=seed), "JPEG", quality=90, **kwargs)


def jpeg_with_exif(orientation: int = 6, seed=0, size=(120, 90)) -> bytes:
    """A JPEG carrying identifying EXIF (a name and GPS) and a rotation flag, as phones write them."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation: 6 = rotate 90° clockwise to display
    exif[0x013B] = "Jane Patient"  # Artist
    exif[0x010E] = "MRN 12345 left shoulder"  # ImageDescription
    return encode(lesion_picture(size=size, seed=seed), "JPEG", quality=90, exif=exif.tobytes())


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(size=(400, 300))
    return data[: len(data) // 2]


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small PNG whose header declares a huge image (400 megapixels of zeros compress to little)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * width  # filter byte + one greyscale byte per pixel
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()  # only the first rows
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
