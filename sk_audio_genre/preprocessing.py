"""SegmentScaler: per-coefficient standardisation of segment arrays."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from ._segments import check_track_array

__all__ = ["SegmentScaler"]


class SegmentScaler(TransformerMixin, BaseEstimator):
    """Standardise each MFCC coefficient over all frames and segments.

    scikit-learn's ``StandardScaler`` needs 2-D input; this scaler takes the
    segmenter's 4-D output ``(n_tracks, n_segments, n_frames, n_mfcc)`` (or 3-D
    ``(n_samples, n_frames, n_mfcc)``) and learns one mean and one standard
    deviation per coefficient (the last axis) from every frame of every
    present segment of the training tracks.  Missing (all-NaN) segments are
    ignored in ``fit`` and stay NaN in ``transform``.  The output has the input's
    shape; one row per track in, one row out.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract the mean of each coefficient.
    with_std : bool, default=True
        Divide by the standard deviation of each coefficient (a coefficient
        that never varies is left unscaled).

    Attributes
    ----------
    mean_ : ndarray of shape (n_mfcc,)
        Mean of each coefficient over the training frames.
    scale_ : ndarray of shape (n_mfcc,)
        Standard deviation of each coefficient (1 where it is 0 or
        ``with_std`` is False).
    n_features_in_ : int
        ``X.shape[1]`` in ``fit``.

    See Also
    --------
    MFCCSegmenter : produces the input.
    sklearn.preprocessing.StandardScaler : the 2-D equivalent.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import SegmentScaler
    >>> X = np.random.default_rng(0).normal(5.0, 3.0, size=(4, 5, 130, 13))
    >>> X[0, 4] = np.nan                    # a missing segment
    >>> Z = SegmentScaler().fit_transform(X)
    >>> Z.shape
    (4, 5, 130, 13)
    >>> bool(np.isnan(Z[0, 4]).all())
    True
    >>> np.round(np.nanmean(Z), 6), np.round(np.nanstd(Z), 2)
    (np.float32(0.0), np.float32(1.0))
    """

    _parameter_constraints: dict = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None) -> SegmentScaler:
        """Learn each coefficient's mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Segment arrays (3-D and 2-D input as for the classifiers).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        self._validate_params()
        tracks = check_track_array(X, estimator_name=type(self).__name__)
        frames = tracks.reshape(-1, tracks.shape[-1]).astype(np.float64)
        frames = frames[~np.isnan(frames[:, 0])]
        if frames.size == 0:
            raise ValueError("SegmentScaler cannot fit: every segment of X is missing (NaN).")
        self.mean_ = frames.mean(axis=0) if self.with_mean else np.zeros(frames.shape[1])
        std = frames.std(axis=0) if self.with_std else np.ones(frames.shape[1])
        self.scale_ = np.where(std > 0, std, 1.0)
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Standardise ``X`` with the learned statistics.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Segment arrays with the coefficient count seen in ``fit``.

        Returns
        -------
        X_scaled : ndarray of the same shape as X, float32
        """
        check_is_fitted(self)
        tracks = check_track_array(X, estimator_name=type(self).__name__)
        if tracks.shape[-1] != self.mean_.shape[0]:
            raise ValueError(
                f"X has {tracks.shape[-1]} coefficients per frame, but SegmentScaler was "
                f"fitted on {self.mean_.shape[0]}."
            )
        scaled = (tracks - self.mean_.astype(np.float32)) / self.scale_.astype(np.float32)
        return scaled.reshape(np.shape(X))

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
