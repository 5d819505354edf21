"""MLPGenreClassifier, CNNGenreClassifier and LSTMGenreClassifier.

Importing this module imports TensorFlow; ``import sk_audio_genre`` does not
until one of these classes is first used.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from . import _tensorflow  # noqa: F401  (first: imports TensorFlow quietly)

import keras  # noqa: E402
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseGenreClassifier
from ._limits import LAYERS_REASON, MAX_LAYER_UNITS, MAX_LAYERS, Bounded
from .networks import (
    build_cnn,
    build_lstm,
    build_mlp,
    cnn_weight_shapes,
    lstm_weight_shapes,
    mlp_weight_shapes,
)

__all__ = ["CNNGenreClassifier", "LSTMGenreClassifier", "MLPGenreClassifier"]

_SHARED_PARAMETERS = """\
learning_rate : float, default=1e-4
        Learning rate of the optimizer (the seed's Adam rate).  A routed
        ``optimizer__learning_rate`` takes precedence when set.
    epochs : int, default=30
        Passes over the training segments, at most 10,000.
    batch_size : int or "full", default=32
        Segments per gradient step, which selects the seed's optimisation
        mode: ``"full"`` is full-batch gradient descent (one step per epoch),
        an int (at most ``2**20``) is mini-batch gradient descent, ``1`` is
        stochastic gradient descent.
    aggregate : {"mean", "vote"}, default="mean"
        How a track's prediction is made from its segments: the mean of their
        probabilities, or a majority vote (``predict_proba`` then gives vote
        fractions).
    segment_window : (int, int) or None, default=None
        ``(frames, hop)``: before training and prediction, lay each track's
        segments end to end and re-cut them into windows of ``frames`` frames,
        one every ``hop`` frames; the network sees windows instead of the
        segmenter's segments.  ``(65, 65)`` splits 130-frame segments into
        halves (twice the training samples, half as long); ``(130, 65)`` gives
        overlapping windows.  Members of an ensemble that differ here see the
        music at different time scales.  None uses the segments as they are.
        Each frame may fall into at most 8 windows (``frames <= 8 * hop``): the
        windows are copies of the data.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the *tracks* (stratified, never
        segments of a training track) and stop when their loss has not
        improved for ``n_iter_no_change`` epochs, restoring the best weights.
    validation_fraction : float, default=0.1
        Fraction of tracks held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Epochs without validation-loss improvement before stopping (at most
        10,000).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the early-stopping
        split; an int makes two fits give identical predictions.
    verbose : int, default=0
        Keras' progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    optimizer : str, keras Optimizer class or instance, default="adam"
        Optimizer; routed ``optimizer__*`` parameters configure it.
    loss : str or keras Loss, default="sparse_categorical_crossentropy"
        Training loss.
    **kwargs
        Other scikeras parameters (``metrics``, ``callbacks``, ``class_weight``,
        ``warm_start``, ``shuffle``, ...) and routed parameters (``fit__*``,
        ``optimizer__*``, ``callbacks__*``).  Prediction runs through one traced
        step per network, not ``Model.predict``, so ``predict__*`` parameters do
        not apply.  scikeras' ``validation_split`` is refused: it would split
        segments, not tracks.
"""

_SHARED_ATTRIBUTES = """\
classes_ : ndarray of shape (n_classes,)
        Genres seen in ``fit``, in the order of ``predict_proba``'s columns.
    model_ : keras.Model
        The trained network.
    history_ : dict of str to list of float
        Per-epoch ``loss`` and ``accuracy`` on training segments, plus
        ``val_loss`` and ``val_accuracy`` with ``early_stopping``.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        ``X.shape[1]`` in ``fit``: the features of 2-D input (prediction must give
        as many), the segments per track of 3-D or 4-D input (prediction may give
        any number of segments; their shape must be ``segment_shape_``).
    n_segments_in_ : int
        Segments per track in ``fit``; prediction accepts any number.
    segment_shape_ : tuple of int
        ``(n_frames, n_mfcc)`` of one segment.
"""


def _with_shared_docs(cls: type) -> type:
    cls.__doc__ = cls.__doc__.replace("{shared_parameters}", _SHARED_PARAMETERS.rstrip()).replace(
        "{shared_attributes}", _SHARED_ATTRIBUTES.rstrip()
    )
    return cls


@_with_shared_docs
class MLPGenreClassifier(BaseGenreClassifier):
    """The seed's multi-layer perceptron as a track-level genre classifier.

    Each MFCC segment is flattened (130 x 13 = 1690 inputs) and passed through
    ReLU layers of 512, 256 and 64 units to a softmax over the genres
    (1,014,218 parameters for 10 genres).  See :func:`~sk_audio_genre.networks.build_mlp`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(512, 256, 64)
        Units of the hidden layers: up to 16 layers of 1 to 4,096 units.  The
        network has at most 50,000,000 weights for the input and classes it is
        fitted on (checked before it is built).
    dropout : float, default=0.0
        Dropout after each hidden layer (the seed has none).
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    CNNGenreClassifier, LSTMGenreClassifier, MFCCSegmenter

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import MLPGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 2, 20, 13)).astype("float32")  # 8 tracks, 2 segments
    >>> X[4:] += 1.0
    >>> y = np.array(["blues"] * 4 + ["metal"] * 4)
    >>> clf = MLPGenreClassifier(hidden_layer_sizes=(16,), epochs=20,
    ...                          learning_rate=1e-2, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, -1]])
    array(['blues', 'metal'], dtype='<U5')
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    """

    _parameter_constraints: dict = {
        **BaseGenreClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _layer_counts = {"hidden_layer_sizes": (0, MAX_LAYERS)}

    def __init__(
        self,
        *,
        hidden_layer_sizes: Sequence[int] = (512, 256, 64),
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout

    def _architecture(self) -> dict[str, Any]:
        return {"hidden_layer_sizes": tuple(self.hidden_layer_sizes), "dropout": self.dropout}

    def _build_network(self, input_shape: Sequence[int], n_classes: int) -> keras.Model:
        return build_mlp(input_shape, n_classes, **self._architecture())

    def _network_weight_shapes(self, input_shape: Sequence[int], n_classes: int) -> list:
        return mlp_weight_shapes(input_shape, n_classes, **self._architecture())


@_with_shared_docs
class CNNGenreClassifier(BaseGenreClassifier):
    """The seed's convolutional network as a track-level genre classifier.

    Three convolutions (32 3x3, 64 3x3, 128 2x2 filters, the first two each
    followed by 3x3 max pooling with stride 2), a 64-unit ReLU layer and
    dropout 0.1 before the softmax (298,186 parameters for 10 genres on
    130 x 13 segments).  See :func:`~sk_audio_genre.networks.build_cnn`.

    Parameters
    ----------
    filters : tuple of int, default=(32, 64, 128)
        Filters of the three convolutions, 1 to 4,096 each.
    dense_units : int, default=64
        Units of the dense layer after the convolutions, 1 to 4,096.  The network
        has at most 50,000,000 weights for the input and classes it is fitted on
        (checked before it is built).
    dropout : float, default=0.1
        Dropout before the output layer.
    batch_norm : bool, default=False
        Batch normalisation after each convolution (not in the seed).
    conv_padding : {"valid", "same"}, default="valid"
        ``"valid"`` is the seed's and needs segments of at least 14 frames x
        11 coefficients; ``"same"`` accepts any segment size.
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    MLPGenreClassifier, LSTMGenreClassifier, SegmentScaler

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import CNNGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 2, 20, 13)).astype("float32")
    >>> y = np.array(["jazz", "pop"] * 3)
    >>> clf = CNNGenreClassifier(epochs=1, random_state=0).fit(X, y)
    >>> clf.predict_segment_proba(X).shape   # tracks, segments, genres
    (6, 2, 2)
    """

    _parameter_constraints: dict = {
        **BaseGenreClassifier._parameter_constraints,
        "filters": ["array-like"],
        "dense_units": [Bounded(Integral, 1, MAX_LAYER_UNITS, closed="both", why=LAYERS_REASON)],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "conv_padding": [StrOptions({"valid", "same"})],
    }
    _layer_counts = {"filters": (3, 3)}

    def __init__(
        self,
        *,
        filters: Sequence[int] = (32, 64, 128),
        dense_units: int = 64,
        dropout: float = 0.1,
        batch_norm: bool = False,
        conv_padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = filters
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.conv_padding = conv_padding

    def _network_input(self, segments: np.ndarray) -> np.ndarray:
        return segments[..., np.newaxis]

    def _build_network(self, input_shape: Sequence[int], n_classes: int) -> keras.Model:
        return build_cnn(input_shape, n_classes, **self._architecture())

    def _architecture(self) -> dict[str, Any]:
        return {"filters": tuple(self.filters), "dense_units": self.dense_units,
                "dropout": self.dropout, "batch_norm": self.batch_norm,
                "conv_padding": self.conv_padding}

    def _network_weight_shapes(self, input_shape: Sequence[int], n_classes: int) -> list:
        """The weights' shapes; refuses segments too small for ``conv_padding="valid"``
        (every network is sized through here before it is built)."""
        n_frames, n_mfcc = input_shape[:2]
        if self.conv_padding == "valid" and (n_frames < 14 or n_mfcc < 11):
            raise ValueError(
                f"CNNGenreClassifier with conv_padding='valid' needs segments of at least "
                f"14 frames x 11 coefficients; got {n_frames} x {n_mfcc}. "
                "Use conv_padding='same' for smaller segments."
            )
        return cnn_weight_shapes(input_shape, n_classes, **self._architecture())


@_with_shared_docs
class LSTMGenreClassifier(BaseGenreClassifier):
    """The seed's recurrent network as a track-level genre classifier.

    Two stacked 64-unit LSTMs read a segment frame by frame (each frame's
    MFCC vector is one time step), then a 64-unit ReLU layer and dropout 0.3
    before the softmax (57,802 parameters for 10 genres on 13 MFCCs).  See
    :func:`~sk_audio_genre.networks.build_lstm`.

    Parameters
    ----------
    lstm_units : tuple of int, default=(64, 64)
        Units of the stacked LSTM layers: 1 to 16 layers of 1 to 4,096 units.
    dense_units : int, default=64
        Units of the dense layer after the LSTMs, 1 to 4,096.  The network has at
        most 50,000,000 weights for the input and classes it is fitted on (checked
        before it is built).
    dropout : float, default=0.3
        Dropout before the output layer.
    {shared_parameters}

    Attributes
    ----------
    {shared_attributes}

    See Also
    --------
    MLPGenreClassifier, CNNGenreClassifier

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import LSTMGenreClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(6, 2, 20, 13)).astype("float32")
    >>> y = np.array(["jazz", "pop"] * 3)
    >>> clf = LSTMGenreClassifier(epochs=1, random_state=0).fit(X, y)
    >>> clf.history_["loss"]  # doctest: +SKIP
    [0.69...]
    >>> clf.classes_
    array(['jazz', 'pop'], dtype='<U4')
    """

    _parameter_constraints: dict = {
        **BaseGenreClassifier._parameter_constraints,
        "lstm_units": ["array-like"],
        "dense_units": [Bounded(Integral, 1, MAX_LAYER_UNITS, closed="both", why=LAYERS_REASON)],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }
    _layer_counts = {"lstm_units": (1, MAX_LAYERS)}

    def __init__(
        self,
        *,
        lstm_units: Sequence[int] = (64, 64),
        dense_units: int = 64,
        dropout: float = 0.3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lstm_units = lstm_units
        self.dense_units = dense_units
        self.dropout = dropout

    def _architecture(self) -> dict[str, Any]:
        return {"lstm_units": tuple(self.lstm_units), "dense_units": self.dense_units,
                "dropout": self.dropout}

    def _build_network(self, input_shape: Sequence[int], n_classes: int) -> keras.Model:
        return build_lstm(input_shape, n_classes, **self._architecture())

    def _network_weight_shapes(self, input_shape: Sequence[int], n_classes: int) -> list:
        return lstm_weight_shapes(input_shape, n_classes, **self._architecture())
