"""SegmentScaler (per-coefficient standardisation) and SegmentStatistics (per-track summaries)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["SegmentScaler", "SegmentStatistics"]


class SegmentScaler(TransformerMixin, BaseEstimator):
    """Standardise each MFCC coefficient over all frames and segments.

    scikit-learn's ``StandardScaler`` needs 2-D input; this scaler takes the
    segmenter's 4-D output ``(n_tracks, n_segments, n_frames, n_mfcc)`` (or any
    array whose last axis holds the coefficients) and learns one mean and one
    standard deviation per coefficient from every frame of every segment of the
    training tracks.  NaN values (missing segments) are ignored in ``fit`` and
    stay NaN in ``transform``.  The output has the input's shape: one row per
    track in, one row out.  On 2-D input it is ``StandardScaler``.

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
        Standard deviation of each coefficient (1 where it is 0, or negligible
        next to the mean, or ``with_std`` is False), as ``StandardScaler``
        computes it on the frames.
    n_features_in_ : int
        Coefficients per frame, ``X.shape[-1]`` in ``fit``.

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
    >>> float(np.nanmean(Z).round(6)), float(np.nanstd(Z).round(6))
    (0.0, 1.0)
    """

    _parameter_constraints: dict = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> SegmentScaler:
        """Learn each coefficient's mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Segment arrays; the last axis holds the coefficients.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        X = self._check_array(X)
        frames = X.reshape(-1, X.shape[-1]).astype(np.float64)
        if np.isnan(frames).all(axis=0).any():
            raise ValueError("SegmentScaler cannot fit: a coefficient has only NaN values in X.")
        # scikit-learn's own statistics: NaN-aware, and a coefficient constant up to
        # rounding (variance ~1e-32) gets scale 1, not 1e-16 (_handle_zeros_in_scale).
        scaler = StandardScaler(with_mean=self.with_mean, with_std=self.with_std).fit(frames)
        self.n_features_in_ = X.shape[-1]
        self.mean_ = scaler.mean_ if self.with_mean else np.zeros(X.shape[-1])
        self.scale_ = scaler.scale_ if self.with_std else np.ones(X.shape[-1])
        return self

    def transform(self, X) -> np.ndarray:
        """Standardise ``X`` with the learned statistics.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_mfcc)
            Segment arrays with the coefficient count seen in ``fit``.

        Returns
        -------
        X_scaled : ndarray of the same shape and float dtype as X
        """
        check_is_fitted(self)
        X = self._check_array(X)
        if X.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1]} features, but SegmentScaler is expecting "
                f"{self.n_features_in_} features as input (coefficients per frame)."
            )
        return (X - self.mean_.astype(X.dtype)) / self.scale_.astype(X.dtype)

    def _check_array(self, X) -> np.ndarray:
        return check_array(
            X,
            allow_nd=True,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            estimator=self,
        )

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SegmentStatistics(TransformerMixin, BaseEstimator):
    """Summarise each track's segments by per-coefficient statistics over all its frames.

    Turns a track array ``(n_tracks, n_segments, n_frames, n_coefficients)`` into one
    row of ``n_coefficients`` means followed by ``n_coefficients`` standard deviations
    per track, ignoring missing (NaN) segments: the classic "MFCC statistics" features
    of a linear baseline, usable beside an embedding in a ``FeatureUnion``.  It learns
    nothing but the number of coefficients.

    Attributes
    ----------
    n_coefficients_ : int
        Coefficients per frame seen in ``fit``; the output has twice as many columns.
    n_features_in_ : int
        ``X.shape[1]`` in ``fit`` (segments per track).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import SegmentStatistics
    >>> X = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2)
    >>> X[1, 2] = np.nan                                    # a missing segment
    >>> SegmentStatistics().fit_transform(X)[:, :2]          # the two coefficients' means
    array([[11., 12.],
           [31., 32.]])
    """

    _parameter_constraints: dict = {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> SegmentStatistics:
        """Check ``X``; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_segments, n_frames, n_coefficients)
        y : None
            Ignored.

        Returns
        -------
        self : SegmentStatistics
        """
        X = self._check(X)
        self.n_features_in_ = X.shape[1]
        self.n_coefficients_ = X.shape[-1]
        return self

    def transform(self, X) -> np.ndarray:
        """Means, then standard deviations, of each coefficient: ``(n_tracks, 2 * n_coef)``.

        A track with no present segment gives a row of NaN.
        """
        check_is_fitted(self)
        X = self._check(X)
        if X.shape[-1] != self.n_coefficients_:
            raise ValueError(
                f"X has {X.shape[-1]} coefficients per frame, but SegmentStatistics was fitted "
                f"on {self.n_coefficients_}."
            )
        frames = X.reshape(len(X), -1, X.shape[-1]).astype(np.float64)
        with warnings.catch_warnings():  # an all-NaN track is a NaN row, said in the docstring
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.concatenate([np.nanmean(frames, axis=1), np.nanstd(frames, axis=1)], axis=1)

    def _check(self, X) -> np.ndarray:
        X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32],
                        ensure_all_finite="allow-nan", estimator=self)
        if X.ndim != 4:
            raise ValueError(
                "SegmentStatistics expects a track array (n_tracks, n_segments, n_frames, "
                f"n_coefficients), as MFCCSegmenter returns; got {X.ndim} dimensions."
            )
        return X

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.two_d_array = False
        return tags
