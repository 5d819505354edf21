"""Segment arrays: validation, windowing, expansion to samples, and track predictions.

Pure NumPy (and scikit-learn's validation helpers): everything here is shared by the Keras
genre classifiers, :class:`~sk_audio_genre.SegmentClassifier` and ``SegmentScaler`` and is
tested without TensorFlow.

A *track array* is 4-D, ``(n_tracks, n_segments, n_frames, n_coefficients)``,
as :class:`~sk_audio_genre.MFCCSegmenter` returns it.  A segment whose values
are all NaN is *missing* (the segmenter writes that for a file too short to
fill it); any other NaN, and any infinity, is an error.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

#: Why probabilities are not finite when the features were: the arithmetic of finite but
#: extreme weights (1e308) overflows to infinity, and infinity minus infinity is NaN.
OVERFLOW_REASON = "its arithmetic overflowed; the model's weights may be extreme"


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


def check_track_targets(tracks: np.ndarray, y: ArrayLike) -> np.ndarray:
    """``y`` as a 1-D array of class labels, one per track of ``tracks``.

    >>> import numpy as np
    >>> check_track_targets(np.zeros((2, 3, 1, 1)), ["jazz", "rock"]).tolist()
    ['jazz', 'rock']
    """
    y = column_or_1d(y, warn=True)
    check_consistent_length(tracks, y)
    check_classification_targets(y)
    return y


def check_segment_shape(
    tracks: np.ndarray, input_shape: tuple[int, ...], segment_shape: tuple[int, ...],
    *, n_features_in: int, estimator_name: str,
) -> None:  # fmt: skip
    """Refuse tracks whose segments are not the fitted ``segment_shape``, saying what to pass.

    Raises
    ------
    ValueError
        In scikit-learn's words for 2-D input to a 2-D-fitted estimator ("X has 3
        features, but ... is expecting 4 features as input"), else naming the shapes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((2, 5, 20, 13))
    >>> check_segment_shape(X, X.shape, (20, 13), n_features_in=5, estimator_name="CNN")
    """
    if tracks.shape[2:] == tuple(segment_shape):
        return
    frames, coefficients = segment_shape
    if len(input_shape) == 2 and coefficients > 1:
        raise ValueError(
            f"X is 2-D with {tracks.shape[2]} features, but {estimator_name} was fitted on "
            f"tracks of segments of {frames} frames x {coefficients} coefficients: pass X of "
            f"shape (n_tracks, n_segments, {frames}, {coefficients}) as MFCCSegmenter returns "
            f"it, or (n_samples, {frames}, {coefficients}) for one segment per sample."
        )
    if len(input_shape) == 2:
        raise ValueError(
            f"X has {tracks.shape[2]} features, but {estimator_name} is expecting "
            f"{n_features_in} features as input."
        )
    raise ValueError(
        f"X has segments of {tracks.shape[2]} frames x {tracks.shape[3]} coefficients, but "
        f"{estimator_name} was fitted on segments of {frames} x {coefficients}."
    )


def present_segments(tracks: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n_tracks, n_segments)``: True where a segment is not missing."""
    return ~np.isnan(tracks[:, :, 0, 0])


def window_segments(tracks: np.ndarray, frames: int, hop: int) -> np.ndarray:
    """Re-cut each track's frames into windows of ``frames`` frames, one every ``hop``.

    A track's segments are laid end to end in time and windows are taken from the start;
    frames left over at the end are dropped.  A window that reaches into a missing
    (all-NaN) segment is missing.

    Parameters
    ----------
    tracks : ndarray of shape (n_tracks, n_segments, n_frames, n_mfcc)
    frames, hop : int
        Window length and step, in frames.

    Returns
    -------
    ndarray of shape (n_tracks, n_windows, frames, n_mfcc)
        ``n_windows = 1 + (n_segments * n_frames - frames) // hop``.

    Raises
    ------
    ValueError
        If a window is longer than the track (``n_segments * n_frames`` frames).

    Examples
    --------
    >>> import numpy as np
    >>> tracks = np.zeros((2, 5, 130, 13), dtype=np.float32)
    >>> window_segments(tracks, 65, 65).shape  # 3 s halves of 6 s segments
    (2, 10, 65, 13)
    >>> window_segments(tracks, 130, 65).shape  # 6 s windows every 3 s
    (2, 9, 130, 13)
    """
    n_tracks, n_segments, n_frames, n_mfcc = tracks.shape
    total = n_segments * n_frames
    if frames > total:
        raise ValueError(
            f"segment_window asks for windows of {frames} frames, but a track has only "
            f"{total} ({n_segments} segments x {n_frames} frames)."
        )
    timeline = tracks.reshape(n_tracks, total, n_mfcc)
    views = np.lib.stride_tricks.sliding_window_view(timeline, frames, axis=1)[:, ::hop]
    windows = np.swapaxes(views, -1, -2).copy()  # C order, writable
    missing = np.isnan(windows).any(axis=(2, 3))
    windows[missing] = np.nan
    return windows


