"""Grad-CAM: where in the image the network's evidence for a class lies."""

from __future__ import annotations

import io
import weakref
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .model import LAST_CONV_LAYER

# Keyed by the model itself, weakly: a model loaded after another was freed may reuse its id().
_feature_fns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _feature_fn(model):
    """The image input to the last conv feature map as a compiled graph (an eager Keras call costs ~10x as
    much on a CPU); built once per Keras model."""
    if model not in _feature_fns:
        import keras
        import tensorflow as tf

        features = keras.Model(model.get_layer("image").output, model.get_layer(LAST_CONV_LAYER).output)
        _feature_fns[model] = tf.function(lambda x: features(x, training=False), reduce_retracing=True)
    return _feature_fns[model]


def grad_cam(model, images: np.ndarray, class_indices: Sequence[int]) -> np.ndarray:
    """Heatmaps in [0, 1], one per preprocessed image (n, H, W), for the given classes.

    The head is global average pooling followed by one linear layer, so Grad-CAM's channel weights
    (the spatial mean of d logit / d feature) are exactly that layer's weights divided by H*W:
    the map is computed in closed form, without a gradient tape.
    """
    import tensorflow as tf

    features = np.asarray(_feature_fn(model)(tf.constant(images)), dtype=np.float32)
    kernel = np.asarray(model.get_layer("logits").kernel, dtype=np.float32)[: features.shape[-1]]
    cams = np.maximum(np.einsum("nhwk,kn->nhw", features, kernel[:, list(class_indices)]), 0)
    size = (images.shape[2], images.shape[1])
    out = np.zeros(images.shape[:3], dtype=np.float32)
    for i, cam in enumerate(cams):
        if cam.max() > 0:
            cam = cam / cam.max()
        resized = Image.fromarray(cam.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
        out[i] = np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
    return out


def _colormap(cam: np.ndarray) -> np.ndarray:
    """A jet-like blue->red palette without importing matplotlib on the serving path."""
    r = np.clip(1.5 - np.abs(4 * cam - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * cam - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * cam - 1), 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def _display_size(picture: Image.Image, longest: int) -> tuple[int, int]:
    """The picture's size scaled so its longer side is `longest` (the aspect ratio of the model input kept)."""
    scale = longest / max(picture.size)
    return round(picture.width * scale), round(picture.height * scale)


def overlay_png(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45, size: int | None = 384) -> bytes:
    """PNG bytes of the heatmap blended over the (preprocessed) image, upscaled (longer side `size`) for display."""
    base = image.astype(np.float32)
    heat = _colormap(cam).astype(np.float32)
    # Let weak activations show the lesion untouched; strong ones colour it.
    weight = (alpha * np.clip(cam * 1.5, 0, 1))[..., None]
    blended = (base * (1 - weight) + heat * weight).astype(np.uint8)
    picture = Image.fromarray(blended)
    if size:
        picture = picture.resize(_display_size(picture, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # level 6 takes ~4x the time for ~20% less
    return buffer.getvalue()


def heatmap_png(cam: np.ndarray, size: int | None = 384) -> bytes:
    """PNG bytes of the heatmap alone (RGBA, transparent where there is no evidence), for overlays in a UI."""
    rgba = np.concatenate([_colormap(cam), (np.clip(cam * 1.5, 0, 1) * 255).astype(np.uint8)[..., None]], axis=-1)
    picture = Image.fromarray(rgba, mode="RGBA")
    if size:
        picture = picture.resize(_display_size(picture, size), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # level 6 takes ~4x the time for ~20% less
    return buffer.getvalue()
