"""Codecs of this library's estimators.

The transformers are stateless (parameters only); ``SegmentScaler`` keeps its statistics as
arrays; ``SegmentClassifier`` nests its estimator; the Keras genre classifiers keep their
weights as plain arrays (no optimizer state), whose shapes are checked against the network
the parameters describe before it is built (see ``BaseGenreClassifier.restore``), and their
Keras settings as names Keras resolves, never code or objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ._codecs import (
    RUNTIME_PARAMS,
    Codec,
    Node,
    SchemaError,
    array,
    build_with_params,
    class_labels,
    dump_estimator,
    dump_params,
    feature_count,
    load_estimator,
    positive_int,
    saved_labels,
)
from ._codecs_sklearn import VotingClassifierCodec
from ._limits import MAX_NETWORK_WEIGHTS
from .embedder import MusicnnEmbedder
from .open_set import OpenSetClassifier
from .preprocessing import SegmentScaler, SegmentStatistics
from .segment_classifier import SegmentClassifier
from .segmenter import MFCCSegmenter



class _ExactClass(Codec):
    cls: type

    def owns(self, estimator: Any) -> bool:
        return type(estimator) is self.cls


class StatelessTransformerCodec(_ExactClass):
    """A transformer whose ``fit`` only checks its parameters: it is saved as them."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        return {"params": dump_params(estimator, where)}

    def load(self, node: Node, reader: Any) -> Any:
        estimator = build_with_params(self.cls, node)
        try:
            return estimator.fit(["unused.wav"])  # stateless: fit checks the parameters only
        except Exception as exc:  # the parameters are the file's: any failure is the file's
            raise SchemaError(f"{node.where}.params: {exc}") from None

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        if isinstance(estimator, MusicnnEmbedder):
            return None, estimator.n_features_out_
        return None, estimator.n_mfcc


class SegmentScalerCodec(_ExactClass):
    cls = SegmentScaler

    def dump(self, estimator: SegmentScaler, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": dump_params(estimator, where),
            "state": {"n_features_in_": int(estimator.n_features_in_)},
            "arrays": {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                       for key in ("mean_", "scale_")},
        }

    def load(self, node: Node, reader: Any) -> SegmentScaler:
        scaler = build_with_params(SegmentScaler, node)
        n = positive_int(node.child("state"), "n_features_in_")
        scaler.n_features_in_ = n
        scaler.mean_ = array(node, reader, "mean_", ndim=1, length=n)
        scaler.scale_ = array(node, reader, "scale_", ndim=1, length=n)
        if not (scaler.scale_ > 0).all():
            raise SchemaError(f"{node.where}.arrays.scale_ must be positive.")
        return scaler

    def sizes(self, estimator: SegmentScaler) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, estimator.n_features_in_


class SegmentStatisticsCodec(_ExactClass):
    cls = SegmentStatistics

    def dump(self, estimator: SegmentStatistics, writer: Any, where: str) -> dict[str, Any]:
        return {"params": {}, "state": {"n_features_in_": int(estimator.n_features_in_),
                                        "n_coefficients_": int(estimator.n_coefficients_)}}

    def load(self, node: Node, reader: Any) -> SegmentStatistics:
        statistics = build_with_params(SegmentStatistics, node)
        state = node.child("state")
        statistics.n_features_in_ = positive_int(state, "n_features_in_")
        statistics.n_coefficients_ = positive_int(state, "n_coefficients_")
        return statistics

    def sizes(self, estimator: SegmentStatistics) -> tuple[int | None, int | None]:
        return estimator.n_coefficients_, 2 * estimator.n_coefficients_


