"""A straightforward TensorFlow (``tf.nn``) implementation of musicnn's MSD model.

It follows musicnn 0.1.0's ``models.py`` (``build_musicnn`` with ``frontend``,
``timbral_block``, ``tempo_block``, ``midend`` and ``backend``) line by line, in inference
mode, with ``tf.nn``/``tf`` ops in place of ``tf.compat.v1.layers``: the same padding
calls, ``conv2d`` with the checkpoint's own ``(height, width, in, out)`` kernels,
batch normalisation with ``tf.compat.v1.layers``' default ``epsilon=1e-3``, max pooling
over the whole frequency axis, transposes and residual sums.  It is deliberately
naive, so it can serve as

* the independent oracle the package's NumPy network is tested against
  (``tests/test_musicnn_network.py``), and
* the reference of ``benchmarks/embed_speed.py``.

Variables are looked up by their checkpoint names (``conv2d/kernel``,
``batch_normalization_3/gamma``, ...) in creation order, exactly as
``tf.compat.v1.layers`` named them, from any mapping: the shipped ``.npz`` or a
``tf.compat.v1.train.NewCheckpointReader``'s tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

#: ``tf.compat.v1.layers.batch_normalization``'s default.
EPSILON = 1e-3


class _Names:
    """Hands out ``tf.compat.v1.layers`` default names in creation order."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        return kind if n == 0 else f"{kind}_{n}"


def forward(weights: Mapping[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """musicnn's outputs for a batch of log-mel patches ``x`` of shape (batch, 187, 96).

    Returns a dict of NumPy arrays: ``taggram`` (batch, 50), ``penultimate`` (batch,
    200), ``mean_pool`` and ``max_pool`` (batch, 753), ``timbral`` (batch, 187, 408),
    ``temporal`` (batch, 187, 153), ``cnn1``, ``cnn2``, ``cnn3`` (batch, 187, 64).
    """
    names = _Names()
    w = {k: tf.constant(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}

    def batch_norm(t):
        name = names("batch_normalization")
        return tf.nn.batch_normalization(
            t,
            mean=w[f"{name}/moving_mean"],
            variance=w[f"{name}/moving_variance"],
            offset=w[f"{name}/beta"],
            scale=w[f"{name}/gamma"],
            variance_epsilon=EPSILON,
        )

    def conv2d(t, padding):
        name = names("conv2d")
        out = tf.nn.conv2d(t, w[f"{name}/kernel"], strides=1, padding=padding)
        return tf.nn.relu(tf.nn.bias_add(out, w[f"{name}/bias"]))

    def dense(t, activation=None):
        name = names("dense")
        out = tf.matmul(t, w[f"{name}/kernel"]) + w[f"{name}/bias"]
        return out if activation is None else activation(out)

    def pool_frequency(t):
        return tf.squeeze(
            tf.nn.max_pool2d(t, ksize=[1, t.shape[2]], strides=[1, t.shape[2]], padding="VALID"),
            [2],
        )

    x = tf.constant(np.asarray(x, dtype=np.float32))
    # ---- front-end (musicnn's frontend, type '7774timbraltemporal', num_filt=1.6)
    normalized = batch_norm(tf.expand_dims(x, 3))
    pad_7 = tf.pad(normalized, [[0, 0], [3, 3], [0, 0], [0, 0]], "CONSTANT")
    f74 = pool_frequency(batch_norm(conv2d(pad_7, "VALID")))  # kernel [7, 38], 204 filters
    f77 = pool_frequency(batch_norm(conv2d(pad_7, "VALID")))  # kernel [7, 67], 204 filters
    s1 = pool_frequency(batch_norm(conv2d(normalized, "SAME")))  # kernel [128, 1], 51
    s2 = pool_frequency(batch_norm(conv2d(normalized, "SAME")))  # kernel [64, 1], 51
    s3 = pool_frequency(batch_norm(conv2d(normalized, "SAME")))  # kernel [32, 1], 51
    frontend = tf.concat([f74, f77, s1, s2, s3], 2)

    # ---- mid-end
    front = tf.expand_dims(frontend, 3)
    conv1 = batch_norm(conv2d(tf.pad(front, [[0, 0], [3, 3], [0, 0], [0, 0]]), "VALID"))
    cnn1 = tf.transpose(conv1, [0, 1, 3, 2])
    conv2 = batch_norm(conv2d(tf.pad(cnn1, [[0, 0], [3, 3], [0, 0], [0, 0]]), "VALID"))
    cnn2 = tf.add(tf.transpose(conv2, [0, 1, 3, 2]), cnn1)
    conv3 = batch_norm(conv2d(tf.pad(cnn2, [[0, 0], [3, 3], [0, 0], [0, 0]]), "VALID"))
    cnn3 = tf.add(tf.transpose(conv3, [0, 1, 3, 2]), cnn2)
    midend = tf.concat([front, cnn1, cnn2, cnn3], 2)

    # ---- back-end (globalpool_dense)
    max_pool = tf.reduce_max(midend, axis=1)
    mean_pool, _ = tf.nn.moments(midend, axes=[1])
    flat = tf.reshape(tf.concat([max_pool, mean_pool], 2), [tf.shape(x)[0], -1])
    penultimate = batch_norm(dense(batch_norm(flat), tf.nn.relu))
    logits = dense(penultimate)

    outputs = {
        "taggram": tf.nn.sigmoid(logits),
        "penultimate": penultimate,
        "mean_pool": tf.squeeze(mean_pool, [2]),
        "max_pool": tf.squeeze(max_pool, [2]),
        "timbral": tf.concat([f74, f77], 2),
        "temporal": tf.concat([s1, s2, s3], 2),
        "cnn1": tf.squeeze(cnn1, [3]),
        "cnn2": tf.squeeze(cnn2, [3]),
        "cnn3": tf.squeeze(cnn3, [3]),
    }
    return {key: value.numpy() for key, value in outputs.items()}


def load_checkpoint_weights(checkpoint_folder: str) -> dict[str, np.ndarray]:
    """The model variables of an unpacked ``MSD_musicnn/`` checkpoint folder."""
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_folder.rstrip("/") + "/")
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if "Adam" not in name and name not in ("beta1_power", "beta2_power")
    }
