"""SegmentClassifier: any scikit-learn classifier, trained on segments, predicting tracks."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted

# scikit-learn has no public API for validating an estimator's parameters against
# constraints (``validate_params`` is for functions and lives in the same private module);
# its own estimators and most third-party ones use these.  tests/test_dependency_contracts.py
# fails, naming them, if an upgrade moves or changes them.
from sklearn.base import _fit_context  # noqa: E402, I001
from sklearn.utils._param_validation import HasMethods, StrOptions  # noqa: E402

from ._segments import (
    aggregate_segments,
    check_segment_shape,
    check_track_array,
    check_track_targets,
    expand_segments,
    predict_from_proba,
    present_segments,
)

__all__ = ["SegmentClassifier"]


def check_track_weights(sample_weight: Any, n_tracks: int) -> np.ndarray:
    """One weight per track as a float64 array; a scalar weighs every track the same.

    Raises
    ------
    ValueError
        If ``sample_weight`` is not a scalar or of shape ``(n_tracks,)``, or not finite.

    Examples
    --------
    >>> check_track_weights(2, 3)
    array([2., 2., 2.])
    >>> check_track_weights([1, 0.5], 2)
    array([1. , 0.5])
    """
    if isinstance(sample_weight, Real):
        return np.full(n_tracks, float(sample_weight))
    weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                          input_name="sample_weight")
    if weights.shape != (n_tracks,):
        raise ValueError(f"sample_weight has shape {weights.shape}; it needs one weight per "
                         f"track, shape ({n_tracks},).")
    return weights


class SegmentClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Train a scikit-learn classifier on every segment; predict each track from its segments.

    The input is a track array ``(n_tracks, n_segments, n_frames, n_coefficients)``, as
    :class:`~sk_audio_genre.MFCCSegmenter` or ``MusicnnEmbedder(pooling="none")`` give it
    (a musicnn patch is a segment of one frame).  ``fit`` flattens every present segment
    into one sample of ``n_frames * n_coefficients`` features carrying its track's label
    and fits ``estimator`` on them; ``predict_proba`` averages (or lets vote) a track's
    segment probabilities.  Each track stays one row for scikit-learn, so every
    cross-validation split keeps a track's segments on one side.

    Parameters
    ----------
    estimator : classifier, default=None
        Any scikit-learn classifier with ``predict_proba``; None means
        ``LogisticRegression(max_iter=1000)``.  Cloned in ``fit``.
    aggregate : {"mean", "vote"}, default="mean"
        How a track's probabilities come from its segments': their mean, or the
        fraction of segments voting for each class (ties go to the higher mean).

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
        The genres, in the order of ``predict_proba``'s columns.
    segment_shape_ : tuple of int
        ``(n_frames, n_coefficients)`` of one segment.
    n_features_in_ : int
        Features of ``X`` as ``fit`` saw them, counted along the last axis as
        scikit-learn and :class:`~sk_audio_genre.SegmentScaler` count them:
        ``n_features`` of 2-D input ``(n_samples, n_features)``, the coefficients per
        frame of 3-D and 4-D input.  Prediction takes any number of segments per track,
        of shape ``segment_shape_``.

    See Also
    --------
    CNNGenreClassifier : A Keras network with the same segment axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import SegmentClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["jazz", "rock"] * 10)
    >>> X = rng.normal(size=(20, 4, 1, 8)) + (y == "rock")[:, None, None, None]
    >>> X[0, 3] = np.nan                                    # a missing segment
    >>> clf = SegmentClassifier().fit(X, y)
    >>> clf.predict(X[:4]).tolist()
    ['jazz', 'rock', 'jazz', 'rock']
    >>> clf.predict_segment_proba(X[:1]).shape              # (tracks, segments, classes)
    (1, 4, 2)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "aggregate": [StrOptions({"mean", "vote"})],
    }

    def __init__(self, estimator: Any = None, *, aggregate: str = "mean") -> None:
        self.estimator = estimator
        self.aggregate = aggregate

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SegmentClassifier:
        """Fit the estimator on every present segment, labelled with its track's genre.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_coefficients)
            Tracks; all-NaN segments are missing and skipped.  3-D input is one segment
            per sample, 2-D one segment of ``n_features`` frames.
        y : array-like of shape (n_tracks,)
            Genre of each track.
        sample_weight : array-like of shape (n_tracks,), default=None
            Weight of each track, given to each of its segments.

        Returns
        -------
        self : SegmentClassifier
        """
        tracks, input_shape = check_track_array(X, estimator_name=type(self).__name__)
        y = check_track_targets(tracks, y)
        if sample_weight is not None:
            sample_weight = check_track_weights(sample_weight, len(tracks))
        segments, labels, weights = expand_segments(tracks, y, sample_weight, stacklevel=4)
        estimator = LogisticRegression(max_iter=1000) if self.estimator is None else self.estimator
        self.estimator_ = clone(estimator)
        fit_params = {} if weights is None else {"sample_weight": weights}
        self.estimator_.fit(segments.reshape(len(segments), -1), labels, **fit_params)
        self.classes_ = self.estimator_.classes_
        self.segment_shape_ = tracks.shape[2:]
        self.n_features_in_ = input_shape[-1]
        return self

    def predict_segment_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of every segment.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_coefficients)
            Tracks, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_segments, n_classes)
            NaN for missing segments.
        """
        return self._segment_proba(X)[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of each track, from its segments.

        Returns
        -------
        proba : ndarray of shape (n_tracks, n_classes)
            A track with no present segment gets a row of NaN, and so does one whose
            probabilities are not finite.
        """
        proba, present = self._segment_proba(X)
        return aggregate_segments(proba, self.aggregate, present)[0]

    def predict(self, X: Any) -> np.ndarray:
        """Genre of each track.

        Raises
        ------
        ValueError
            If a track has no present segment (``predict_proba`` gives it NaN), or its
            probabilities are not finite; the message says which.
        """
        segment_proba, present = self._segment_proba(X)
        proba, mean_proba = aggregate_segments(segment_proba, self.aggregate, present)
        return predict_from_proba(self.classes_, proba, mean_proba,
                                  n_present=present.sum(axis=1))

    def _segment_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's probabilities (NaN where missing) and which segments are present."""
        check_is_fitted(self)
        tracks, input_shape = check_track_array(X, estimator_name=type(self).__name__)
        check_segment_shape(tracks, input_shape, self.segment_shape_,
                            n_features_in=self.segment_shape_[0],
                            estimator_name=type(self).__name__)
        present = present_segments(tracks)
        proba = np.full((*tracks.shape[:2], len(self.classes_)), np.nan)
        if present.any():
            segments = tracks[present]
            proba[present] = self.estimator_.predict_proba(segments.reshape(len(segments), -1))
        return proba, present

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Track accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_coefficients)
        y : array-like of shape (n_tracks,)
        sample_weight : array-like of shape (n_tracks,), default=None

        Returns
        -------
        score : float
            Fraction of tracks whose genre is predicted correctly.
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True
        return tags
