"""Ready-made genre pipelines by name: what ``sk-audio-genre train --model NAME`` fits.

``"musicnn"`` is the shipped model's recipe: musicnn's pretrained embedding with MFCC
statistics beside it, then logistic regression; it needs no GPU and a few minutes, and is
the best choice for tens to hundreds of tracks (``benchmarks/heads.py``).  ``"cnn"``,
``"mlp"`` and ``"lstm"`` are the original course's networks trained from scratch on MFCC segments.

This module is the one home of these choices (the benchmarks and the command line read
them here).  Importing it imports neither TensorFlow nor the network weights.
"""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from .embedder import PATCH_SECONDS, MusicnnEmbedder
from .ensemble import seeded_ensemble
from .open_set import OpenSetClassifier
from .preprocessing import SegmentScaler, SegmentStatistics
from .segmenter import MFCCSegmenter

__all__ = ["LEARNING_RATES", "NETWORKS", "RECIPES", "build_recipe", "musicnn_recipe"]

#: The original course's networks by command-line name.
NETWORKS = {"cnn": "CNNGenreClassifier", "mlp": "MLPGenreClassifier",
            "lstm": "LSTMGenreClassifier"}  # fmt: skip
#: Adam's learning rate for each network when ``train`` is not told one.  The library's
#: classifiers default to the original course's 1e-4; the command line trains 30 epochs, in which the
#: CNN and LSTM need 1e-3 to converge on GTZAN-sized data (``benchmarks/compare.py``).
LEARNING_RATES = {"cnn": 1e-3, "mlp": 1e-4, "lstm": 1e-3}
#: Every recipe name, the default first.
RECIPES = ("musicnn", *NETWORKS)
#: Patches (and MFCC segments) the musicnn recipe analyses: 10 x 2.992 s, the middle 29.92 s.
N_PATCHES = 10


def musicnn_window() -> float:
    """Seconds the musicnn recipe (and ``sk-audio-genre tags``) analyses: 29.92."""
    return round(N_PATCHES * PATCH_SECONDS, 6)


def musicnn_recipe(*, n_jobs: int | None = None) -> Any:
    """musicnn embedding + MFCC statistics -> ``StandardScaler`` -> open-set logistic regression.

    A ``FeatureUnion`` of musicnn's mean penultimate embedding of the middle 29.92 s (ten
    3 s patches) and the means and standard deviations of 13 MFCCs over the same window,
    cut into ten segments aligned with the patches; then a logistic regression wrapped in
    an :class:`~sk_audio_genre.open_set.OpenSetClassifier`, which answers ``"unknown"``
    for a track unlike every training track.  The shipped model is this recipe trained on
    GTZAN.

    Examples
    --------
    >>> from sk_audio_genre.recipes import musicnn_recipe
    >>> [name for name, _ in musicnn_recipe().steps]
    ['features', 'scale', 'classify']
    """
    window = musicnn_window()
    segments = MFCCSegmenter(n_segments=N_PATCHES, segment_duration=PATCH_SECONDS,
                             offset="center", n_jobs=n_jobs)
    features = FeatureUnion([
        ("musicnn", MusicnnEmbedder(offset="center", duration=window, n_jobs=n_jobs)),
        ("mfcc", Pipeline([("segments", segments), ("statistics", SegmentStatistics())])),
    ])  # fmt: skip
    return Pipeline([
        ("features", features),
        ("scale", StandardScaler()),
        ("classify", OpenSetClassifier(LogisticRegression(max_iter=5000))),
    ])  # fmt: skip


def network_recipe(
    name: str,
    *,
    epochs: int = 30,
    learning_rate: float | None = None,
    scale: bool = True,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    verbose: int = 0,
    members: int = 1,
) -> Any:
    """MFCCSegmenter [-> SegmentScaler] -> one of the original course's networks (or an ensemble of them).

    With ``members`` > 1 the last step is a soft-voting ensemble of that many networks
    (:func:`~sk_audio_genre.ensemble.seeded_ensemble`), seeded from ``random_state``.
    """
    from . import classifiers  # here, not above: it imports TensorFlow (seconds)

    clf = getattr(classifiers, NETWORKS[name])(
        epochs=epochs,
        learning_rate=LEARNING_RATES[name] if learning_rate is None else learning_rate,
        random_state=random_state,
        verbose=verbose,
    )
    steps = [("mfcc", MFCCSegmenter(offset="center", n_jobs=n_jobs))]
    if scale:
        steps.append(("scale", SegmentScaler()))
    if members > 1:
        clf = seeded_ensemble(clf, n_members=members, random_state=random_state)
    steps.append(("clf", clf))
    return Pipeline(steps)


def build_recipe(name: str, **options: Any) -> Any:
    """The unfitted pipeline of recipe ``name`` (one of :data:`RECIPES`).

    ``musicnn`` takes only ``n_jobs``; the networks take :func:`network_recipe`'s options.

    Raises
    ------
    ValueError
        For an unknown name, or options the recipe does not take.
    """
    if name == "musicnn":
        unused = sorted(k for k, v in options.items() if k != "n_jobs" and v is not None)
        if unused:
            raise ValueError(f"the musicnn recipe takes no {unused} (it trains no network).")
        return musicnn_recipe(n_jobs=options.get("n_jobs"))
    if name not in NETWORKS:
        raise ValueError(f"unknown recipe {name!r}; choose from {list(RECIPES)}.")
    return network_recipe(name, **{k: v for k, v in options.items() if v is not None})
