"""SegmentClassifier: any scikit-learn classifier trained on segments, predicting tracks."""

from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

from sk_audio_genre import SegmentClassifier


@pytest.fixture(scope="module")
def tracks():
    """12 tracks x 4 segments of 1 x 6 values; the label shifts every segment's mean."""
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 4)
    shift = {"a": -2.0, "b": 0.0, "c": 2.0}
    X = rng.normal(size=(12, 4, 1, 6)) + np.array([shift[g] for g in y])[:, None, None, None]
    X[0, 3] = np.nan  # a missing segment
    return X, y


def test_trains_on_every_present_segment_with_its_tracks_label(tracks):
    X, y = tracks
    seen = {}

    class Spy(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            seen.update(X=X, y=y, weight=sample_weight)
            return super().fit(X, y, sample_weight=sample_weight)

    SegmentClassifier(Spy()).fit(X, y, sample_weight=np.arange(1, 13))
    assert seen["X"].shape == (12 * 4 - 1, 6)  # the missing segment is skipped
    np.testing.assert_array_equal(seen["y"][:3], ["a"] * 3)
    np.testing.assert_array_equal(seen["y"][3:7], ["b"] * 4)
    np.testing.assert_array_equal(seen["weight"][:7], [1, 1, 1, 2, 2, 2, 2])


def test_track_probabilities_average_the_segments(tracks):
    X, y = tracks
    clf = SegmentClassifier().fit(X, y)
    segments = clf.predict_segment_proba(X)
    assert np.isnan(segments[0, 3]).all() and not np.isnan(segments[0, :3]).any()
    np.testing.assert_allclose(clf.predict_proba(X), np.nanmean(segments, axis=1))
    np.testing.assert_array_equal(clf.predict(X), y)
    assert list(clf.classes_) == ["a", "b", "c"]


def test_vote_counts_segments_and_breaks_ties_by_the_mean():
    class Fixed(LogisticRegression):
        """Segment probabilities given by the first value of each segment."""

        def fit(self, X, y, sample_weight=None):
            self.classes_ = np.unique(y)
            return self

        def predict_proba(self, X):
            p = np.clip(X[:, :1], 0, 1)
            return np.hstack([p, 1 - p])

    X = np.array([[[[0.9]], [[0.4]]], [[[0.55]], [[0.3]]]])  # one vote each per track
    y = np.array(["x", "y"])
    mean = SegmentClassifier(Fixed()).fit(X, y)
    vote = SegmentClassifier(Fixed(), aggregate="vote").fit(X, y)
    np.testing.assert_allclose(vote.predict_proba(X), [[0.5, 0.5], [0.5, 0.5]])
    # ties go to the higher mean probability: track 0 leans x (0.65), track 1 y (0.575)
    np.testing.assert_array_equal(vote.predict(X), ["x", "y"])
    np.testing.assert_array_equal(mean.predict(X), ["x", "y"])


def test_a_track_with_no_segment_gets_no_genre(tracks):
    X, y = tracks
    clf = SegmentClassifier().fit(X, y)
    empty = np.full((1, 4, 1, 6), np.nan)
    assert np.isnan(clf.predict_proba(empty)).all()
    with pytest.raises(ValueError, match="no present segment"):
        clf.predict(empty)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ,
                    reason="mutmut's trampolines add stack frames between caller and warning")
def test_the_warning_about_a_track_without_segments_names_the_callers_line(tracks):
    X, y = tracks
    X = X.copy()
    X[1] = np.nan
    with pytest.warns(UserWarning, match=r"^Tracks \[1\] have no present segment") as record:
        SegmentClassifier().fit(X, y)
    assert [w.filename for w in record] == [__file__]  # not scikit-learn's _fit_context


def test_the_estimator_parameter_takes_effect_and_is_tunable(tracks):
    X, y = tracks
    tree = SegmentClassifier(DecisionTreeClassifier(max_depth=1, random_state=0)).fit(X, y)
    assert isinstance(tree.estimator_, DecisionTreeClassifier)
    assert tree.estimator_.get_depth() == 1
    search = GridSearchCV(SegmentClassifier(LogisticRegression()),
                          {"estimator__C": [1e-4, 10.0]}, cv=2).fit(X, y)
    assert search.best_params_ == {"estimator__C": 10.0}
    assert clone(tree).get_params()["estimator__max_depth"] == 1


def test_segment_shape_is_enforced(tracks):
    X, y = tracks
    clf = SegmentClassifier().fit(X, y)
    with pytest.raises(ValueError, match=r"segments of 1 frames x 5 coefficients.*1 x 6"):
        clf.predict(X[:, :, :, :5])