class SegmentClassifierCodec(_ExactClass):
    cls = SegmentClassifier

    def dump(self, estimator: SegmentClassifier, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": {"aggregate": estimator.aggregate},
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "segment_shape_": [int(n) for n in estimator.segment_shape_],
                      "n_features_in_": int(estimator.n_features_in_)},
            "estimator": dump_estimator(estimator.estimator_, writer, f"{where}.estimator"),
        }

    def load(self, node: Node, reader: Any) -> SegmentClassifier:
        inner = load_estimator(node.child("estimator"), reader)
        classifier = build_with_params(SegmentClassifier, node, estimator=inner)
        state = node.child("state")
        classes = class_labels(state)
        if not np.array_equal(np.asarray(inner.classes_), classes):
            raise SchemaError(f"{node.where}.state.classes_ differ from its estimator's.")
        shape = _shape(state, "segment_shape_")
        inner_in = feature_count(inner)[0]
        if inner_in is not None and inner_in != shape[0] * shape[1]:
            raise SchemaError(f"{node.where}: segments of {shape} give {shape[0] * shape[1]} "
                              f"values, but its estimator expects {inner_in}.")
        classifier.estimator_ = inner
        classifier.classes_ = classes
        classifier.segment_shape_ = shape
        classifier.n_features_in_ = positive_int(state, "n_features_in_")
        return classifier

    def sizes(self, estimator: SegmentClassifier) -> tuple[int | None, int | None]:
        return estimator.segment_shape_[-1], None


class OpenSetClassifierCodec(_ExactClass):
    """The wrapped classifier (nested), the class means and shared precision matrix the
    novelty is measured with, the threshold and its calibration distances."""

    cls = OpenSetClassifier

    def dump(self, estimator: OpenSetClassifier, writer: Any, where: str) -> dict[str, Any]:
        arrays = {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                  for key in ("means_", "precision_", "held_out_distances_")}
        return {
            "params": dump_params(estimator, where, skip=frozenset({"estimator"})),
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "threshold_": float(estimator.threshold_),
                      "n_features_in_": int(estimator.n_features_in_)},
            "arrays": arrays,
            "estimator": dump_estimator(estimator.estimator_, writer, f"{where}.estimator"),
        }

    def load(self, node: Node, reader: Any) -> OpenSetClassifier:
        inner = load_estimator(node.child("estimator"), reader)
        classifier = build_with_params(OpenSetClassifier, node, estimator=inner)
        state = node.child("state")
        classes = class_labels(state)
        if not np.array_equal(np.asarray(inner.classes_), classes):
            raise SchemaError(f"{node.where}.state.classes_ differ from its estimator's.")
        if classifier.unknown_label in set(classes.tolist()):
            raise SchemaError(f"{node.where}.params.unknown_label is one of the classes.")
        means = array(node, reader, "means_", ndim=2, length=len(classes))
        width = means.shape[1]
        precision = array(node, reader, "precision_", ndim=2, length=width)
        if precision.shape != (width, width):
            raise SchemaError(f"{node.where}.arrays.precision_ must be {width} x {width}, like "
                              f"the class means' {width} features; got {precision.shape}.")
        threshold = state.get("threshold_", (int, float))
        if not threshold > 0:
            raise SchemaError(f"{node.where}.state.threshold_ must be positive.")
        classifier.estimator_ = inner
        classifier.classes_ = classes
        classifier.means_, classifier.precision_ = means, precision
        classifier.threshold_ = float(threshold)
        classifier.held_out_distances_ = array(node, reader, "held_out_distances_", ndim=1)
        classifier.n_features_in_ = positive_int(state, "n_features_in_")
        return classifier

    def sizes(self, estimator: OpenSetClassifier) -> tuple[int | None, int | None]:
        return feature_count(estimator.estimator_)[0], None


