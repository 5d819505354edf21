"""The seed's three genre networks as uncompiled Keras models.

Each builder returns a fresh ``keras.Sequential`` for one MFCC segment.  With
the defaults and ``input_shape=(130, 13)`` (``(130, 13, 1)`` for the CNN) and
10 genres they are layer for layer the networks of the seed notes, with
1,014,218 (MLP), 298,186 (CNN) and 57,802 (LSTM) parameters.

The classifiers in :mod:`sk_audio_genre.classifiers` call these builders and
compile the result; use the builders directly to inspect or reuse a network.

Importing this module imports Keras (and so TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import _tensorflow  # noqa: F401  (first: imports TensorFlow quietly)

import keras  # noqa: E402
from keras import layers

__all__ = [
    "build_cnn",
    "build_lstm",
    "build_mlp",
    "cnn_weight_shapes",
    "lstm_weight_shapes",
    "mlp_weight_shapes",
]


def build_mlp(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    hidden_layer_sizes: Sequence[int] = (512, 256, 64),
    dropout: float = 0.0,
) -> keras.Sequential:
    """The seed's multi-layer perceptron.

    ``Flatten`` -> ``Dense(512, relu)`` -> ``Dense(256, relu)`` ->
    ``Dense(64, relu)`` -> ``Dense(n_classes, softmax)``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one segment, ``(n_frames, n_mfcc)``; the seed's is ``(130, 13)``.
    n_classes : int
        Number of output units (genres).
    hidden_layer_sizes : sequence of int, default=(512, 256, 64)
        Units of the hidden ReLU layers.
    dropout : float, default=0.0
        Dropout rate after each hidden layer; 0 adds no Dropout layer (the seed
        has none).

    Returns
    -------
    model : keras.Sequential
        Uncompiled model mapping ``(batch, *input_shape)`` to class probabilities.

    Examples
    --------
    >>> from sk_audio_genre.networks import build_mlp
    >>> build_mlp((130, 13), 10).count_params()
    1014218
    """
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=tuple(input_shape)))
    model.add(layers.Flatten())
    for units in hidden_layer_sizes:
        model.add(layers.Dense(units, activation="relu"))
        if dropout:
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


def build_cnn(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    dense_units: int = 64,
    dropout: float = 0.1,
    batch_norm: bool = False,
    conv_padding: str = "valid",
) -> keras.Sequential:
    """The seed's convolutional network.

    ``Conv2D(32, 3x3)`` -> ``MaxPool(3x3, stride 2, same)`` -> ``Conv2D(64, 3x3)``
    -> ``MaxPool(3x3, stride 2, same)`` -> ``Conv2D(128, 2x2)`` -> ``Flatten`` ->
    ``Dense(64, relu)`` -> ``Dropout(0.1)`` -> ``Dense(n_classes, softmax)``.
    The last kernel is 2x2 because, on 13 MFCCs, the feature map is only 2
    coefficients wide by then (13 -> 11 -> 6 -> 4 -> 2).

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one segment with a channel axis, ``(n_frames, n_mfcc, 1)``.
    n_classes : int
        Number of output units (genres).
    filters : sequence of int, default=(32, 64, 128)
        Filters of the three convolutions.
    dense_units : int, default=64
        Units of the ReLU layer after ``Flatten``.
    dropout : float, default=0.1
        Dropout rate before the output layer.
    batch_norm : bool, default=False
        Add ``BatchNormalization(momentum=0.9)`` after each convolution (not in
        the seed).
    conv_padding : {"valid", "same"}, default="valid"
        Padding of the convolutions.  The seed uses ``"valid"``, which needs
        segments of at least 14 frames by 11 coefficients; ``"same"`` accepts
        any segment size.

    Returns
    -------
    model : keras.Sequential
        Uncompiled model mapping ``(batch, *input_shape)`` to class probabilities.

    Examples
    --------
    >>> from sk_audio_genre.networks import build_cnn
    >>> build_cnn((130, 13, 1), 10).count_params()
    298186
    """
    kernels = ((3, 3), (3, 3), (2, 2))
    if len(filters) != len(kernels):
        raise ValueError(f"filters must have {len(kernels)} entries, got {tuple(filters)!r}.")
    model = keras.Sequential(name="cnn")
    model.add(keras.Input(shape=tuple(input_shape)))
    for index, (n_filters, kernel) in enumerate(zip(filters, kernels)):
        model.add(layers.Conv2D(n_filters, kernel, activation="relu", padding=conv_padding))
        if batch_norm:
            # Keras' default momentum (0.99) leaves the moving variance near its
            # initial 1.0 after the few hundred steps a GTZAN-sized training set
            # gives, so inference-mode outputs would be wrong; 0.9 converges in time.
            model.add(layers.BatchNormalization(momentum=0.9))
        if index < len(kernels) - 1:
            model.add(layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same"))
    model.add(layers.Flatten())
    model.add(layers.Dense(dense_units, activation="relu"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


def build_lstm(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    lstm_units: Sequence[int] = (64, 64),
    dense_units: int = 64,
    dropout: float = 0.3,
) -> keras.Sequential:
    """The seed's recurrent network: two stacked LSTMs over the frames.

    ``LSTM(64, return_sequences=True)`` -> ``LSTM(64)`` -> ``Dense(64, relu)`` ->
    ``Dropout(0.3)`` -> ``Dense(n_classes, softmax)``.  Each frame's MFCC
    vector is one time step: ``h_t = f(x_t W_xh + h_{t-1} W_hh + b)`` with the
    same weights at every step.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one segment, ``(n_frames, n_mfcc)``.
    n_classes : int
        Number of output units (genres).
    lstm_units : sequence of int, default=(64, 64)
        Units of the stacked LSTM layers; all but the last return sequences.
    dense_units : int, default=64
        Units of the ReLU layer after the last LSTM.
    dropout : float, default=0.3
        Dropout rate before the output layer.

    Returns
    -------
    model : keras.Sequential
        Uncompiled model mapping ``(batch, *input_shape)`` to class probabilities.

    Examples
    --------
    >>> from sk_audio_genre.networks import build_lstm
    >>> build_lstm((130, 13), 10).count_params()
    57802
    """
    if not lstm_units:
        raise ValueError("lstm_units must name at least one LSTM layer.")
    model = keras.Sequential(name="lstm")
    model.add(keras.Input(shape=tuple(input_shape)))
    for index, units in enumerate(lstm_units):
        model.add(layers.LSTM(units, return_sequences=index < len(lstm_units) - 1))
    model.add(layers.Dense(dense_units, activation="relu"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax"))
    return model


# The shapes of each network's weights, computed without building it: a saved model's
# weights file is checked against them before any layer allocates memory.


def mlp_weight_shapes(
    input_shape: Sequence[int], n_classes: int, *,
    hidden_layer_sizes: Sequence[int] = (512, 256, 64), dropout: float = 0.0,
) -> list[tuple[int, ...]]:  # fmt: skip
    """Kernel and bias shapes of :func:`build_mlp`'s network, in layer order.

    >>> sum(math.prod(s) for s in mlp_weight_shapes((130, 13), 10))
    1014218
    """
    shapes, width = [], math.prod(input_shape)
    for units in [*hidden_layer_sizes, n_classes]:
        shapes += [(width, units), (units,)]
        width = units
    return shapes


def cnn_weight_shapes(
    input_shape: Sequence[int], n_classes: int, *, filters: Sequence[int] = (32, 64, 128),
    dense_units: int = 64, dropout: float = 0.1, batch_norm: bool = False,
    conv_padding: str = "valid",
) -> list[tuple[int, ...]]:  # fmt: skip
    """Weight shapes of :func:`build_cnn`'s network, in layer order.

    >>> sum(math.prod(s) for s in cnn_weight_shapes((130, 13, 1), 10))
    298186
    """
    kernels = ((3, 3), (3, 3), (2, 2))
    height, width, channels = input_shape
    shapes = []
    for index, (n_filters, kernel) in enumerate(zip(filters, kernels, strict=True)):
        shapes += [(*kernel, channels, n_filters), (n_filters,)]
        if batch_norm:
            shapes += [(n_filters,)] * 4
        if conv_padding == "valid":
            height, width = height - kernel[0] + 1, width - kernel[1] + 1
        if index < len(kernels) - 1:  # 3x3 max pooling, stride 2, "same"
            height, width = -(-height // 2), -(-width // 2)
        channels = n_filters
    flat = height * width * channels
    return shapes + [(flat, dense_units), (dense_units,), (dense_units, n_classes), (n_classes,)]


def lstm_weight_shapes(
    input_shape: Sequence[int], n_classes: int, *, lstm_units: Sequence[int] = (64, 64),
    dense_units: int = 64, dropout: float = 0.3,
) -> list[tuple[int, ...]]:  # fmt: skip
    """Weight shapes of :func:`build_lstm`'s network, in layer order.

    >>> sum(math.prod(s) for s in lstm_weight_shapes((130, 13), 10))
    57802
    """
    shapes, width = [], input_shape[-1]
    for units in lstm_units:
        shapes += [(width, 4 * units), (units, 4 * units), (4 * units,)]
        width = units
    return shapes + [(width, dense_units), (dense_units,), (dense_units, n_classes), (n_classes,)]
