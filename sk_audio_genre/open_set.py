"""OpenSetClassifier: a genre classifier that can answer "none of these".

A closed-set classifier gives every input one of its classes: a podcast, white noise or a
genre it never heard comes back as "pop 0.29".  Its confidence does not tell them apart
(``benchmarks/open_set.py``: the top probability separates such inputs from music far
worse than a distance does).  :class:`OpenSetClassifier` measures instead how far an input
lies from the training data, in the features the classifier sees, and answers
``unknown_label`` beyond a threshold calibrated on held-out training tracks.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

# scikit-learn has no public API for validating an estimator's parameters against
# constraints; its own estimators and most third-party ones use these
# (tests/test_dependency_contracts.py names them if an upgrade changes them).
from sklearn.base import _fit_context  # noqa: E402, I001
from sklearn.utils._param_validation import HasMethods, Interval  # noqa: E402

__all__ = ["OpenSetClassifier"]


class OpenSetClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Wrap a classifier so that it answers ``unknown_label`` for inputs unlike its training data.

    The *novelty* of an input is its Mahalanobis distance to the nearest class mean, in
    the features the wrapped classifier sees, with one covariance shared by all classes
    (Ledoit-Wolf shrinkage, so that a few dozen tracks in hundreds of dimensions give a
    well-conditioned estimate).  ``fit`` holds out training tracks fold by fold (``cv``),
    measures each held-out track's distance to the others, and sets the threshold that
    calls ``false_rejection_rate`` of them unknown; then it fits the classifier and the
    class means and covariance on every track.

    :meth:`predict` gives ``unknown_label`` above the threshold and the classifier's genre
    otherwise; :meth:`predict_proba` stays over the known classes (the nearest genres);
    :meth:`novelty_score` is the distance divided by the threshold (above 1: unknown).

    Parameters
    ----------
    estimator : classifier, default=None
        Any scikit-learn classifier with ``predict_proba``, or a ``Pipeline`` ending in
        one; None means ``LogisticRegression(max_iter=5000)``.  Cloned in ``fit``.  For a
        Pipeline, distances are measured in the output of all its steps but the last;
        otherwise in ``X``.  Track arrays (more than 2 dimensions, as
        ``MFCCSegmenter`` gives) are averaged over their segments and frames first.
    false_rejection_rate : float, default=0.05
        Fraction of held-out training tracks the threshold calls unknown: the rate at which
        music like the training music is wrongly called unknown, if new tracks are as far
        from the training tracks as held-out ones are from the rest.  Music of new artists
        lies farther: hold out by artist (``cv``) where you can.
    cv : int, cross-validation generator or iterable, default=5
        How training tracks are held out to calibrate the threshold: an int is a
        stratified ``KFold`` with that many folds; pass artist-disjoint splits (such as
        ``sk_audio_genre.datasets.fault_filtered_cv``) where you have them.
    unknown_label : str or int, default="unknown"
        What :meth:`predict` answers for an input unlike the training data.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
        The known classes, in the order of :meth:`predict_proba`'s columns.
    means_ : ndarray of shape (n_classes, n_features)
        Each class's mean, in the space distances are measured in.
    precision_ : ndarray of shape (n_features, n_features)
        The inverse of the shared, shrunk within-class covariance.
    threshold_ : float
        The distance beyond which an input is unknown.
    held_out_distances_ : ndarray of shape (n_samples,)
        Each training track's distance when it was held out (the calibration data).
    n_features_in_ : int
        The wrapped classifier's ``n_features_in_`` (the features of ``X`` as ``fit`` saw
        them); where it has none (a Pipeline that reads audio files), the number of
        features distances are measured in.

    See Also
    --------
    sklearn.covariance.LedoitWolf : The covariance estimate.

    Notes
    -----
    "Unknown" means "unlike the training tracks in these features", not "of another
    genre": music of an untrained genre that sounds like a trained one gets that genre.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre.open_set import OpenSetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (30, 4)), rng.normal(6, 1, (30, 4))])
    >>> y = np.array(["jazz"] * 30 + ["rock"] * 30)
    >>> clf = OpenSetClassifier(false_rejection_rate=0.05).fit(X, y)
    >>> clf.predict([[0, 0, 0, 0], [6, 6, 6, 6], [40, -40, 40, -40]]).tolist()
    ['jazz', 'rock', 'unknown']
    >>> bool(clf.novelty_score([[40, -40, 40, -40]])[0] > 1)
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "false_rejection_rate": [Interval(Real, 0, 0.5, closed="left")],
        "cv": ["cv_object"],
        "unknown_label": [str, Integral],
    }

    def __init__(self, estimator: Any = None, *, false_rejection_rate: float = 0.05,
                 cv: Any = 5, unknown_label: str | int = "unknown") -> None:
        self.estimator = estimator
        self.false_rejection_rate = false_rejection_rate
        self.cv = cv
        self.unknown_label = unknown_label

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any) -> OpenSetClassifier:
        """Fit the classifier, the class means and covariance, and calibrate the threshold.

        Parameters
        ----------
        X : array-like
            What the classifier takes (features, or audio file paths for a Pipeline that
            reads them).
        y : array-like of shape (n_samples,)
            The class of each sample.

        Returns
        -------
        self : OpenSetClassifier
        """
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        estimator = LogisticRegression(max_iter=5000) if self.estimator is None else self.estimator
        self.estimator_ = clone(estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        if self.unknown_label in set(np.asarray(self.classes_).tolist()):
            raise ValueError(f"unknown_label={self.unknown_label!r} is one of the classes; "
                             "choose a label that is not.")
        Z = self._embedding(X)
        self.n_features_in_ = getattr(self.estimator_, "n_features_in_", Z.shape[1])
        held_out = np.full(len(Z), np.nan)
        for train, test in _calibration_folds(self.cv, y).split(Z, y):
            means, precision = _class_statistics(Z[train], y[train])
            held_out[test] = _distances(Z[test], means, precision)
        if np.isnan(held_out).any():
            raise ValueError("cv must hold out every training sample once to calibrate the "
                             "threshold; some samples were never held out.")
        self.held_out_distances_ = held_out
        self.threshold_ = float(np.quantile(held_out, 1 - self.false_rejection_rate,
                                            method="higher"))
        self.means_, self.precision_ = _class_statistics(Z, y, classes=self.classes_)
        return self

    def novelty_score(self, X: Any) -> np.ndarray:
        """How unlike the training data each input is: its distance over the threshold.

        Returns
        -------
        ndarray of shape (n_samples,)
            Above 1: :meth:`predict` answers ``unknown_label``.  NaN where the input has
            no features.
        """
        check_is_fitted(self)
        return _distances(self._embedding(X), self.means_, self.precision_) / self.threshold_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of the known classes (the nearest genres, even for unknown inputs).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The class of each input, or ``unknown_label`` where :meth:`novelty_score` > 1.

        Returns
        -------
        ndarray of shape (n_samples,)
            Of the classes' dtype, or ``object`` when ``unknown_label`` is of another kind.
        """
        check_is_fitted(self)
        known = np.asarray(self.estimator_.predict(X))
        labels = known.astype(object)
        labels[self.novelty_score(X) > 1] = self.unknown_label
        return np.asarray(labels.tolist(), dtype=_label_dtype(known, self.unknown_label))

    def _embedding(self, X: Any) -> np.ndarray:
        """The 2-D features distances are measured in (see ``estimator``)."""
        if isinstance(self.estimator_, Pipeline) and len(self.estimator_.steps) > 1:
            X = self.estimator_[:-1].transform(X)
        Z = np.asarray(X, dtype=np.float64)
        if Z.ndim > 2:  # a track array: the mean of its (present) segments' frames
            Z = np.nanmean(Z.reshape(len(Z), -1, Z.shape[-1]), axis=1)
        if Z.ndim != 2:
            raise ValueError(f"OpenSetClassifier measures distances in 2-D features; the "
                             f"classifier's input has shape {Z.shape}.")
        return Z

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        inner = LogisticRegression() if self.estimator is None else self.estimator
        tags.input_tags = inner.__sklearn_tags__().input_tags
        return tags


