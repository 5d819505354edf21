"""Ensembles of genre classifiers: several networks that vote with their probabilities.

With a few hundred tracks, one network's accuracy depends a good deal on its random
initialisation; averaging the track probabilities of a few networks that differ only in
their seed removes much of that variance.  The ensemble is scikit-learn's own
:class:`~sklearn.ensemble.VotingClassifier` with ``voting="soft"``: it takes the same
``(n_tracks, n_segments, n_frames, n_mfcc)`` input as its members, so it is the last step of
a Pipeline like any single classifier, and
:func:`~sk_audio_genre.model_format.save_pipeline` saves it without pickling.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, check_random_state

from ._limits import MAX_ENSEMBLE_MEMBERS
from ._segments import predict_from_proba

__all__ = ["GenreVotingClassifier", "seeded_ensemble", "seed_ensemble"]


class GenreVotingClassifier(VotingClassifier):
    """scikit-learn's soft-voting ensemble for genre classifiers: no features, no genre.

    :class:`~sklearn.ensemble.VotingClassifier` with ``voting="soft"`` averages its
    members' track probabilities, and its ``predict`` takes the most probable class of the
    average.  The average of a track that gave no features (a file that could not be read,
    a track of missing segments) is a row of NaN, whose argmax is the first genre: a genre
    invented for a track nobody heard.  Here such a track raises in :meth:`predict` (and so
    in ``score``), as a single genre classifier does, and keeps its NaN row in
    ``predict_proba``.  Everything else is ``VotingClassifier(voting="soft")``.

    :func:`seeded_ensemble` builds one of differently seeded copies of a classifier; a saved
    ``VotingClassifier`` loads as this class
    (:func:`~sk_audio_genre.model_format.load_pipeline`).

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The members: genre classifiers with ``predict_proba`` that take the same input,
        such as :class:`~sk_audio_genre.CNNGenreClassifier` or
        :class:`~sk_audio_genre.SegmentClassifier`.  Cloned in ``fit``.
    voting : {"soft"}, default="soft"
        Only soft voting: the members' probabilities are averaged.
    weights : array-like of shape (n_members,), default=None
        Weights of the members' probabilities in the average; None weighs them equally.
    n_jobs : int, default=None
        Members fitted in parallel (joblib).
    flatten_transform : bool, default=True
        As in :class:`~sklearn.ensemble.VotingClassifier`.
    verbose : bool, default=False
        Print the time each member takes to fit.

    Attributes
    ----------
    estimators_ : list of classifiers
        The fitted members.
    named_estimators_ : Bunch
        The fitted members by name.
    le_ : LabelEncoder
        The genres' encoder (the members are trained on its codes).
    classes_ : ndarray of shape (n_classes,)
        The genres, in the order of ``predict_proba``'s columns.

    See Also
    --------
    seeded_ensemble : Seeded copies of one classifier as a GenreVotingClassifier.
    sklearn.ensemble.VotingClassifier : What this class specialises.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre import SegmentClassifier
    >>> from sk_audio_genre.ensemble import GenreVotingClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["jazz", "rock"] * 10)
    >>> X = rng.normal(size=(20, 3, 1, 4)) + 2 * (y == "rock")[:, None, None, None]
    >>> ensemble = GenreVotingClassifier([("mean", SegmentClassifier()),
    ...                                   ("vote", SegmentClassifier(aggregate="vote"))])
    >>> ensemble.fit(X, y).predict(X[:4]).tolist()
    ['jazz', 'rock', 'jazz', 'rock']
    >>> unheard = np.full((1, 3, 1, 4), np.nan)             # a track without features
    >>> ensemble.predict_proba(unheard)
    array([[nan, nan]])
    >>> ensemble.predict(unheard)
    Traceback (most recent call last):
    ...
    ValueError: Tracks [0] have no present segment...
    """

    def __init__(self, estimators, *, voting: str = "soft", weights=None, n_jobs=None,
                 flatten_transform: bool = True, verbose: bool = False) -> None:
        super().__init__(estimators, voting=voting, weights=weights, n_jobs=n_jobs,
                         flatten_transform=flatten_transform, verbose=verbose)

    def fit(self, X, y, **fit_params) -> GenreVotingClassifier:
        """Fit clones of the members on ``X`` and ``y`` (see ``VotingClassifier.fit``).

        Parameters
        ----------
        X : array-like
            What the members take, e.g. tracks ``(n_tracks, n_segments, n_frames, n_mfcc)``.
        y : array-like of shape (n_tracks,)
            Genre of each track.
        **fit_params : dict
            Passed to the members' ``fit`` (``sample_weight``).

        Returns
        -------
        self : GenreVotingClassifier
            The fitted ensemble.
        """
        if self.voting != "soft":
            raise ValueError(f"GenreVotingClassifier votes with probabilities: voting must be "
                             f"'soft', got {self.voting!r}.")
        return super().fit(X, y, **fit_params)

    def predict(self, X) -> np.ndarray:
        """The genre with the highest mean probability of each track.

        Parameters
        ----------
        X : array-like
            What the members take.

        Returns
        -------
        y_pred : ndarray of shape (n_tracks,)
            The genres.

        Raises
        ------
        ValueError
            If a track has no features (its mean probabilities are NaN).
        """
        return predict_from_proba(self.classes_, self.predict_proba(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Track accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like
            What the members take.
        y : array-like of shape (n_tracks,)
            True genres.
        sample_weight : array-like of shape (n_tracks,), default=None
            Track weights.

        Returns
        -------
        score : float
            Fraction of tracks whose genre is predicted correctly.

        Raises
        ------
        ValueError
            If a track has no features.
        """
        return super().score(X, y, sample_weight=sample_weight)

    @classmethod
    def from_fitted(cls, members: Sequence[tuple[str, Any]], classes, *,
                    weights=None, flatten_transform: bool = True) -> GenreVotingClassifier:
        """The ensemble of already fitted ``members`` (as its ``fit`` leaves them: trained on
        the label-encoded ``classes``), without training; loading a saved model uses it."""
        ensemble = cls([(name, clone(member)) for name, member in members], weights=weights,
                       flatten_transform=flatten_transform)
        ensemble.le_ = LabelEncoder().fit(np.asarray(classes))
        ensemble.classes_ = ensemble.le_.classes_
        ensemble.estimators_ = [member for _, member in members]
        ensemble.named_estimators_ = Bunch(**dict(members))
        return ensemble


