"""A genre network's fitted state as plain data, and back: what a saved model holds.

:class:`NetworkStateMixin` gives :class:`~sk_audio_genre._base.BaseGenreClassifier` its
side of the no-pickle model format (:mod:`sk_audio_genre._codecs_library` calls it): the
fitted facts as JSON values, the network's weights as arrays, and :meth:`restore`, which
checks the weights' shapes against the network the parameters describe before building it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._limits import FILE_VALUES_REASON, MAX_FILE_VALUES, MAX_NETWORK_WEIGHTS


class NetworkStateMixin:
    """Saving and restoring a fitted genre network (mixed into ``BaseGenreClassifier``)."""

    def fitted_state(self) -> dict[str, Any]:
        """What a saved model records besides the parameters and the weights (JSON-able)."""
        from .model_format import saved_labels

        return {
            "classes_": saved_labels(self.classes_, type(self).__name__),
            "segment_shape_": [int(n) for n in self.segment_shape_],
            "n_segments_in_": int(self.n_segments_in_),
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "history_": {k: [float(v) if np.isfinite(v) else None for v in values]
                         for k, values in self.history_.items()},
        }

    def network_weights(self) -> list[np.ndarray]:
        """The network's weights in layer order (no optimizer state), as NumPy arrays."""
        return [np.asarray(w) for w in self.model_.get_weights()]

    def restore(self, state: dict[str, Any], weights: list[np.ndarray]) -> None:
        """Become the fitted classifier that :meth:`fitted_state` and
        :meth:`network_weights` described.

        The segments must lie within one file's bounded features, and the network the
        parameters describe for this input and these classes within the weights bound
        (:mod:`sk_audio_genre._limits`); the weights' shapes must be, in order, those of
        that network.  Only then is the network built (scikeras' ``initialize``, as in
        ``fit``, without training, on one zero segment per class: no more values than the
        weights bound) and the weights set.

        Raises
        ------
        ValueError
            If a bound is exceeded or the shapes disagree.
        """
        classes = np.asarray(state["classes_"])
        segment_shape = tuple(state["segment_shape_"])
        if math.prod(segment_shape) > MAX_FILE_VALUES:
            raise ValueError(
                f"segments of {segment_shape} hold more than {MAX_FILE_VALUES:,} values, more "
                f"than one file's features may ({FILE_VALUES_REASON})."
            )
        input_shape = self._network_input_shape(segment_shape)
        if math.prod(input_shape) * len(classes) > MAX_NETWORK_WEIGHTS:
            raise ValueError(
                f"restoring builds the network on one segment of {segment_shape} per class; "
                f"{len(classes)} classes make that more than {MAX_NETWORK_WEIGHTS:,} values, "
                "more than the largest network's weights."
            )
        self._check_network_size(input_shape, len(classes))
        expected = [tuple(s) for s in self._network_weight_shapes(input_shape, len(classes))]
        found = [tuple(w.shape) for w in weights]
        if found != expected:
            raise ValueError(
                f"the saved weights have shapes {found}, but a {type(self).__name__} with "
                f"these parameters on {segment_shape} segments and {len(classes)} classes "
                f"has {expected}."
            )
        dummy = np.zeros((len(classes), *input_shape), dtype=np.float32)
        super().initialize(dummy, classes)  # builds and compiles, as fit does; no training
        self.model_.set_weights(weights)
        self.classes_ = classes
        self.segment_shape_ = segment_shape
        self.n_segments_in_ = int(state["n_segments_in_"])
        self.n_features_in_ = int(state["n_features_in_"])
        self.n_iter_ = int(state["n_iter_"])
        self.history_ = {k: [np.nan if v is None else v for v in values]
                         for k, values in state["history_"].items()}
