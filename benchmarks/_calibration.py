"""Top-label calibration of multi-class probabilities: does "0.8" mean right 80 % of the time?"""

from __future__ import annotations

import numpy as np

#: Equal-width confidence bins of the expected calibration error and reliability diagram.
N_BINS = 15


def top_label(true_index: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, correct)``: each row's highest probability, and whether it was right."""
    return proba.max(axis=1), proba.argmax(axis=1) == np.asarray(true_index)


def expected_calibration_error(true_index, proba, n_bins: int = N_BINS) -> float:
    """Top-label ECE: the mean over equal-width confidence bins of ``|accuracy - confidence|``,
    weighted by the bin's share of the rows (Guo et al. 2017).

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error([0, 1, 0, 0], proba), 3)  # 0.9 right half the time
    0.4
    """
    confidence, correct = top_label(true_index, proba)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        members = bins == b
        error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)