def _calibration_folds(cv: Any, y: np.ndarray) -> Any:
    """The folds that hold out each training sample once; an integer is capped by the data.

    An integer ``cv`` means stratified folds, as in scikit-learn, but no more folds than the
    largest class has samples (stratification needs that many), and plain folds when every
    class has a single sample: a small training set still gets a calibrated threshold.
    """
    if not isinstance(cv, Integral):
        return check_cv(cv, y, classifier=True)
    largest_class = int(np.unique(y, return_counts=True)[1].max())
    if largest_class >= 2:
        return StratifiedKFold(min(cv, largest_class))
    return KFold(min(cv, len(y)))


def _class_statistics(Z: np.ndarray, y: np.ndarray, classes: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the precision of the shared within-class covariance (Ledoit-Wolf)."""
    classes = np.unique(y) if classes is None else classes
    present = [c for c in classes if np.any(y == c)]
    means = np.stack([Z[y == c].mean(axis=0) for c in present])
    centred = np.concatenate([Z[y == c] - m for c, m in zip(present, means, strict=True)])
    covariance = LedoitWolf().fit(centred).covariance_
    mean_variance = np.trace(covariance) / len(covariance)
    if not mean_variance > 0:
        # one track per class (or identical tracks): no spread within a class to measure,
        # so distances are measured in units of the spread of all tracks, or of 1
        spread = float(Z.var(axis=0).mean())
        covariance = (spread if spread > 0 else 1.0) * np.eye(len(covariance))
        mean_variance = np.trace(covariance) / len(covariance)
    # a ridge of 1e-6 of the mean variance keeps the inverse finite when a few tracks give a
    # singular estimate; it changes nothing measurable otherwise
    return means, np.linalg.inv(covariance + 1e-6 * mean_variance * np.eye(len(covariance)))


def _distances(Z: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Each row's Mahalanobis distance to the nearest mean."""
    differences = Z[:, np.newaxis, :] - means[np.newaxis]
    squared = np.einsum("nci,ij,ncj->nc", differences, precision, differences)
    return np.sqrt(np.maximum(squared.min(axis=1), 0))


def _label_dtype(known: np.ndarray, unknown_label: Any) -> Any:
    """The classes' own dtype when the unknown label is of the same kind, else object."""
    if known.dtype.kind == "U" and isinstance(unknown_label, str):
        return np.result_type(known.dtype, np.asarray(unknown_label).dtype)
    if known.dtype.kind in "iu" and isinstance(unknown_label, Integral):
        return known.dtype
    return object
