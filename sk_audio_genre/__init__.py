"""sk_audio_genre: music genre classification as scikit-learn estimators.

>>> from sklearn.pipeline import make_pipeline
>>> from sk_audio_genre import MFCCSegmenter, SegmentScaler, CNNGenreClassifier
>>> pipe = make_pipeline(MFCCSegmenter(), SegmentScaler(), CNNGenreClassifier())
>>> [name for name, _ in pipe.steps]
['mfccsegmenter', 'segmentscaler', 'cnngenreclassifier']

The top level holds the estimators, :func:`load_pretrained` and the classes they return
(:class:`FileReport`); everything else lives in its module (``sk_audio_genre.datasets``,
``sk_audio_genre.model_format``, ...), imported by name.  The Keras classifiers import
TensorFlow when first used, not on ``import sk_audio_genre``, and importing the package
changes nothing in the process (no environment variable, no file descriptor).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ._version import __version__
from .embedder import MusicnnEmbedder
from .preprocessing import SegmentScaler, SegmentStatistics
from .reading import FileReport
from .segment_classifier import SegmentClassifier
from .segmenter import MFCCSegmenter

#: Public names imported on first access: the Keras classifiers import TensorFlow (seconds).
_LAZY = {
    "MLPGenreClassifier": "classifiers",
    "CNNGenreClassifier": "classifiers",
    "LSTMGenreClassifier": "classifiers",
    "GenreVotingClassifier": "ensemble",
    "load_pretrained": "pretrained",
}
#: Names the top level used to give, each still found (with a FutureWarning) in its module.
_MOVED = {
    "load_pipeline": "model_format",
    "save_pipeline": "model_format",
    "seed_ensemble": "ensemble",
    "GenreTimelineDisplay": "timeline",
}

__all__ = [
    "CNNGenreClassifier",
    "FileReport",
    "GenreVotingClassifier",
    "LSTMGenreClassifier",
    "MFCCSegmenter",
    "MLPGenreClassifier",
    "MusicnnEmbedder",
    "SegmentClassifier",
    "SegmentScaler",
    "SegmentStatistics",
    "__version__",
    "load_pretrained",
]


def __getattr__(name: str) -> Any:
    """Import the classifiers (and TensorFlow with them) on first access."""
    if name in _MOVED:
        module = _MOVED[name]
        warnings.warn(
            f"sk_audio_genre.{name} is deprecated and will be removed; use "
            f"sk_audio_genre.{module}.{name}.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{module}", __name__), name)
    if name not in _LAZY:
        raise AttributeError(f"module 'sk_audio_genre' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
