"""The lesion classifier network: a convolutional backbone on the image, joined with the metadata.

Two backbones: "efficientnet_lite0" (ImageNet-pretrained, models 2.x) and "resnet" (a small residual CNN
trained from scratch, models 1.x, still loadable so a registry can serve and compare them).

Weights are saved alone and the graph is rebuilt from the architecture recorded in the model's
config.json, so a model trained under mixed precision can be served in float32.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .labels import CLASSES
from .preprocess import META_FEATURES

ImageSize = int | tuple[int, int]  # a square side, or (height, width)


def input_hw(size: ImageSize) -> tuple[int, int]:
    """(height, width) of a model input size."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@dataclass(frozen=True)
class Architecture:
    image_size: ImageSize = 96
    backbone: str = "resnet"
    trainable_from_block: int = 0  # efficientnet_lite0: stem and blocks before this stay frozen
    stem_width: int = 24
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    meta_features: int = META_FEATURES
    meta_width: int = 32
    dropout: float = 0.3
    n_classes: int = len(CLASSES)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        data = dict(data)
        if isinstance(data.get("image_size"), (list, tuple)):
            data["image_size"] = tuple(int(v) for v in data["image_size"])
        data["widths"] = tuple(data["widths"])
        data["blocks"] = tuple(data["blocks"])
        return cls(**data)


# The name Grad-CAM looks for: the last convolutional feature map.
LAST_CONV_LAYER = "features"


def _residual_block(x, filters: int, stride: int, name: str):
    from keras import layers

    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build_model(arch: Architecture):
    """Build the network: inputs {"image": uint8 HxWx3, "meta": float vector}, output class logits."""
    import keras
    from keras import layers

    height, width = input_hw(arch.image_size)
    image = keras.Input((height, width, 3), dtype="uint8", name="image")
    meta = keras.Input((arch.meta_features,), dtype="float32", name="meta")
    if arch.backbone == "efficientnet_lite0":
        from .efficientnet import backbone, normalise

        x = backbone(normalise(image), head_name=LAST_CONV_LAYER, trainable_from_block=arch.trainable_from_block)
    elif arch.backbone == "resnet":
        x = _resnet(image, arch)
    else:
        raise ValueError(f"unknown backbone {arch.backbone!r}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)

    m = layers.Dense(arch.meta_width, activation="relu", name="meta_dense")(meta)
    x = layers.Concatenate(name="join")([x, m])
    x = layers.Dropout(arch.dropout, name="dropout")(x)
    # Logits stay float32 under mixed precision so the softmax and calibration are exact.
    logits = layers.Dense(arch.n_classes, dtype="float32", name="logits")(x)
    return keras.Model({"image": image, "meta": meta}, logits, name="lesion_cnn")


def _resnet(image, arch: Architecture):
    from keras import layers

    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(image)
    x = layers.Conv2D(arch.stem_width, 3, padding="same", use_bias=False, name="stem_conv1")(x)
    x = layers.BatchNormalization(name="stem_bn1")(x)
    x = layers.ReLU(name="stem_relu1")(x)
    x = layers.Conv2D(arch.stem_width, 3, strides=2, padding="same", use_bias=False, name="stem_conv2")(x)
    x = layers.BatchNormalization(name="stem_bn2")(x)
    x = layers.ReLU(name="stem_relu2")(x)
    for stage, (width, count) in enumerate(zip(arch.widths, arch.blocks)):
        for index in range(count):
            stride = 2 if index == 0 and stage > 0 else 1
            x = _residual_block(x, width, stride, name=f"s{stage}b{index}")
    return layers.Activation("linear", name=LAST_CONV_LAYER)(x)