def expand_segments(
    tracks: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
    *, stacklevel: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """One row per present segment, with its track's label and weight.

    ``stacklevel`` is the warning's, counted from this function: 3 names the line that
    called the estimator method which called this one (one more for a method that
    scikit-learn's ``_fit_context`` wraps).

    Returns
    -------
    segments : ndarray of shape (n_present, n_frames, n_coefficients)
    labels : ndarray of shape (n_present,)
    weights : ndarray of shape (n_present,) or None

    Raises
    ------
    ValueError
        If no track has a present segment.

    Warns
    -----
    UserWarning
        Naming the tracks without a present segment (they are left out).

    Examples
    --------
    >>> import numpy as np
    >>> tracks = np.zeros((2, 3, 1, 1))
    >>> tracks[1, 2] = np.nan                    # track 1 misses its last segment
    >>> segments, labels, _ = expand_segments(tracks, np.array(["a", "b"]))
    >>> segments.shape, labels.tolist()
    ((5, 1, 1), ['a', 'a', 'a', 'b', 'b'])
    """
    present = present_segments(tracks)
    empty = np.flatnonzero(~present.any(axis=1))
    if empty.size == len(tracks):
        raise ValueError("No track has a present segment: every segment is NaN.")
    if empty.size:
        warnings.warn(
            f"Tracks {empty.tolist()[:20]} have no present segment and are left out of training.",
            UserWarning,
            stacklevel=stacklevel,
        )
    track_of_segment = np.nonzero(present)[0]
    weights = None if sample_weight is None else sample_weight[track_of_segment]
    return tracks[present], y[track_of_segment], weights


def aggregate_segments(
    segment_proba: np.ndarray, how: str, present: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Track probabilities from segment probabilities, and their plain mean.

    Parameters
    ----------
    segment_proba : ndarray of shape (n_tracks, n_segments, n_classes)
        NaN rows for missing segments.
    how : {"mean", "vote"}
        ``"mean"`` averages the present segments' probabilities; ``"vote"`` gives the
        fraction of present segments whose most likely class each class is.
    present : ndarray of shape (n_tracks, n_segments), default=None
        Which segments had features (:func:`present_segments` of the input).  A present
        segment whose probabilities are not finite (the model's arithmetic overflowed)
        then makes its track's row NaN instead of being taken for a missing segment.
        None: the segments whose probabilities are not NaN.

    Returns
    -------
    proba : ndarray of shape (n_tracks, n_classes)
        NaN for a track with no present segment, or with a present segment whose
        probabilities are not finite.
    mean_proba : ndarray of shape (n_tracks, n_classes)
        The mean, which :func:`predict_from_proba` uses to break vote ties.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[[0.6, 0.4], [0.1, 0.9], [np.nan, np.nan]]])
    >>> aggregate_segments(p, "vote")[0].tolist()
    [[0.5, 0.5]]
    >>> aggregate_segments(p, "mean")[0].round(2).tolist()
    [[0.35, 0.65]]
    >>> aggregate_segments(p, "mean", present=np.array([[True, True, True]]))[0].tolist()
    [[nan, nan]]
    """
    if present is None:
        present = ~np.isnan(segment_proba[..., 0])
    broken = (present & ~np.isfinite(segment_proba).all(axis=2)).any(axis=1)
    n_present = present.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # 0 / 0 for a track without present segments
        kept = np.where(present[..., np.newaxis], segment_proba, 0.0)
        mean_proba = kept.sum(axis=1) / n_present
        mean_proba[broken] = np.nan
        if how == "mean":
            return mean_proba, mean_proba
        winners = np.argmax(segment_proba, axis=2)  # a missing segment's is masked below
        votes = np.zeros_like(mean_proba)
        for k in range(votes.shape[1]):
            votes[:, k] = ((winners == k) & present).sum(axis=1)
        votes = votes / n_present
        votes[broken] = np.nan
        return votes, mean_proba


def predict_from_proba(
    classes: np.ndarray,
    proba: np.ndarray,
    tie_break: np.ndarray | None = None,
    *,
    n_present: np.ndarray | None = None,
) -> np.ndarray:
    """The most likely class of each row; ties go to the higher ``tie_break`` value.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
    proba : ndarray of shape (n_tracks, n_classes)
    tie_break : ndarray of shape (n_tracks, n_classes), default=None
    n_present : ndarray of shape (n_tracks,), default=None
        Present segments per track (``present_segments(tracks).sum(axis=1)``): tells a
        track without features from one whose probabilities are not finite.  None: a row
        with a NaN is taken for a track without features.

    Raises
    ------
    ValueError
        If a row is not finite: a track with no features has no genre, and neither has
        one whose probabilities overflowed (the message says which is which).

    Examples
    --------
    >>> import numpy as np
    >>> classes = np.array(["jazz", "rock"])
    >>> predict_from_proba(classes, np.array([[0.5, 0.5]]), np.array([[0.35, 0.65]])).tolist()
    ['rock']
    """
    not_finite = ~np.isfinite(proba).all(axis=1)
    empty = np.isnan(proba).any(axis=1) if n_present is None else np.asarray(n_present) == 0
    overflowed = np.flatnonzero(not_finite & ~empty)
    empty = np.flatnonzero(empty)
    problems = []
    if empty.size:
        problems.append(
            f"Tracks {empty.tolist()[:20]} have no present segment (all NaN), so "
            "they have no genre; predict_proba gives NaN rows for them."
        )
    if overflowed.size:
        problems.append(f"The model's output for tracks {overflowed.tolist()[:20]} is not "
                        f"finite: {OVERFLOW_REASON}.")
    if problems:
        raise ValueError(" ".join(problems))
    if tie_break is not None:
        # Vote fractions differ by at least 1/n_segments, so the small mean-probability
        # term only breaks ties between equal vote counts.
        proba = proba + 1e-6 * tie_break
    return classes[np.argmax(proba, axis=1)]


def split_tracks(
    y: np.ndarray, fraction: float, random_state: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of the tracks, stratified where possible.

    Every genre keeps at least one training track.

    Returns
    -------
    train, held_out : ndarray of int
        Sorted track indices.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array(["a", "b", "b", "b", "c", "c", "c"])
    >>> train, held_out = split_tracks(y, 0.5, random_state=0)
    >>> sorted(set(y[train].tolist()))
    ['a', 'b', 'c']
    """
    indices = np.arange(len(y))
    n_held_out = math.ceil(fraction * len(y))
    if len(y) < 2 or n_held_out >= len(y):
        raise ValueError(
            f"early_stopping needs at least 2 tracks and validation_fraction < 1 "
            f"leaving some for training; got {len(y)} tracks and "
            f"validation_fraction={fraction}."
        )
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    try:
        train, held_out = train_test_split(
            indices, test_size=n_held_out, stratify=y, random_state=seed
        )
    except ValueError:  # a genre with a single track, or too few held-out tracks
        train, held_out = train_test_split(indices, test_size=n_held_out, random_state=seed)
    for genre in np.setdiff1d(y[held_out], y[train]):
        move = held_out[np.flatnonzero(y[held_out] == genre)[0]]
        train, held_out = np.append(train, move), held_out[held_out != move]
    if len(held_out) == 0:
        raise ValueError(
            "early_stopping could not hold out a track without removing a genre from "
            "training; add tracks or set early_stopping=False."
        )
    return np.sort(train), np.sort(held_out)
