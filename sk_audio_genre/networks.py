"""The original course's three genre networks, each described once.

Each network is one :class:`Network`: its knobs (default and constraint of each) and a
function from the knobs to a list of layer descriptions.  From that one description come
both the Keras model (:meth:`Network.build`) and the shapes of its weights
(:meth:`Network.weight_shapes`), which bound a network before it is built and check a
saved model's weights before anything is allocated.  The classifiers in
:mod:`sk_audio_genre.classifiers` take their architecture parameters, defaults and
constraints from here; changing a knob means editing its :class:`Network` only.

With the defaults, ``input_shape=(130, 13)`` (``(130, 13, 1)`` for the CNN) and 10 genres
the networks are layer for layer those of the original course's notes, with 1,014,218
(MLP), 298,186 (CNN) and 57,802 (LSTM) parameters.

Importing this module imports Keras (and so TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from . import _tensorflow  # noqa: F401  (first: imports TensorFlow quietly)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: E402

from ._limits import LAYERS_REASON, MAX_LAYER_UNITS, MAX_LAYERS, Bounded  # noqa: E402

__all__ = ["CNN", "LSTM", "MLP", "Network", "build_cnn", "build_lstm", "build_mlp"]

Shape = tuple[int, ...]


# --------------------------------------------------------------------------- layers
# One description per kind of layer: the Keras layer it is, and how it maps an input shape
# (without the batch axis) to its output shape and its weights' shapes, in Keras' order.


@dataclass(frozen=True)
class _Dense:
    units: int
    activation: str

    def keras(self) -> keras.layers.Layer:
        return layers.Dense(self.units, activation=self.activation)

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        return (*shape[:-1], self.units), [(shape[-1], self.units), (self.units,)]


@dataclass(frozen=True)
class _Flatten:
    def keras(self) -> keras.layers.Layer:
        return layers.Flatten()

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        return (math.prod(shape),), []


@dataclass(frozen=True)
class _Dropout:
    rate: float

    def keras(self) -> keras.layers.Layer:
        return layers.Dropout(self.rate)

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        return shape, []


@dataclass(frozen=True)
class _Conv2D:
    filters: int
    kernel: tuple[int, int]
    padding: str

    def keras(self) -> keras.layers.Layer:
        return layers.Conv2D(self.filters, self.kernel, activation="relu", padding=self.padding)

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        height, width, channels = shape
        if self.padding == "valid":
            height, width = height - self.kernel[0] + 1, width - self.kernel[1] + 1
        weights = [(*self.kernel, channels, self.filters), (self.filters,)]
        return (height, width, self.filters), weights

    def smallest_input(self, output: tuple[int, int]) -> tuple[int, int]:
        if self.padding == "same":
            return output
        return output[0] + self.kernel[0] - 1, output[1] + self.kernel[1] - 1


@dataclass(frozen=True)
class _MaxPooling2D:
    """3x3 max pooling with stride 2 and ``"same"`` padding (the course's)."""

    def keras(self) -> keras.layers.Layer:
        return layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same")

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        height, width, channels = shape
        return (-(-height // 2), -(-width // 2), channels), []

    def smallest_input(self, output: tuple[int, int]) -> tuple[int, int]:
        return 2 * output[0] - 1, 2 * output[1] - 1


@dataclass(frozen=True)
class _BatchNormalization:
    """Batch normalisation with momentum 0.9.

    Keras' default momentum (0.99) leaves the moving variance near its initial 1.0 after
    the few hundred steps a GTZAN-sized training set gives, so inference-mode outputs
    would be wrong; 0.9 converges in time.
    """

    def keras(self) -> keras.layers.Layer:
        return layers.BatchNormalization(momentum=0.9)

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        return shape, [(shape[-1],)] * 4  # gamma, beta, moving mean, moving variance


@dataclass(frozen=True)
class _LSTM:
    units: int
    return_sequences: bool

    def keras(self) -> keras.layers.Layer:
        return layers.LSTM(self.units, return_sequences=self.return_sequences)

    def apply(self, shape: Shape) -> tuple[Shape, list[Shape]]:
        steps, width = shape
        out = (steps, self.units) if self.return_sequences else (self.units,)
        return out, [(width, 4 * self.units), (self.units, 4 * self.units), (4 * self.units,)]


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class Network:
    """One genre network: its knobs and the layers they make.

    Parameters
    ----------
    name : str
        The Keras model's name.
    layers : callable
        ``layers(n_classes, **knobs)``: the layer descriptions, input to output.
    defaults : dict
        Each knob's default (the course's network).
    constraints : dict
        Each knob's scikit-learn parameter constraints.
    layer_counts : dict
        Knobs that list layer sizes: name -> (fewest, most) layers.
    channel_axis : bool, default=False
        Whether the network takes segments with a trailing channel axis (the CNN).
    """

    name: str
    layers: Callable[..., list[Any]]
    defaults: dict[str, Any]
    constraints: dict[str, list]
    layer_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    channel_axis: bool = False

    def input_of(self, segments: np.ndarray) -> np.ndarray:
        """``(n, n_frames, n_mfcc)`` segments as the network takes them."""
        return segments[..., np.newaxis] if self.channel_axis else segments

    def input_shape(self, segment_shape: Sequence[int]) -> Shape:
        """The network's input shape for segments of ``segment_shape``."""
        return (*segment_shape, 1) if self.channel_axis else tuple(segment_shape)

    def weight_shapes(self, input_shape: Sequence[int], n_classes: int,
                      **knobs: Any) -> list[Shape]:
        """The shapes of the network's weights in Keras' order, without building it.

        Raises
        ------
        ValueError
            If the input is too small for the network (a "valid" convolution would have
            nothing left to convolve), naming the smallest input it takes.
        """
        stack = self.layers(n_classes, **{**self.defaults, **knobs})
        self._check_input_size(stack, input_shape, knobs)
        shape, shapes = tuple(int(n) for n in input_shape), []
        for layer in stack:
            shape, weights = layer.apply(shape)
            shapes += weights
        return shapes

    def build(self, input_shape: Sequence[int], n_classes: int, **knobs: Any) -> keras.Sequential:
        """The uncompiled Keras model for inputs of ``input_shape`` (no batch axis)."""
        stack = self.layers(n_classes, **{**self.defaults, **knobs})
        self._check_input_size(stack, input_shape, knobs)
        model = keras.Sequential(name=self.name)
        model.add(keras.Input(shape=tuple(input_shape)))
        for layer in stack:
            model.add(layer.keras())
        return model

    def _check_input_size(self, stack: list, input_shape: Sequence[int],
                          knobs: dict[str, Any]) -> None:
        smallest = (1, 1)
        spatial = [layer for layer in stack if hasattr(layer, "smallest_input")]
        for layer in reversed(spatial):
            smallest = layer.smallest_input(smallest)
        if spatial and (input_shape[0] < smallest[0] or input_shape[1] < smallest[1]):
            given = ", ".join(f"{k}={v!r}" for k, v in knobs.items())
            raise ValueError(
                f"the {self.name.upper()} network ({given}) needs segments of at least "
                f"{smallest[0]} frames x {smallest[1]} coefficients; got {input_shape[0]} x "
                f"{input_shape[1]}. Use conv_padding='same' for smaller segments."
            )


def _dropout_rate() -> list:
    return [Interval(Real, 0, 1, closed="left")]


def _units() -> list:
    return [Bounded(Integral, 1, MAX_LAYER_UNITS, closed="both", why=LAYERS_REASON)]


def _mlp_layers(n_classes: int, *, hidden_layer_sizes: Sequence[int],
                dropout: float) -> list[Any]:
    stack: list[Any] = [_Flatten()]
    for units in hidden_layer_sizes:
        stack.append(_Dense(units, "relu"))
        if dropout:
            stack.append(_Dropout(dropout))
    return [*stack, _Dense(n_classes, "softmax")]


_CNN_KERNELS = ((3, 3), (3, 3), (2, 2))


def _cnn_layers(n_classes: int, *, filters: Sequence[int], dense_units: int, dropout: float,
                batch_norm: bool, conv_padding: str) -> list[Any]:
    if len(filters) != len(_CNN_KERNELS):
        raise ValueError(f"filters must have {len(_CNN_KERNELS)} entries, got {tuple(filters)!r}.")
    stack: list[Any] = []
    for index, (n_filters, kernel) in enumerate(zip(filters, _CNN_KERNELS)):
        stack.append(_Conv2D(n_filters, kernel, conv_padding))
        if batch_norm:
            stack.append(_BatchNormalization())
        if index < len(_CNN_KERNELS) - 1:
            stack.append(_MaxPooling2D())
    return [*stack, _Flatten(), _Dense(dense_units, "relu"), _Dropout(dropout),
            _Dense(n_classes, "softmax")]


def _lstm_layers(n_classes: int, *, lstm_units: Sequence[int], dense_units: int,
                 dropout: float) -> list[Any]:
    if not len(lstm_units):
        raise ValueError("lstm_units must name at least one LSTM layer.")
    stack = [_LSTM(units, index < len(lstm_units) - 1) for index, units in enumerate(lstm_units)]
    return [*stack, _Dense(dense_units, "relu"), _Dropout(dropout), _Dense(n_classes, "softmax")]


#: ``Flatten`` -> ReLU layers of 512, 256 and 64 units -> softmax.
MLP = Network(
    name="mlp",
    layers=_mlp_layers,
    defaults={"hidden_layer_sizes": (512, 256, 64), "dropout": 0.0},
    constraints={"hidden_layer_sizes": ["array-like"], "dropout": _dropout_rate()},
    layer_counts={"hidden_layer_sizes": (0, MAX_LAYERS)},
)
#: Three convolutions (32 3x3, 64 3x3, 128 2x2; 3x3 max pooling with stride 2 after the
#: first two) -> ``Dense(64, relu)`` -> ``Dropout(0.1)`` -> softmax.
CNN = Network(
    name="cnn",
    layers=_cnn_layers,
    defaults={"filters": (32, 64, 128), "dense_units": 64, "dropout": 0.1,
              "batch_norm": False, "conv_padding": "valid"},
    constraints={"filters": ["array-like"], "dense_units": _units(), "dropout": _dropout_rate(),
                 "batch_norm": ["boolean"], "conv_padding": [StrOptions({"valid", "same"})]},
    layer_counts={"filters": (3, 3)},
    channel_axis=True,
)
#: Two stacked 64-unit LSTMs -> ``Dense(64, relu)`` -> ``Dropout(0.3)`` -> softmax.
LSTM = Network(
    name="lstm",
    layers=_lstm_layers,
    defaults={"lstm_units": (64, 64), "dense_units": 64, "dropout": 0.3},
    constraints={"lstm_units": ["array-like"], "dense_units": _units(), "dropout": _dropout_rate()},
    layer_counts={"lstm_units": (1, MAX_LAYERS)},
)


# --------------------------------------------------------------------------- builders


def build_mlp(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    hidden_layer_sizes: Sequence[int] = MLP.defaults["hidden_layer_sizes"],
    dropout: float = MLP.defaults["dropout"],
) -> keras.Sequential:
    """The original course's multi-layer perceptron.

    ``Flatten`` -> ``Dense(512, relu)`` -> ``Dense(256, relu)`` ->
    ``Dense(64, relu)`` -> ``Dense(n_classes, softmax)``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one segment, ``(n_frames, n_mfcc)``; the course's is ``(130, 13)``.
    n_classes : int
        Number of output units (genres).
    hidden_layer_sizes : sequence of int, default=(512, 256, 64)
        Units of the hidden ReLU layers.
    dropout : float, default=0.0
        Dropout rate after each hidden layer; 0 adds no Dropout layer (the course's
        network has none).

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
    return MLP.build(input_shape, n_classes, hidden_layer_sizes=hidden_layer_sizes,
                     dropout=dropout)


def build_cnn(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: Sequence[int] = CNN.defaults["filters"],
    dense_units: int = CNN.defaults["dense_units"],
    dropout: float = CNN.defaults["dropout"],
    batch_norm: bool = CNN.defaults["batch_norm"],
    conv_padding: str = CNN.defaults["conv_padding"],
) -> keras.Sequential:
    """The original course's convolutional network.

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
        the course's network).
    conv_padding : {"valid", "same"}, default="valid"
        Padding of the convolutions.  The course uses ``"valid"``, which needs
        segments of at least 11 frames by 11 coefficients; ``"same"`` accepts
        any segment size.

    Returns
    -------
    model : keras.Sequential
        Uncompiled model mapping ``(batch, *input_shape)`` to class probabilities.

    Raises
    ------
    ValueError
        If ``filters`` does not have 3 entries, or the segments are too small for
        ``conv_padding="valid"``.

    Examples
    --------
    >>> from sk_audio_genre.networks import build_cnn
    >>> build_cnn((130, 13, 1), 10).count_params()
    298186
    """
    return CNN.build(input_shape, n_classes, filters=filters, dense_units=dense_units,
                     dropout=dropout, batch_norm=batch_norm, conv_padding=conv_padding)


def build_lstm(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    lstm_units: Sequence[int] = LSTM.defaults["lstm_units"],
    dense_units: int = LSTM.defaults["dense_units"],
    dropout: float = LSTM.defaults["dropout"],
) -> keras.Sequential:
    """The original course's recurrent network: two stacked LSTMs over the frames.

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
    return LSTM.build(input_shape, n_classes, lstm_units=lstm_units, dense_units=dense_units,
                     dropout=dropout)
