"""Validation of segment arrays shared by the classifiers and SegmentScaler.

A *track array* is 4-D, ``(n_tracks, n_segments, n_frames, n_coefficients)``,
as :class:`~sk_audio_genre.MFCCSegmenter` returns it.  A segment whose values
are all NaN is *missing* (the segmenter writes that for a file too short to
fill it); any other NaN, and any infinity, is an error.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_array


def check_track_array(X: ArrayLike, *, estimator_name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Validate ``X`` and return it as a float32 track array, with its own shape.

    Accepted layouts:

    - 4-D ``(n_tracks, n_segments, n_frames, n_coefficients)``: MFCCSegmenter output;
    - 3-D ``(n_samples, n_frames, n_coefficients)``: each sample is one segment;
    - 2-D ``(n_samples, n_features)``: each sample is one segment of
      ``n_features`` frames with one coefficient.

    Parameters
    ----------
    X : array-like
        Input in one of the layouts above.
    estimator_name : str
        Used in error messages.

    Returns
    -------
    tracks : ndarray of shape (n_tracks, n_segments, n_frames, n_coefficients), float32
    input_shape : tuple of int
        Shape of ``X`` as given.

    Raises
    ------
    ValueError
        If ``X`` has another number of dimensions, contains infinity, or has
        NaN in part of a segment (only whole segments may be missing).
    """
    X = check_array(
        X,
        allow_nd=True,
        dtype=np.float32,
        ensure_all_finite=False,
        input_name="X",
        estimator=estimator_name,
    )
    input_shape = X.shape
    if X.ndim == 2:
        X = X[:, np.newaxis, :, np.newaxis]
    elif X.ndim == 3:
        X = X[:, np.newaxis]
    elif X.ndim != 4:
        raise ValueError(
            f"{estimator_name} expects X of 2, 3 or 4 dimensions "
            "((n_samples, n_features), (n_samples, n_frames, n_coefficients) or "
            f"(n_tracks, n_segments, n_frames, n_coefficients)); got {X.ndim} dimensions."
        )
    if np.isinf(X).any():
        raise ValueError(f"Input X contains infinity; {estimator_name} needs finite values.")
    nan_per_segment = np.isnan(X).sum(axis=(2, 3))
    partial = (nan_per_segment > 0) & (nan_per_segment < X.shape[2] * X.shape[3])
    if partial.any():
        track, segment = np.argwhere(partial)[0]
        raise ValueError(
            f"Input X contains NaN inside segment {segment} of sample {track}. "
            f"{estimator_name} ignores missing segments (all values NaN, as "
            "MFCCSegmenter writes for a short file) but not partly missing ones."
        )
    return X, input_shape


def present_segments(tracks: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n_tracks, n_segments)``: True where a segment is not missing."""
    return ~np.isnan(tracks[:, :, 0, 0])
