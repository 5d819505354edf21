"""sk_audio_genre: music genre classification as scikit-learn estimators.

>>> from sklearn.pipeline import make_pipeline
>>> from sk_audio_genre import MFCCSegmenter, SegmentScaler, CNNGenreClassifier
>>> pipe = make_pipeline(MFCCSegmenter(), SegmentScaler(), CNNGenreClassifier())
>>> [name for name, _ in pipe.steps]
['mfccsegmenter', 'segmentscaler', 'cnngenreclassifier']

The classifiers import TensorFlow when first used, not on ``import sk_audio_genre``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# TensorFlow's C++ log chatter (start-up notices, tf.data messages) stays off the
# console unless the user chose a level; it must be set before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .embedder import MusicnnEmbedder
from .preprocessing import SegmentScaler, SegmentStatistics
from .segment_classifier import SegmentClassifier
from .segmenter import MFCCSegmenter

__version__ = "0.1.0"

_LAZY = {
    "MLPGenreClassifier": "classifiers",
    "CNNGenreClassifier": "classifiers",
    "LSTMGenreClassifier": "classifiers",
    "datasets": "datasets",
    "ensemble": "ensemble",
    "seed_ensemble": "ensemble",
    "networks": "networks",
    "model_format": "model_format",
    "inference": "inference",
    "recipes": "recipes",
    "timeline": "timeline",
    "GenreTimelineDisplay": "timeline",
    "pretrained": "pretrained",
    "load_pretrained": "pretrained",
    "load_pipeline": "model_format",
    "save_pipeline": "model_format",
}

__all__ = [
    "CNNGenreClassifier",
    "GenreTimelineDisplay",
    "LSTMGenreClassifier",
    "MFCCSegmenter",
    "MLPGenreClassifier",
    "MusicnnEmbedder",
    "SegmentClassifier",
    "SegmentScaler",
    "SegmentStatistics",
    "datasets",
    "ensemble",
    "inference",
    "load_pipeline",
    "load_pretrained",
    "model_format",
    "networks",
    "pretrained",
    "recipes",
    "save_pipeline",
    "seed_ensemble",
    "timeline",
]


def __getattr__(name: str) -> Any:
    """Import the classifiers (and TensorFlow with them) on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'sk_audio_genre' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module if name == _LAZY[name] else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