class GenreNetworkCodec(_ExactClass):
    """A Keras genre classifier: parameters, fitted facts, and its weights as arrays.

    The class is imported (and TensorFlow with it) only when such a model is met.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def cls(self) -> type:  # type: ignore[override]
        from . import classifiers

        return getattr(classifiers, self.name)

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        params = dump_params(estimator, where)
        try:  # what loading would refuse is refused now, while the folder is unchanged
            _check_keras_params(Node(params, f"{where}.params"),
                                self.cls().get_params(deep=False))
        except SchemaError as exc:
            raise ValueError(f"{exc} (a saved model could not be loaded with it)") from None
        keys = [writer.array(f"{where}.weights.{i}", w)
                for i, w in enumerate(estimator.network_weights())]
        return {"params": params, "state": estimator.fitted_state(), "weights": keys}

    def load(self, node: Node, reader: Any) -> Any:
        _check_keras_params(node.child("params"), self.cls().get_params(deep=False))
        classifier = build_with_params(self.cls, node)
        state = node.child("state")
        restored = {
            "classes_": class_labels(state).tolist(),
            "segment_shape_": list(_shape(state, "segment_shape_")),
            "n_segments_in_": positive_int(state, "n_segments_in_"),
            "n_features_in_": positive_int(state, "n_features_in_"),
            "n_iter_": state.get("n_iter_", int),
            "history_": _history(state),
        }
        keys = node.get("weights", list)
        if not all(isinstance(k, str) for k in keys):
            raise SchemaError(f"{node.where}.weights must list array names.")
        weights = [reader.array(k, f"{node.where}.weights[{i}]") for i, k in enumerate(keys)]
        if sum(w.size for w in weights) > MAX_NETWORK_WEIGHTS:
            raise SchemaError(f"{node.where}: more than {MAX_NETWORK_WEIGHTS:,} weights.")
        if any(w.dtype.kind != "f" or not np.isfinite(w).all() for w in weights):
            raise SchemaError(f"{node.where}.weights must be finite floating-point arrays.")
        try:
            classifier.restore(restored, weights)  # builds and compiles the network
        except Exception as exc:  # from the file's settings: any failure is the file's
            raise SchemaError(f"{node.where}: {exc}") from None
        return classifier

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        return estimator.segment_shape_[-1], None


#: Parameters that would make Keras run code or use objects: never saved (they are not
#: JSON), so never taken from a file.
_CODE_PARAMS = ("model", "build_fn", "callbacks")
#: Keywords of ``keras.Model.fit``/``compile`` that take data, objects or callbacks: scikeras
#: and this library pass them, a routed parameter never does.
_DATA_KEYWORDS = frozenset({"self", "x", "y", "sample_weight", "class_weight",
                            "validation_data", "callbacks"})
#: Metric names scikeras passes to Keras as they are, which Keras matches to the loss.
_KERAS_MATCHED_METRICS = frozenset({"acc", "accuracy", "ce", "crossentropy"})


def _check_keras_params(params: Node, defaults: dict[str, Any]) -> None:
    """Refuse the Keras settings of a genre network that a saved model cannot hold.

    A saved network's settings are names Keras resolves, never code or objects:
    ``optimizer`` and ``loss`` are names (``"adam"``), ``metrics`` is null or a list of
    names, ``model``, ``build_fn`` and ``callbacks`` are null.  Routed parameters are
    ``optimizer__KEY`` for keys of that optimizer's ``get_config()`` (which must build it),
    and ``fit__KEY``/``compile__KEY`` for keywords of ``keras.Model.fit``/``compile`` that
    are not the class's own parameters (``defaults``: those have one home, checked by the
    estimator) nor data or callbacks; each value is a JSON number, string, boolean or null.
    Imports Keras (TensorFlow is imported already: the classifier's class is).

    Raises
    ------
    SchemaError
        Naming the parameter.
    """
    import keras

    data, where = params.data, params.where
    for key in _CODE_PARAMS:
        if data.get(key) is not None:
            raise SchemaError(f"{where}.{key} must be null: a saved model holds no code or "
                              "objects.")
    optimizer = _keras_object(data.get("optimizer", defaults["optimizer"]),
                              f"{where}.optimizer", "optimizer", keras.optimizers.get)
    _keras_object(data.get("loss", defaults["loss"]), f"{where}.loss", "loss", keras.losses.get)
    metrics = data.get("metrics", defaults["metrics"])
    if not isinstance(metrics, (list, type(None))):
        raise SchemaError(f"{where}.metrics must be null or a list of metric names.")
    for i, name in enumerate(metrics or []):
        if not (isinstance(name, str) and name in _KERAS_MATCHED_METRICS):
            _keras_object(name, f"{where}.metrics[{i}]", "metric", keras.metrics.get)
    allowed = {"optimizer": set(optimizer.get_config()),
               "fit": _keywords(keras.Model.fit) - set(defaults),
               "compile": _keywords(keras.Model.compile) - set(defaults)}
    routed_to_optimizer = {}
    for key, value in data.items():
        prefix, routed, name = key.partition("__")
        if not routed or name.rsplit("__", 1)[-1] in RUNTIME_PARAMS:
            continue  # build_with_params ignores runtime settings
        if prefix not in allowed:
            raise SchemaError(f"{where}.{key}: a saved model routes only optimizer__, fit__ "
                              "and compile__ parameters.")
        if name not in allowed[prefix]:
            raise SchemaError(f"{where}.{key}: {name!r} is not one of "
                              f"{sorted(allowed[prefix])}, the {prefix}__ parameters a saved "
                              "model may hold.")
        if isinstance(value, (list, dict)):
            raise SchemaError(f"{where}.{key} must be a number, string, true, false or null, "
                              f"got {type(value).__name__}.")
        if prefix == "optimizer":
            routed_to_optimizer[name] = value
    try:  # as scikeras builds it
        type(optimizer)(**routed_to_optimizer)
    except Exception as exc:
        given = ", ".join(f"optimizer__{key}={value!r}"
                          for key, value in routed_to_optimizer.items())
        raise SchemaError(f"{where}: {given} cannot configure the {type(optimizer).__name__} "
                          f"optimizer: {exc}") from None


def _keras_object(value: Any, field: str, kind: str, get: Callable[[str], Any]) -> Any:
    """What Keras' ``get`` resolves the name ``value`` to, if it is one of Keras' own."""
    if not isinstance(value, str):
        raise SchemaError(f"{field} must be the name of a Keras {kind} (such as those in "
                          f"keras.{kind}s), got {type(value).__name__}.")
    try:
        resolved = get(value)
    except Exception:
        resolved = None
    # Keras' own class, function or instance, not one that other code registered
    if not str(getattr(resolved, "__module__", "")).startswith("keras."):
        raise SchemaError(f"{field} is {value!r}, which Keras does not know as a {kind}.")
    return resolved


def _keywords(function: Callable) -> set[str]:
    """The keyword parameters of ``function`` a routed parameter may set."""
    return {name for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            } - _DATA_KEYWORDS


def _shape(node: Node, key: str) -> tuple[int, int]:
    shape = node.get(key, list)
    if len(shape) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                  for n in shape):
        raise SchemaError(f"{node.where}.{key} must be two positive integers.")
    return tuple(shape)


def _history(state: Node) -> dict[str, list]:
    history = state.child("history_")
    for key, values in history.data.items():
        if not isinstance(values, list) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in values):
            raise SchemaError(f"{history.where}.{key} must be a list of numbers.")
    return history.data


LIBRARY_CODECS: dict[str, Codec] = {
    "MFCCSegmenter": StatelessTransformerCodec(MFCCSegmenter),
    "MusicnnEmbedder": StatelessTransformerCodec(MusicnnEmbedder),
    "SegmentScaler": SegmentScalerCodec(),
    "SegmentStatistics": SegmentStatisticsCodec(),
    "SegmentClassifier": SegmentClassifierCodec(),
    "OpenSetClassifier": OpenSetClassifierCodec(),
    "GenreVotingClassifier": VotingClassifierCodec(),  # loads as it saves
    **{name: GenreNetworkCodec(name)
       for name in ("MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier")},
}