def seeded_ensemble(
    estimator,
    n_members: int = 3,
    *,
    segment_windows: Sequence[tuple[int, int] | None] | None = None,
    random_state: int | np.random.RandomState | None = 0,
    n_jobs: int | None = None,
) -> VotingClassifier:
    """A soft-voting ensemble of ``n_members`` copies of ``estimator``, each with its own seed.

    (Called ``seed_ensemble`` before; that name still works and warns.)

    Optionally the members also look at the music at different time scales: member ``i``
    gets ``segment_window=segment_windows[i % len(segment_windows)]`` (see the
    classifiers' ``segment_window``).  On GTZAN, three CNNs on 6 s segments, their 3 s
    halves and overlapping 6 s windows were as good as or better than a logistic
    regression on MFCC statistics on every fold of a 10-fold cross-validation (0.676
    against 0.637; an earlier shipped model), where a single CNN lost on three.

    Parameters
    ----------
    estimator : genre classifier
        The member template, e.g. ``CNNGenreClassifier(batch_norm=True)``; each member is
        a clone with its own ``random_state``.
    n_members : int, default=3
        Number of networks, 1 to 100 (at 100 the seed's effect is down to a tenth of
        one network's spread).  Training and prediction time grow linearly with it.
    segment_windows : sequence of (int, int) or None, default=None
        ``segment_window`` values given to the members in turn; None leaves the
        template's.
    random_state : int, RandomState instance or None, default=0
        Draws the members' seeds; an int makes the ensemble reproducible, None gives
        every member an unseeded initialisation.
    n_jobs : int or None, default=None
        Members trained in parallel by ``VotingClassifier`` (joblib).

    Returns
    -------
    GenreVotingClassifier
        Unfitted (scikit-learn's soft ``VotingClassifier``, refusing to invent a genre for
        a track without features), members named ``"member0"``, ``"member1"``, ...

    Raises
    ------
    ValueError
        If ``n_members`` is not a positive int of at most 100.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sk_audio_genre import CNNGenreClassifier, MFCCSegmenter, SegmentScaler
    >>> from sk_audio_genre.ensemble import seeded_ensemble
    >>> ensemble = seeded_ensemble(CNNGenreClassifier(batch_norm=True), n_members=3)
    >>> [clf.random_state for _, clf in ensemble.estimators]
    [209652396, 398764591, 924231285]
    >>> pipe = make_pipeline(MFCCSegmenter(), SegmentScaler(), ensemble)
    >>> scales = seeded_ensemble(CNNGenreClassifier(batch_norm=True),
    ...                        segment_windows=[None, (65, 65), (130, 65)])
    >>> [clf.segment_window for _, clf in scales.estimators]
    [None, (65, 65), (130, 65)]
    """
    if (isinstance(n_members, bool) or not isinstance(n_members, Integral)
            or not 1 <= n_members <= MAX_ENSEMBLE_MEMBERS):
        raise ValueError(
            f"n_members must be a positive int, at most {MAX_ENSEMBLE_MEMBERS} (averaging k "
            "networks divides the variance of the seed's effect by k, while time grows as k: "
            f"100 leave a tenth of one network's spread); got {n_members!r}."
        )
    if random_state is None:
        seeds = [None] * n_members
    else:
        rng = check_random_state(random_state)
        seeds = [int(seed) for seed in rng.randint(np.iinfo(np.int32).max, size=n_members)]
    windows = [None] if segment_windows is None else list(segment_windows)
    if not windows:
        raise ValueError("segment_windows must be None or a non-empty sequence.")
    members = []
    for index, seed in enumerate(seeds):
        member = clone(estimator).set_params(random_state=seed)
        if segment_windows is not None:
            window = windows[index % len(windows)]
            member.set_params(segment_window=None if window is None else tuple(window))
        members.append((f"member{index}", member))
    return GenreVotingClassifier(members, n_jobs=n_jobs)


def seed_ensemble(*args: Any, **kwargs: Any) -> GenreVotingClassifier:
    """Deprecated name of :func:`seeded_ensemble` (which read as "the original course's
    ensemble", where the course had none); will be removed in a future release.

    Returns
    -------
    GenreVotingClassifier
        What :func:`seeded_ensemble` returns for the same arguments.
    """
    warnings.warn("seed_ensemble was renamed seeded_ensemble; seed_ensemble will be "
                  "removed in a future release.", FutureWarning, stacklevel=2)
    return seeded_ensemble(*args, **kwargs)
