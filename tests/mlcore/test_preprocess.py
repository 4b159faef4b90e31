import io

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import ImageError
from mlcore.preprocess import META_FEATURES, encode_metadata, load_image, preprocess_image

from .conftest import jpeg_bytes, lesion_image


def test_jpeg_bytes_path_and_pil_image_load_to_the_same_rgb_pixels(tmp_path):
    data = jpeg_bytes(lesion_image(4, seed=1))
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    from_bytes = np.asarray(load_image(data))
    assert from_bytes.shape == (150, 200, 3)
    assert np.array_equal(from_bytes, np.asarray(load_image(path)))
    assert np.array_equal(from_bytes, np.asarray(load_image(Image.open(io.BytesIO(data)))))


def test_greyscale_and_transparent_images_become_rgb():
    grey = lesion_image(0, seed=2, mode="L")
    assert load_image(grey).mode == "RGB"
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    # Fully transparent pixels composite over white rather than turning black.
    assert load_image(rgba).getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    image = lesion_image(1, seed=3, size=(200, 150))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright picture is portrait
    upright = load_image(jpeg_bytes(image, exif=exif.tobytes()))
    assert upright.size == (150, 200)


@pytest.mark.parametrize("payload", [b"", b"not an image at all", jpeg_bytes(lesion_image(2, seed=4))[:400]])
def test_unreadable_bytes_raise_image_error(payload):
    with pytest.raises(ImageError):
        load_image(payload)


def test_missing_file_raises_image_error_naming_it(tmp_path):
    with pytest.raises(ImageError, match="nope.jpg"):
        load_image(tmp_path / "nope.jpg")


@pytest.mark.parametrize("size", [(600, 450), (450, 600), (200, 150), (97, 96)])
def test_preprocess_gives_a_centre_square_of_the_requested_size(size):
    array = preprocess_image(lesion_image(3, seed=5, size=size), 96)
    assert array.shape == (96, 96, 3) and array.dtype == np.uint8


def test_preprocess_keeps_the_centre():
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (100, 0, 200, 100))  # the central square is red, the sides blue
    array = preprocess_image(image, 16)
    assert (array[..., 0] > 200).all() and (array[..., 2] < 50).all()


def test_metadata_encoding_and_missing_values():
    assert encode_metadata(None, None, None).tolist() == [0.0] * META_FEATURES
    assert encode_metadata(float("nan"), "unknown", "unknown").tolist() == [0.0] * META_FEATURES
    vector = encode_metadata(50, "female", "back")
    assert vector[0] == pytest.approx(0.5) and vector[1] == 1.0
    assert vector.sum() == pytest.approx(0.5 + 1 + 1 + 1)
    assert not np.array_equal(encode_metadata(50, "male", "back"), vector)


@pytest.mark.parametrize("size", [(600, 450), (450, 600), (200, 150), (1000, 300), (97, 96)])
def test_preprocess_to_height_and_width_gives_that_shape(size):
    array = preprocess_image(lesion_image(3, seed=5, size=size), (96, 128))
    assert array.shape == (96, 128, 3) and array.dtype == np.uint8


def test_a_portrait_photo_is_turned_to_landscape_keeping_the_whole_lesion():
    image = Image.new("RGB", (150, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 150, 100))  # top half red
    array = preprocess_image(image, (150, 200))
    # Turned a quarter: the top half is now the left or right half, and nothing was cropped away.
    halves = array[:, :100, 0].mean(), array[:, 100:, 0].mean()
    assert max(halves) > 200 and min(halves) < 50
