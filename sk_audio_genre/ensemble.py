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

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, check_random_state

from ._limits import MAX_ENSEMBLE_MEMBERS
from ._segments import predict_from_proba

__all__ = ["GenreVotingClassifier", "seed_ensemble"]


class GenreVotingClassifier(VotingClassifier):
    """scikit-learn's soft-voting ensemble, for genre classifiers: no features, no genre.

    ``VotingClassifier.predict`` takes the most probable class of the averaged
    probabilities, and the argmax of a track's all-NaN row (a file that gave no features)
    is the first genre.  Here such a track raises in :meth:`predict` (and so in
    ``score``), as a single genre classifier does, and keeps its NaN row in
    ``predict_proba``.  Everything else is ``VotingClassifier(voting="soft")``.

    Examples
    --------
    >>> from sk_audio_genre import CNNGenreClassifier
    >>> from sk_audio_genre.ensemble import GenreVotingClassifier
    >>> ensemble = GenreVotingClassifier([("a", CNNGenreClassifier()), ("b", CNNGenreClassifier())])
    >>> ensemble.voting
    'soft'
    """

    def __init__(self, estimators, *, voting: str = "soft", weights=None, n_jobs=None,
                 flatten_transform: bool = True, verbose: bool = False) -> None:
        super().__init__(estimators, voting=voting, weights=weights, n_jobs=n_jobs,
                         flatten_transform=flatten_transform, verbose=verbose)

    def fit(self, X, y, **fit_params) -> GenreVotingClassifier:
        if self.voting != "soft":
            raise ValueError(f"GenreVotingClassifier votes with probabilities: voting must be "
                             f"'soft', got {self.voting!r}.")
        return super().fit(X, y, **fit_params)

    def predict(self, X) -> np.ndarray:
        """The genre with the highest mean probability; raises for a track without features."""
        return predict_from_proba(self.classes_, self.predict_proba(X))

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


def seed_ensemble(
    estimator,
    n_members: int = 3,
    *,
    segment_windows: Sequence[tuple[int, int] | None] | None = None,
    random_state: int | np.random.RandomState | None = 0,
    n_jobs: int | None = None,
) -> VotingClassifier:
    """A soft-voting ensemble of ``n_members`` copies of ``estimator`` with different seeds.

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
    >>> from sk_audio_genre.ensemble import seed_ensemble
    >>> ensemble = seed_ensemble(CNNGenreClassifier(batch_norm=True), n_members=3)
    >>> [clf.random_state for _, clf in ensemble.estimators]
    [209652396, 398764591, 924231285]
    >>> pipe = make_pipeline(MFCCSegmenter(), SegmentScaler(), ensemble)
    >>> scales = seed_ensemble(CNNGenreClassifier(batch_norm=True),
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
