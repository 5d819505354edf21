"""Shared base of the genre classifiers: scikeras plus the segment axis.

Two jobs live here:

1. **scikit-learn tags.**  scikeras 0.13 puts ``ClassifierMixin`` to the right
   of ``BaseEstimator``, so on scikit-learn >= 1.7 its ``KerasClassifier``
   reports no estimator type: ``is_classifier`` is False and cross-validation
   silently stops stratifying.  :meth:`BaseGenreClassifier.__sklearn_tags__`
   declares the classifier tags.  (On scikit-learn 1.6 scikeras crashes; the
   package's pins exclude it.)
2. **Segments.**  Input is ``(n_tracks, n_segments, n_frames, n_mfcc)``.
   Training expands every present segment into one Keras sample carrying its
   track's label; prediction combines a track's segment probabilities.  Each
   track is one row for scikit-learn, so every CV split keeps a track's
   segments on one side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from ._tensorflow import (  # first: imports TensorFlow quietly
    HeldOutEarlyStopping,
    predict_in_batches,
    weighted_mean_loss,
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scikeras.wrappers import KerasClassifier  # noqa: E402
from sklearn.metrics import accuracy_score
from sklearn.utils import ClassifierTags, Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._limits import (
    BATCH_SIZE_REASON,
    EPOCHS_REASON,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_NETWORK_WEIGHTS,
    NETWORK_WEIGHTS_REASON,
    Bounded,
    check_segment_window,
    check_sizes,
)
from ._network_state import NetworkStateMixin
from ._signatures import changed_params_repr, share_init_signature
from ._segments import (
    aggregate_segments,
    check_segment_shape,
    check_track_array,
    check_track_targets,
    expand_segments,
    predict_from_proba,
    present_segments,
    split_tracks,
    window_segments,
)

class BaseGenreClassifier(NetworkStateMixin, KerasClassifier):
    """Base class of the segment-level genre classifiers; not for direct use.

    Subclasses define their architecture parameters in ``__init__`` (passing
    everything else on) and implement :meth:`_build_network`.
    """

    _parameter_constraints: dict = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Bounded(Integral, 1, MAX_EPOCHS, closed="both", why=EPOCHS_REASON)],
        "batch_size": [Bounded(Integral, 1, MAX_BATCH_SIZE, closed="both",
                               why=BATCH_SIZE_REASON), StrOptions({"full"})],
        "aggregate": [StrOptions({"mean", "vote"})],
        "segment_window": [None, tuple, list],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Bounded(Integral, 1, MAX_EPOCHS, closed="both",
                                     why="a patience longer than the most epochs never stops")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    #: The layer-size parameters of a subclass: name -> (fewest, most) layers.
    _layer_counts: dict[str, tuple[int, int]] = {}

    def __init__(
        self,
        *,
        learning_rate: float = 1e-4,
        epochs: int = 30,
        batch_size: int | str = 32,
        aggregate: str = "mean",
        segment_window: tuple[int, int] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        optimizer: Any = "adam",
        loss: Any = "sparse_categorical_crossentropy",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            epochs=epochs,
            batch_size=batch_size,
            random_state=random_state,
            verbose=verbose,
            optimizer=optimizer,
            loss=loss,
            **kwargs,
        )
        self.learning_rate = learning_rate
        self.aggregate = aggregate
        self.segment_window = segment_window
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Show the shared parameters in each subclass's ``__init__`` signature."""
        super().__init_subclass__(**kwargs)
        share_init_signature(cls, BaseGenreClassifier)

    # ------------------------------------------------------------------ tags

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_class=True, poor_score=True)
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return self.initialized_

    def __repr__(self) -> str:
        return changed_params_repr(self)

    # ------------------------------------------------------------ parameters

    def _validate_params(self) -> None:
        """scikit-learn's parameter constraints, then the layer sizes and ``segment_window``
        against their bounds (:mod:`sk_audio_genre._limits`).  ``fit``, ``set_params`` and
        loading a saved model run it."""
        super()._validate_params()
        for name, (fewest, most) in self._layer_counts.items():
            check_sizes(name, getattr(self, name), min_count=fewest, max_count=most)
        check_segment_window(self.segment_window)

    def set_params(self, **params: Any) -> BaseGenreClassifier:
        """Set parameters, validated as ``fit`` validates them.

        A fitted classifier also checks that its network, refitted on the same input and
        classes, stays within the weights bound.  On refusal nothing changes.

        Parameters
        ----------
        **params : dict
            Parameters, routed ones (``optimizer__learning_rate``) included.

        Returns
        -------
        self : object
            The classifier.

        Raises
        ------
        ValueError
            Naming the parameter, the bound and why.
        """
        before = dict(vars(self))  # scikeras sets routed parameters as new attributes
        try:
            super().set_params(**params)
            self._validate_params()
            if self.initialized_:
                self._check_network_size(self._network_input_shape(self.segment_shape_),
                                         len(self.classes_))
        except Exception:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    # --------------------------------------------------------------- network

    def _check_network_size(self, input_shape: Sequence[int], n_classes: int) -> None:
        """Refuse a network of more than ``MAX_NETWORK_WEIGHTS`` weights before it is built."""
        shapes = self._network_weight_shapes(input_shape, n_classes)
        n_weights = sum(math.prod(shape) for shape in shapes)
        if n_weights > MAX_NETWORK_WEIGHTS:
            sizes = ", ".join(f"{name}={getattr(self, name)!r}"
                              for name in (*self._layer_counts, "dense_units")
                              if hasattr(self, name))
            raise ValueError(
                f"{type(self).__name__}({sizes}) on inputs of shape {tuple(input_shape)} with "
                f"{n_classes} classes has {n_weights:,} weights, more than "
                f"{MAX_NETWORK_WEIGHTS:,} ({NETWORK_WEIGHTS_REASON}); use smaller layers."
            )

    def _build_network(self, input_shape: Sequence[int], n_classes: int) -> keras.Model:
        """Return the uncompiled network for one segment (subclasses implement)."""
        raise NotImplementedError

    def _network_input(self, segments: np.ndarray) -> np.ndarray:
        """Shape ``(n, n_frames, n_mfcc)`` segments as the network expects them."""
        return segments

    def _network_input_shape(self, segment_shape: Sequence[int]) -> tuple[int, ...]:
        """The network's input shape for segments of ``segment_shape``, windows applied."""
        frames, coefficients = segment_shape
        if self.segment_window is not None:
            frames = int(self.segment_window[0])
        return tuple(self._network_input(np.empty((0, frames, coefficients))).shape[1:])

    def _network_weight_shapes(self, input_shape: Sequence[int], n_classes: int) -> list:
        """The shapes of the network's weights, without building it (subclasses implement)."""
        raise NotImplementedError

    def _keras_build_fn(self, meta: dict, compile_kwargs: dict) -> keras.Model:
        if meta["n_classes_"] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to train; "
                f"got {meta['n_classes_']} class."
            )
        self._check_network_size(meta["X_shape_"][1:], meta["n_classes_"])
        model = self._build_network(meta["X_shape_"][1:], meta["n_classes_"])
        model.compile(
            **{
                **compile_kwargs,
                "optimizer": self._optimizer(compile_kwargs["optimizer"]),
                "loss": weighted_mean_loss(compile_kwargs["loss"]),
                "metrics": compile_kwargs.get("metrics") or ["accuracy"],
            }
        )
        return model

    def _optimizer(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """A fresh optimizer at ``learning_rate``, unless ``optimizer__learning_rate`` is set."""
        config = optimizer.get_config()
        if "optimizer__learning_rate" not in self.get_params():
            config["learning_rate"] = self.learning_rate
        return type(optimizer).from_config(config)

    # ------------------------------------------------------------------- fit

    def fit(self, X, y, sample_weight=None) -> BaseGenreClassifier:
        """Train the network on every present segment of every track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks as :class:`~sk_audio_genre.MFCCSegmenter` returns them.
            3-D input ``(n_samples, n_frames, n_mfcc)`` is taken as one segment
            per sample, 2-D ``(n_samples, n_features)`` as one segment of
            ``n_features`` frames with one coefficient.  All-NaN segments are
            missing and skipped.
        y : array-like of shape (n_tracks,)
            Genre of each track; every segment gets its track's label.
        sample_weight : array-like of shape (n_tracks,), default=None
            Weight of each track, given to each of its segments.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        self._validate_params()
        if self.validation_split:
            raise ValueError(
                "validation_split splits segments, so one track's segments would land "
                "on both sides of the split; use early_stopping=True with "
                "validation_fraction, which holds out whole tracks."
            )
        tracks, input_shape, y = self._check_fit_input(X, y, reset=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, tracks)
        given = tracks
        tracks = self._windows(tracks)
        train = np.arange(len(tracks))
        validation = {}
        if self.early_stopping:
            train, held_out = split_tracks(y, self.validation_fraction, self.random_state)
            segments, labels, _ = expand_segments(tracks[held_out], y[held_out])
            validation["validation_data"] = (self._network_input(segments), labels)
        segments, labels, weights = expand_segments(
            tracks[train], y[train], None if sample_weight is None else sample_weight[train]
        )
        super().fit(
            self._network_input(segments),
            labels,
            sample_weight=weights,
            batch_size=self._fit_batch_size(len(segments)),
            **validation,
        )
        self._record_fitted_input(given, input_shape)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> BaseGenreClassifier:
        """Train for one epoch on ``X``, keeping the weights learned so far.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.
        y : array-like of shape (n_tracks,)
            Genre of each track.
        classes : array-like of shape (n_classes,), default=None
            All genres across calls; needed on the first call if ``y`` does
            not contain every genre.
        sample_weight : array-like of shape (n_tracks,), default=None
            Weight of each track.

        Returns
        -------
        self : object
            The updated classifier.
        """
        self._validate_params()
        tracks, input_shape, y = self._check_fit_input(X, y, reset=not self.initialized_)
        if self.initialized_:
            unseen = sorted(set(np.asarray(y).tolist()) - set(self.classes_.tolist()))
            if unseen:
                raise ValueError(
                    f"genre {unseen[0]!r} was not seen by the first partial_fit call, which "
                    f"fixed the genres to {self.classes_.tolist()}; pass every genre on the "
                    "first call with classes=[...], or fit again."
                )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, tracks)
        segments, labels, weights = expand_segments(self._windows(tracks), y, sample_weight)
        super().partial_fit(
            self._network_input(segments),
            labels,
            classes=classes,
            sample_weight=weights,
            batch_size=self._fit_batch_size(len(segments)),
        )
        self._record_fitted_input(tracks, input_shape)
        return self

    def _check_fit_input(self, X, y, *, reset: bool) -> tuple[np.ndarray, tuple, np.ndarray]:
        tracks, input_shape = (
            check_track_array(X, estimator_name=type(self).__name__)
            if reset
            else self._check_tracks(X)
        )
        return tracks, input_shape, check_track_targets(tracks, y)

    def _windows(self, tracks: np.ndarray) -> np.ndarray:
        """``tracks`` re-cut into ``segment_window`` windows (unchanged when it is None)."""
        if self.segment_window is None:
            return tracks
        frames, hop = self.segment_window
        return window_segments(tracks, int(frames), int(hop))

    def _fit_batch_size(self, n_segments: int) -> int:
        return n_segments if self.batch_size == "full" else self.batch_size

    def _initialize_callbacks(self) -> None:
        """scikeras' callbacks, and early stopping on the held-out tracks when asked for."""
        super()._initialize_callbacks()
        if self.early_stopping:
            self._fit_callbacks = [
                *self._fit_callbacks,
                HeldOutEarlyStopping(patience=self.n_iter_no_change),
            ]

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        """Keras' fit, with the held-out tracks' segments (from :meth:`fit`) encoded."""
        if "validation_data" in kwargs:
            segments, labels = kwargs["validation_data"]
            kwargs["validation_data"] = (
                self.feature_encoder_.transform(segments),
                self.target_encoder_.transform(labels),
            )
        super()._fit_keras_model(X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs)

    def _record_fitted_input(self, tracks: np.ndarray, input_shape: tuple[int, ...]) -> None:
        self.classes_ = np.asarray(self.classes_.tolist())
        self.n_features_in_ = input_shape[1]
        self.n_segments_in_ = tracks.shape[1]
        self.segment_shape_ = tracks.shape[2:]
        self.n_iter_ = len(self.history_["loss"])

    # --------------------------------------------------------------- predict

    def _check_tracks(self, X) -> tuple[np.ndarray, tuple[int, ...]]:
        """Validate ``X`` against the fitted segment shape."""
        check_is_fitted(self)
        tracks, input_shape = check_track_array(X, estimator_name=type(self).__name__)
        check_segment_shape(tracks, input_shape, self.segment_shape_,
                            n_features_in=self.n_features_in_, estimator_name=type(self).__name__)
        return tracks, input_shape

    def predict_segment_proba(self, X) -> np.ndarray:
        """Class probabilities of every segment.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_segments, n_classes)
            Probabilities per segment, columns in the order of ``classes_``;
            NaN for missing segments.
        """
        tracks, _ = self._check_tracks(X)
        tracks = self._windows(tracks)
        present = present_segments(tracks)
        proba = np.full((*tracks.shape[:2], len(self.classes_)), np.nan, dtype=np.float32)
        if present.any():
            proba[present] = predict_in_batches(
                self.model_, self._network_input(tracks[present])
            )
        return proba

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each track, combined from its segments.

        ``aggregate="mean"`` averages the segments' probabilities;
        ``aggregate="vote"`` gives the fraction of segments voting for each class.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_classes)
            Rows sum to 1; a track with no present segment gets a row of NaN.
        """
        return aggregate_segments(self.predict_segment_proba(X), self.aggregate)[0]

    def predict(self, X) -> np.ndarray:
        """Genre of each track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_tracks,)
            Labels as given to ``fit`` (strings stay strings).  Under
            ``aggregate="vote"`` ties go to the higher mean probability.

        Raises
        ------
        ValueError
            If a track has no present segment (use ``predict_proba`` to get
            NaN for it instead).
        """
        proba, mean_proba = aggregate_segments(self.predict_segment_proba(X), self.aggregate)
        return predict_from_proba(self.classes_, proba, mean_proba)

    def score(self, X, y, sample_weight=None) -> float:
        """Track accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Tracks.
        y : array-like of shape (n_tracks,)
            True genres.
        sample_weight : array-like of shape (n_tracks,), default=None
            Track weights.

        Returns
        -------
        score : float
            Fraction of tracks whose genre is predicted correctly.
        """
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))
