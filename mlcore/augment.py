"""Training-time augmentation (tf.data): dermoscopy has no canonical orientation, and colour varies by device."""
from __future__ import annotations

import tensorflow as tf


def augment_image(image: tf.Tensor, size: int) -> tf.Tensor:
    """Random dihedral transform, scale crop and colour jitter of one uint8 image; returns uint8."""
    x = tf.cast(image, tf.float32)
    x = tf.image.random_flip_left_right(x)
    x = tf.image.random_flip_up_down(x)
    x = tf.image.rot90(x, tf.random.uniform([], 0, 4, dtype=tf.int32))
    crop = tf.cast(tf.round(size * tf.random.uniform([], 0.75, 1.0)), tf.int32)
    x = tf.image.random_crop(x, tf.stack([crop, crop, 3]))
    x = tf.image.resize(x, (size, size), method="bilinear")
    x = tf.image.random_brightness(x, 0.12 * 255.0)
    x = tf.image.random_contrast(x, 0.8, 1.2)
    x = tf.image.random_saturation(x, 0.8, 1.2)
    x = tf.image.random_hue(x / 255.0, 0.04) * 255.0
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def drop_metadata(meta: tf.Tensor, rate: float) -> tf.Tensor:
    """Blank age, sex and site independently so the model also serves cases with missing metadata."""
    keep_age = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    keep_sex = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    keep_site = tf.cast(tf.random.uniform([]) >= rate, tf.float32)
    mask = tf.concat([
        tf.fill([2], keep_age), tf.fill([2], keep_sex), tf.fill([tf.shape(meta)[0] - 4], keep_site),
    ], axis=0)
    return meta * mask


def training_dataset(images, meta, labels, weights, size: int, batch_size: int, meta_dropout: float, seed: int):
    ds = tf.data.Dataset.from_tensor_slices(((images, meta), labels, weights))
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)

    def _map(inputs, label, weight):
        image, m = inputs
        return {"image": augment_image(image, size), "meta": drop_metadata(m, meta_dropout)}, label, weight

    return ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
