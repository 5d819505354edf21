"""End to end on the real GTZAN tracks in ../shared/data (skipped without them, failed in CI)."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline, make_pipeline

from sk_audio_genre import (
    CNNGenreClassifier,
    LSTMGenreClassifier,
    MFCCSegmenter,
    MLPGenreClassifier,
    SegmentScaler,
)
from sk_audio_genre.datasets import load_gtzan


@pytest.fixture(scope="module")
def gtzan(gtzan_root):
    return load_gtzan(gtzan_root)


@pytest.fixture(scope="module")
def features(gtzan):
    """Seed features of three tracks per genre (30 tracks)."""
    keep = np.concatenate([np.flatnonzero(gtzan.genres == g)[:3] for g in gtzan.target_names])
    return MFCCSegmenter().fit_transform(gtzan.paths[keep]), gtzan.genres[keep], gtzan.paths[keep]


def test_the_issue_example_runs_as_written(gtzan_root):
    data = load_gtzan(gtzan_root)
    pipe = Pipeline(
        [("mfcc", MFCCSegmenter()), ("clf", CNNGenreClassifier(epochs=30, random_state=0))]
    )
    pipe.fit(data.paths, data.genres)
    song = str(gtzan_root / "jazz" / "jazz.00054.wav")
    pred = pipe.predict([song])
    assert pred.shape == (1,) and pred.dtype.kind == "U"
    assert pred[0] == pipe.classes_[pipe.predict_proba([song])[0].argmax()]
    # trained on it, with 30 epochs: the training tracks are learned
    assert pipe.score(data.paths, data.genres) > 0.9


def test_seed_features_on_real_tracks(features):
    X, y, _ = features
    assert X.shape == (30, 5, 130, 13) and X.dtype == np.float32
    assert not np.isnan(X).any()


@pytest.mark.parametrize("cls", [MLPGenreClassifier, CNNGenreClassifier, LSTMGenreClassifier])
def test_each_seed_network_trains_on_real_features(cls, features):
    X, y, _ = features
    clf = cls(epochs=2, random_state=0).fit(X, y)
    assert clf.model_.count_params() == {
        MLPGenreClassifier: 1_014_218,
        CNNGenreClassifier: 298_186,
        LSTMGenreClassifier: 57_802,
    }[cls]
    assert len(clf.history_["loss"]) == 2
    proba = clf.predict_proba(X[:4])
    np.testing.assert_array_equal(clf.predict(X[:4]), clf.classes_[proba.argmax(axis=1)])


def test_cross_validation_by_track_on_real_features(features):
    X, y, _ = features
    result = cross_validate(
        make_pipeline(SegmentScaler(), CNNGenreClassifier(epochs=3, random_state=0)),
        X,
        y,
        cv=3,
        scoring=["accuracy", "f1_macro"],
    )
    # scored by track: 10 test tracks a fold (by segment it would be 50), so tenths
    n_test = len(y) // 3
    np.testing.assert_allclose(result["test_accuracy"] * n_test,
                               np.round(result["test_accuracy"] * n_test), atol=1e-9)
    assert result["test_f1_macro"].shape == (3,)


def test_saved_pipeline_predicts_real_files_identically(features, tmp_path):
    X, y, paths = features
    pipe = make_pipeline(MFCCSegmenter(), SegmentScaler(), MLPGenreClassifier(epochs=2, random_state=0))
    pipe.fit(paths, y)
    joblib.dump(pipe, tmp_path / "genre.joblib")
    loaded = joblib.load(tmp_path / "genre.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(paths[:5]), pipe.predict_proba(paths[:5]))
