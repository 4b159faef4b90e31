"""Training-time augmentation (tf.data): dermoscopy has no canonical orientation, and colour varies by device."""

from __future__ import annotations

import tensorflow as tf


def augment_image(image: tf.Tensor, size) -> tf.Tensor:
    """Random flips, rotation, scale crop and colour jitter of one uint8 image; returns uint8.

    `size` is a square side (quarter turns keep the shape) or (height, width) (a free rotation with
    reflected borders: dermoscopy has no canonical orientation).
    """
    height, width = (size, size) if isinstance(size, int) else size
    x = tf.cast(image, tf.float32)
    x = tf.image.random_flip_left_right(x)
    x = tf.image.random_flip_up_down(x)
    if height == width:
        x = tf.image.rot90(x, tf.random.uniform([], 0, 4, dtype=tf.int32))
    else:
        x = _rotate(x, tf.random.uniform([], -0.5, 0.5) * 3.14159265)
    scale = tf.random.uniform([], 0.75, 1.0)
    crop = tf.cast(tf.round(tf.stack([height * scale, width * scale])), tf.int32)
    x = tf.image.random_crop(x, tf.concat([crop, [3]], axis=0))
    x = tf.image.resize(x, (height, width), method="bilinear")
    x = tf.image.random_brightness(x, 0.12 * 255.0)
    x = tf.image.random_contrast(x, 0.8, 1.2)
    x = tf.image.random_saturation(x, 0.8, 1.2)
    x = tf.image.random_hue(x / 255.0, 0.04) * 255.0
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def _rotate(x: tf.Tensor, angle: tf.Tensor) -> tf.Tensor:
    """Rotate an HxWx3 float image about its centre, reflecting at the borders."""
    h = tf.cast(tf.shape(x)[0], tf.float32)
    w = tf.cast(tf.shape(x)[1], tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # The projective transform maps output pixel (x, y) to the input pixel it samples.
    cx, cy = (w - 1) / 2, (h - 1) / 2
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None],
        transforms=transform[None],
        output_shape=tf.shape(x)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )[0]


def drop_metadata(meta: tf.Tensor, rate: float) -> tf.Tensor:
    """Blank age, sex and site independently so the model also serves cases with missing metadata."""
    keep_age = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    keep_sex = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    keep_site = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    mask = tf.concat(
        [
            tf.fill([2], keep_age),
            tf.fill([2], keep_sex),
            tf.fill([tf.shape(meta)[0] - 4], keep_site),
        ],
        axis=0,
    )
    return meta * mask


def training_dataset(images, meta, labels, weights, size, batch_size: int, meta_dropout: float, seed: int):
    ds = tf.data.Dataset.from_tensor_slices(((images, meta), labels, weights))
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)

    def _map(inputs, label, weight):
        image, m = inputs
        return {"image": augment_image(image, size), "meta": drop_metadata(m, meta_dropout)}, label, weight

    return ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
