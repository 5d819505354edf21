"""OpenSetClassifier: "none of these" for inputs unlike the training data (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre.open_set import OpenSetClassifier


@pytest.fixture(scope="module")
def clusters():
    """Three genres as Gaussian clusters in 6 dimensions, 40 tracks each."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 6, [5.0] * 6, [0, 5, 0, 5, 0, 5]], dtype=float)
    X = np.concatenate([c + rng.normal(size=(40, 6)) for c in centres])
    y = np.repeat(["blues", "metal", "jazz"], 40)
    return X, y


def test_far_inputs_are_unknown_and_near_ones_keep_their_genre(clusters):
    X, y = clusters
    clf = OpenSetClassifier().fit(X, y)
    far = np.array([[30.0, -30, 30, -30, 30, -30], [0, 0, 0, 0, 0, 40]])
    assert clf.predict(far).tolist() == ["unknown", "unknown"]
    near = np.array([[0.1] * 6, [5.1] * 6])
    assert clf.predict(near).tolist() == ["blues", "metal"]
    assert (clf.novelty_score(far) > 1).all() and (clf.novelty_score(near) < 1).all()
    # the nearest genres stay available for an unknown input
    np.testing.assert_allclose(clf.predict_proba(far), clf.estimator_.predict_proba(far))


def test_the_threshold_rejects_the_chosen_share_of_held_out_tracks(clusters):
    X, y = clusters
    for rate in (0.0, 0.05, 0.2):
        clf = OpenSetClassifier(false_rejection_rate=rate).fit(X, y)
        rejected = np.mean(clf.held_out_distances_ > clf.threshold_)
        assert rate - 1 / len(X) - 1e-12 <= rejected <= rate  # the 1 - rate quantile
    strict = OpenSetClassifier(false_rejection_rate=0.2).fit(X, y)
    lenient = OpenSetClassifier(false_rejection_rate=0.0).fit(X, y)
    assert strict.threshold_ < lenient.threshold_  # the parameter takes effect


def test_held_out_distances_follow_the_given_splits(clusters):
    X, y = clusters
    groups = np.tile([0, 1], len(X) // 2)
    by_group = OpenSetClassifier(cv=PredefinedSplit(groups)).fit(X, y)
    by_fold = OpenSetClassifier(cv=KFold(4, shuffle=True, random_state=0)).fit(X, y)
    assert not np.allclose(by_group.held_out_distances_, by_fold.held_out_distances_)


def test_the_unknown_label_is_a_parameter_and_may_not_be_a_class(clusters):
    X, y = clusters
    clf = OpenSetClassifier(unknown_label="none of these").fit(X, y)
    assert clf.predict([[40.0] * 6]).tolist() == ["none of these"]
    with pytest.raises(ValueError, match="unknown_label='jazz' is one of the classes"):
        OpenSetClassifier(unknown_label="jazz").fit(X, y)
    integer = OpenSetClassifier(unknown_label=-1).fit(X, np.repeat([0, 1, 2], 40))
    predicted = integer.predict([[40.0] * 6, [0.0] * 6])
    assert predicted.tolist() == [-1, 0] and predicted.dtype.kind == "i"


def test_a_pipeline_is_measured_in_its_last_steps_input(clusters):
    X, y = clusters
    scaled = make_pipeline(StandardScaler(), LogisticRegression())
    clf = OpenSetClassifier(scaled).fit(1000 * X, y)  # distances in the scaled space
    alone = OpenSetClassifier().fit(StandardScaler().fit_transform(1000 * X), y)
    np.testing.assert_allclose(clf.threshold_, alone.threshold_, rtol=1e-9)


def test_track_arrays_are_averaged_over_their_segments(clusters):
    from sk_audio_genre import SegmentClassifier

    X, y = clusters
    tracks = np.repeat(X[:, np.newaxis, np.newaxis, :], 3, axis=1)  # 3 equal segments
    tracks[0, 2] = np.nan  # a missing segment
    clf = OpenSetClassifier(SegmentClassifier()).fit(tracks, y)
    flat = OpenSetClassifier().fit(X, y)
    np.testing.assert_allclose(clf.threshold_, flat.threshold_, rtol=1e-9)
    assert clf.predict(np.full((1, 3, 1, 6), 40.0)).tolist() == ["unknown"]


def test_clone_and_get_params(clusters):
    clf = OpenSetClassifier(LogisticRegression(C=0.5), false_rejection_rate=0.1)
    assert clone(clf).get_params()["estimator__C"] == 0.5
    with pytest.raises(ValueError, match="false_rejection_rate"):
        OpenSetClassifier(false_rejection_rate=0.7).fit(*clusters)
