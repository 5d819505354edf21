"""Codecs of this library's estimators.

The transformers are stateless (parameters only); ``SegmentScaler`` keeps its statistics as
arrays; ``SegmentClassifier`` nests its estimator; the Keras genre classifiers keep their
weights as plain arrays (no optimizer state), whose shapes are checked against the network
the parameters describe before it is built (see ``BaseGenreClassifier.restore``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._codecs import (
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
from .embedder import MusicnnEmbedder
from .preprocessing import SegmentScaler, SegmentStatistics
from .segment_classifier import SegmentClassifier
from .segmenter import MFCCSegmenter

#: The most numbers a saved network's weights may hold (the seed's MLP has about 1 million).
MAX_NETWORK_WEIGHTS = 50_000_000


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
        except (TypeError, ValueError) as exc:
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
        keys = [writer.array(f"{where}.weights.{i}", w)
                for i, w in enumerate(estimator.network_weights())]
        return {"params": dump_params(estimator, where), "state": estimator.fitted_state(),
                "weights": keys}

    def load(self, node: Node, reader: Any) -> Any:
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
            classifier.restore(restored, weights)
        except ValueError as exc:
            raise SchemaError(f"{node.where}: {exc}") from None
        return classifier

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        return estimator.segment_shape_[-1], None


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
    "GenreVotingClassifier": VotingClassifierCodec(),  # loads as it saves
    **{name: GenreNetworkCodec(name)
       for name in ("MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier")},
}
