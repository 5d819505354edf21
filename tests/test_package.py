"""Package-level behaviour: quiet, light imports and TensorFlow state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import sk_audio_genre


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )


def test_public_api():
    assert set(sk_audio_genre.__all__) >= {
        "MFCCSegmenter",
        "SegmentScaler",
        "MLPGenreClassifier",
        "CNNGenreClassifier",
        "LSTMGenreClassifier",
    }
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sk_audio_genre.Nope  # noqa: B018


def test_import_is_quiet_and_does_not_load_tensorflow():
    result = _run(
        "import sys, sk_audio_genre\n"
        "from sk_audio_genre import MFCCSegmenter, SegmentScaler, datasets\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    assert result.stdout == "" and result.stderr == ""


def test_first_fit_keeps_tensorflow_quiet():
    result = _run(
        "import numpy as np\n"
        "from sk_audio_genre import LSTMGenreClassifier\n"
        "X = np.random.default_rng(0).normal(size=(6, 2, 20, 13))\n"
        "clf = LSTMGenreClassifier(epochs=1, lstm_units=(4,)).fit(X, list('ababab'))\n"
        "clf.predict(X)\n"
    )
    assert result.stdout == ""
    assert result.stderr == "", result.stderr


def test_unseeded_fit_works_after_a_seeded_one():
    # scikeras' seeding context used to leave TensorFlow's op determinism on.
    _run(
        "import numpy as np\n"
        "from sk_audio_genre import CNNGenreClassifier\n"
        "X = np.random.default_rng(0).normal(size=(6, 2, 20, 13))\n"
        "y = list('ababab')\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2), random_state=0).fit(X, y)\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2)).fit(X, y)\n"
    )


def test_batch_norm_inference_matches_training_on_small_data():
    from sk_audio_genre import CNNGenreClassifier

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 8)
    X = rng.normal(size=(16, 2, 20, 13)).astype(np.float32)
    X[y == "b"] += 1.0
    clf = CNNGenreClassifier(
        epochs=15, batch_size=4, filters=(4, 4, 4), batch_norm=True, random_state=0
    ).fit(X, y)  # 120 steps, a GTZAN-subset-sized run
    segments = X.reshape(-1, 20, 13, 1)
    conv, norm = clf.model_.layers[:2]
    batch_variance = np.asarray(conv(segments)).var(axis=(0, 1, 2))
    # inference uses the moving variance: it must have converged to the data's
    np.testing.assert_allclose(np.asarray(norm.moving_variance), batch_variance, rtol=0.3)
