"""The three genre classifiers: segment axis, parameters, scikit-learn behaviour."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

from sk_audio_genre._segments import split_tracks
from sk_audio_genre.classifiers import (
    CNNGenreClassifier,
    LSTMGenreClassifier,
    MLPGenreClassifier,
)

GENRES = np.array(["blues", "jazz", "metal"])
SMALL = {
    MLPGenreClassifier: {"hidden_layer_sizes": (16,)},
    CNNGenreClassifier: {"filters": (4, 4, 4), "dense_units": 8},
    LSTMGenreClassifier: {"lstm_units": (8,), "dense_units": 8},
}
CLASSES = list(SMALL)


def make_tracks(n_per_genre=6, n_segments=3, n_frames=20, n_mfcc=13, seed=0):
    """Tracks whose genre shifts the MFCC level, so a few epochs can learn it."""
    rng = np.random.default_rng(seed)
    y = np.repeat(GENRES, n_per_genre)
    X = rng.normal(size=(len(y), n_segments, n_frames, n_mfcc)).astype(np.float32)
    X += 1.5 * np.searchsorted(GENRES, y)[:, None, None, None]
    return X, y


def small(cls, **params):
    return cls(**{**SMALL[cls], "random_state": 0, "epochs": 3, **params})


@pytest.fixture(scope="module")
def tracks():
    return make_tracks()


@pytest.fixture(scope="module", params=CLASSES, ids=lambda c: c.__name__)
def fitted(request, tracks):
    X, y = tracks
    return small(request.param, epochs=15, learning_rate=1e-2).fit(X, y)


# ------------------------------------------------------------------ identity


@pytest.mark.parametrize("cls", CLASSES)
def test_is_a_classifier_for_scikit_learn(cls):
    clf = cls()
    assert is_classifier(clf)
    tags = get_tags(clf)
    assert tags.estimator_type == "classifier"
    assert tags.classifier_tags is not None and tags.classifier_tags.multi_class
    assert tags.target_tags.required


@pytest.mark.parametrize("cls", CLASSES)
def test_default_network_has_the_seeds_parameter_count(cls):
    expected = {MLPGenreClassifier: 1_014_218, CNNGenreClassifier: 298_186, LSTMGenreClassifier: 57_802}
    X = np.zeros((10, 1, 130, 13), np.float32)
    y = np.array([f"genre{k}" for k in range(10)])
    clf = cls(epochs=1, random_state=0).fit(X, y)
    assert clf.model_.count_params() == expected[cls]


@pytest.mark.parametrize("cls", CLASSES)
def test_signature_lists_every_shared_hyperparameter(cls):
    import inspect

    parameters = inspect.signature(cls).parameters
    for name in ("learning_rate", "epochs", "batch_size", "aggregate", "early_stopping",
                 "validation_fraction", "n_iter_no_change", "random_state", "verbose"):
        assert name in parameters
    assert cls().get_params()["learning_rate"] == 1e-4


@pytest.mark.parametrize("cls", CLASSES)
def test_architecture_parameters_come_from_the_network(cls):
    """Each knob's default and constraints have one home, the network's description; the
    classifier's signature, constraints and docstring follow it."""
    import inspect

    network = cls._network
    parameters = inspect.signature(cls).parameters
    assert {name: parameters[name].default for name in network.defaults} == network.defaults
    assert {name: cls._parameter_constraints[name] for name in network.constraints} == (
        network.constraints)
    assert cls().get_params(deep=False).items() >= network.defaults.items()
    for name, default in network.defaults.items():
        assert f"{name} : " in cls.__doc__
        shown = default if not isinstance(default, str) else f'"{default}"'
        assert f"default={shown}" in cls.__doc__.split(f"{name} : ", 1)[1].split("\n", 1)[0]


def test_repr_shows_changed_parameters_only():
    assert repr(CNNGenreClassifier(epochs=5, batch_norm=True)) == (
        "CNNGenreClassifier(batch_norm=True, epochs=5)"
    )


# ------------------------------------------------------------- segment axis


def test_predictions_are_track_labels(fitted, tracks):
    X, y = tracks
    pred = fitted.predict(X)
    assert pred.shape == (len(X),)
    assert pred.dtype.kind == "U" and set(pred) <= set(GENRES)
    assert list(fitted.classes_) == list(GENRES)
    assert fitted.score(X, y) > 0.6
    assert fitted.n_segments_in_ == 3 and fitted.segment_shape_ == (20, 13)
    assert fitted.n_features_in_ == 13  # features along the last axis, as SegmentScaler's


@pytest.mark.parametrize("cls", CLASSES)
def test_n_features_in_counts_the_last_axis_of_every_layout(cls, tracks):
    X, y = tracks  # (18, 3, 20, 13)
    padding = {"conv_padding": "same"} if cls is CNNGenreClassifier else {}
    for given, expected in [(X, 13), (X[:, 0], 13), (X[:, 0, :, 0], 20)]:
        assert small(cls, epochs=1, **padding).fit(given, y).n_features_in_ == expected


def test_track_probability_is_mean_of_segment_probabilities(fitted, tracks):
    X, _ = tracks
    segment_proba = fitted.predict_segment_proba(X)
    assert segment_proba.shape == (len(X), 3, 3)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba, segment_proba.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_missing_segments_are_ignored(fitted, tracks):
    X, _ = tracks
    X = X[:4].copy()
    X[0, 1:] = np.nan  # only the first segment present
    X[1, 2] = np.nan
    segment_proba = fitted.predict_segment_proba(X)
    assert np.isnan(segment_proba[0, 1:]).all() and not np.isnan(segment_proba[0, 0]).any()
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba[0], segment_proba[0, 0], rtol=1e-6)
    np.testing.assert_allclose(proba[1], segment_proba[1, :2].mean(axis=0), rtol=1e-6)
    # more or fewer segments per track than in fit is fine: segments are independent
    assert fitted.predict(np.concatenate([X, X], axis=1)).shape == (4,)


def test_track_without_segments(fitted, tracks):
    X = tracks[0][:2].copy()
    X[1] = np.nan
    proba = fitted.predict_proba(X)
    assert np.isnan(proba[1]).all() and not np.isnan(proba[0]).any()
    with pytest.raises(ValueError, match=r"Tracks \[1\] have no present segment"):
        fitted.predict(X)


def test_fit_skips_missing_segments_and_empty_tracks(tracks):
    X, y = tracks
    X = X.copy()
    X[0, 1:] = np.nan
    X[1] = np.nan
    with pytest.warns(UserWarning, match=r"Tracks \[1\] have no present segment") as record:
        clf = small(MLPGenreClassifier, epochs=1, batch_size="full").fit(X, y)
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add stack frames
        assert record[0].filename == __file__  # the warning names the line that called fit
    n_segments = X.shape[0] * X.shape[1] - 2 - 3
    assert clf.model_.optimizer.iterations.numpy() == 1
    assert clf.X_shape_[0] == n_segments


def test_vote_aggregation(fitted, tracks):
    X, _ = tracks
    voter = clone(fitted).set_params(aggregate="vote")
    voter.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    segment_proba = fitted.predict_segment_proba(X)
    votes = voter.predict_proba(X)
    winners = segment_proba.argmax(axis=2)
    np.testing.assert_allclose(votes[:, 0], (winners == 0).mean(axis=1))
    assert set(np.unique(votes * 3).round(6)) <= {0.0, 1.0, 2.0, 3.0}
    majority = voter.predict(X)
    for row, label in zip(winners, majority):
        counts = np.bincount(row, minlength=3)
        assert counts[list(fitted.classes_).index(label)] == counts.max()


def test_vote_ties_go_to_higher_mean_probability(fitted):
    from sk_audio_genre._segments import aggregate_segments, predict_from_proba

    segment_proba = np.array([[[0.6, 0.4, 0.0], [0.1, 0.9, 0.0]]], np.float32)
    proba, mean = aggregate_segments(segment_proba, "vote")
    np.testing.assert_allclose(proba, [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(mean, [[0.35, 0.65, 0.0]])
    assert predict_from_proba(fitted.classes_, proba, mean)[0] == fitted.classes_[1]
    # ... and the classifier's own predict breaks ties that way, both orders of the classes
    voter = clone(fitted).set_params(aggregate="vote")
    voter.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    flipped = segment_proba[:, :, [1, 0, 2]]
    voter.predict_segment_proba = lambda X: np.concatenate([segment_proba, flipped])
    np.testing.assert_array_equal(voter.predict(None), fitted.classes_[[1, 0]])


def test_three_d_input_is_one_segment_per_sample(tracks):
    X, y = tracks
    segments = X.reshape(-1, 20, 13)
    labels = np.repeat(y, 3)
    clf = small(CNNGenreClassifier, epochs=1).fit(segments, labels)
    assert clf.n_segments_in_ == 1
    assert clf.predict(segments[:5]).shape == (5,)
    assert clf.predict_segment_proba(segments[:5]).shape == (5, 1, 3)


def test_sample_weight_reaches_every_segment(tracks, monkeypatch):
    from scikeras.wrappers import KerasClassifier

    X, y = tracks
    X = X.copy()
    X[0, 2] = np.nan
    weights = np.arange(len(y), dtype=float)
    seen = {}
    original_fit = KerasClassifier.fit

    def spy(self, X, y, sample_weight=None, **kwargs):
        seen["sample_weight"] = sample_weight
        return original_fit(self, X, y, sample_weight=sample_weight, **kwargs)

    monkeypatch.setattr(KerasClassifier, "fit", spy)
    small(MLPGenreClassifier, epochs=1).fit(X, y, sample_weight=weights)
    expected = np.repeat(weights, 3)
    np.testing.assert_array_equal(seen["sample_weight"], np.delete(expected, 2))


# ------------------------------------------------------------- hyperparameters


def test_probabilities_do_not_depend_on_the_batch(fitted, tracks):
    """scikit-learn's subset and sample-order invariance checks, with a measured tolerance.

    float32 matrix products round differently with the batch a row is computed in: measured
    at most 7.9e-8 (one track at a time, shuffled, in two halves; each network, on an AMD
    EPYC with AVX2, also under ``ONEDNN_MAX_CPU_ISA=AVX|SSE41``, ``TF_ENABLE_ONEDNN_OPTS=0``,
    one thread).  1e-6 leaves more than 10x; a row that depends on the others moves by far
    more.
    """
    X, _ = tracks
    full = fitted.predict_proba(X)
    one_by_one = np.vstack([fitted.predict_proba(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, full, rtol=0, atol=1e-6)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(fitted.predict_proba(X[order]), full[order], rtol=0, atol=1e-6)
    halves = np.vstack([fitted.predict_proba(X[:7]), fitted.predict_proba(X[7:])])
    np.testing.assert_allclose(halves, full, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES)
def test_random_state_makes_fits_identical(cls, tracks):
    X, y = tracks
    a = small(cls, epochs=2).fit(X, y).predict_proba(X)
    b = small(cls, epochs=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_learning_rate_takes_effect(tracks):
    X, y = tracks
    slow = small(MLPGenreClassifier, epochs=2, learning_rate=1e-5).fit(X, y)
    fast = small(MLPGenreClassifier, epochs=2, learning_rate=1e-2).fit(X, y)
    assert float(slow.model_.optimizer.learning_rate) == pytest.approx(1e-5)
    assert float(fast.model_.optimizer.learning_rate) == pytest.approx(1e-2)
    assert not np.allclose(slow.predict_proba(X), fast.predict_proba(X))
    assert slow.history_["loss"][-1] > fast.history_["loss"][-1]


def test_routed_optimizer_learning_rate_takes_effect(tracks):
    X, y = tracks
    clf = small(MLPGenreClassifier, epochs=1, optimizer__learning_rate=0.05).fit(X, y)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.05)
    sgd = small(MLPGenreClassifier, epochs=1, optimizer="sgd", optimizer__momentum=0.5).fit(X, y)
    assert type(sgd.model_.optimizer).__name__ == "SGD"
    assert float(sgd.model_.optimizer.momentum) == pytest.approx(0.5)
    assert float(sgd.model_.optimizer.learning_rate) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"),
    [("full", 1), (8, math.ceil(54 / 8)), (1, 54)],
    ids=["full-batch GD", "mini-batch", "SGD"],
)
def test_batch_size_selects_the_optimisation_mode(tracks, batch_size, steps_per_epoch):
    X, y = tracks  # 18 tracks x 3 segments = 54 training samples
    clf = small(MLPGenreClassifier, epochs=2, batch_size=batch_size).fit(X, y)
    assert clf.model_.optimizer.iterations.numpy() == 2 * steps_per_epoch


def test_early_stopping_holds_out_whole_tracks(tracks):
    X, y = tracks
    clf = small(MLPGenreClassifier, early_stopping=True, validation_fraction=0.34)
    train, held_out = split_tracks(y, clf.validation_fraction, clf.random_state)
    assert len(np.intersect1d(train, held_out)) == 0
    assert len(held_out) == math.ceil(0.34 * len(y))
    assert set(y[held_out]) == set(GENRES)  # stratified
    clf.fit(X, y)
    assert {"val_loss", "val_accuracy"} <= set(clf.history_)
    # validation segments are whole held-out tracks: 6 tracks x 3 segments
    assert clf.X_shape_[0] == len(train) * 3


def test_early_stopping_stops_and_restores_best_weights():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2, 20, 13)).astype(np.float32)
    y = rng.choice(GENRES, size=30)  # labels carry no signal: validation loss rises
    clf = small(MLPGenreClassifier, epochs=60, learning_rate=1e-2, early_stopping=True,
                validation_fraction=0.3, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ < 60
    val_loss = clf.history_["val_loss"]
    best = int(np.argmin(val_loss))
    assert clf.n_iter_ == best + 1 + 3


def test_early_stopping_restores_the_best_epochs_weights():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2, 20, 13)).astype(np.float32)
    y = rng.choice(GENRES, size=30)  # no signal: validation loss rises after a few epochs
    clf = small(MLPGenreClassifier, epochs=60, learning_rate=1e-2, early_stopping=True,
                validation_fraction=0.3, n_iter_no_change=3, random_state=0).fit(X, y)
    _, held_out = split_tracks(y, clf.validation_fraction, clf.random_state)
    segments = X[held_out].reshape(-1, 20, 13)
    labels = clf.target_encoder_.transform(np.repeat(y[held_out], 2))
    loss = clf.model_.evaluate(segments, labels, verbose=0)[0]
    val_loss = clf.history_["val_loss"]
    assert loss == pytest.approx(min(val_loss), rel=1e-4)  # the best epoch's weights
    assert val_loss[-1] > min(val_loss) * 1.001  # ... which are not the last epoch's


def test_early_stopping_keeps_every_genre_in_training():
    y = np.array(["a", "b", "b", "b", "c", "c", "c"])
    clf = MLPGenreClassifier(early_stopping=True, validation_fraction=0.5, random_state=0)
    train, held_out = split_tracks(y, clf.validation_fraction, clf.random_state)
    assert set(y[train]) == {"a", "b", "c"}
    assert len(held_out) >= 1


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": "half"}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"aggregate": "median"}, "aggregate"),
        ({"epochs": 0}, "epochs"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_bad_parameters_are_named(tracks, params, name):
    X, y = tracks
    with pytest.raises(ValueError, match=name):
        small(MLPGenreClassifier, **params).fit(X, y)


def test_validation_split_is_refused_as_leaky(tracks):
    X, y = tracks
    with pytest.raises(ValueError, match="validation_split"):
        small(MLPGenreClassifier, validation_split=0.2).fit(X, y)


def test_bad_input(fitted, tracks):
    X, y = tracks
    with pytest.raises(NotFittedError):
        MLPGenreClassifier().predict(X)
    bad = X[:2].copy()
    bad[0, 0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN inside segment 0 of sample 0"):
        fitted.predict(bad)
    bad[0, 0, 3, 4] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fitted.predict(bad)
    with pytest.raises(ValueError, match="fitted on segments of 20 x 13"):
        fitted.predict(X[:, :, :10])
    with pytest.raises(ValueError, match="dimensions"):
        fitted.predict(X[..., None])
    with pytest.raises(ValueError, match="at least 2 classes"):
        small(MLPGenreClassifier).fit(X, np.full(len(X), "jazz"))
    with pytest.raises(ValueError, match="at least 11 frames x 11 coefficients; got 10 x 13"):
        small(CNNGenreClassifier).fit(X[:, :, :10], y)


def test_cnn_same_padding_accepts_small_segments(tracks):
    X, y = tracks
    clf = small(CNNGenreClassifier, conv_padding="same", epochs=1).fit(X[:, :, :6, :4], y)
    assert clf.predict(X[:2, :, :6, :4]).shape == (2,)


def test_partial_fit_continues_training(tracks):
    X, y = tracks
    clf = small(MLPGenreClassifier)
    clf.partial_fit(X, y)
    weights = [w.copy() for w in clf.model_.get_weights()]
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    assert any(not np.allclose(a, b) for a, b in zip(weights, clf.model_.get_weights()))


# ---------------------------------------------------------- TensorFlow hygiene


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_no_retracing_warnings_in_cross_validation_and_repeated_predict(tracks):
    from sklearn.model_selection import cross_validate

    X, y = tracks
    handler = _Records()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        cross_validate(small(LSTMGenreClassifier, epochs=2), X, y, cv=3)
        clf = small(LSTMGenreClassifier, epochs=2).fit(X, y)
        for n in (1, 2, 3, 5, 7, 11, 13, 17):
            clf.predict_proba(X[:n])
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.messages if "retracing" in m]


# --- segment_window ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_segment_window_recuts_tracks_into_windows(cls, tracks):
    X, y = tracks  # 3 segments x 20 frames per track
    padding = {"conv_padding": "same"} if cls is CNNGenreClassifier else {}
    clf = small(cls, segment_window=(10, 10), **padding).fit(X, y)
    assert clf.model_.input_shape[1] == 10
    assert clf.segment_shape_ == (20, 13)  # the input is still checked against the segments
    assert clf.predict_segment_proba(X).shape == (len(X), 6, 3)
    overlapping = small(cls, segment_window=(20, 10)).fit(X, y)
    assert overlapping.predict_segment_proba(X).shape == (len(X), 5, 3)
    assert overlapping.predict(X).shape == (len(X),)
    with pytest.raises(ValueError, match="fitted on segments of 20 x 13"):
        clf.predict(X[:, :, :10])


def test_segment_window_equals_precut_segments(tracks):
    from sk_audio_genre._segments import window_segments

    X, y = tracks
    windowed = small(MLPGenreClassifier, segment_window=(10, 10)).fit(X, y)
    precut = small(MLPGenreClassifier).fit(window_segments(X, 10, 10), y)
    np.testing.assert_allclose(windowed.predict_proba(X),
                               precut.predict_proba(window_segments(X, 10, 10)), rtol=1e-5)


def test_windows_reaching_into_missing_segments_are_missing(fitted, tracks):
    from sk_audio_genre._segments import window_segments

    X, _ = tracks
    X = X.copy()
    X[0, 2] = np.nan
    windows = window_segments(X, 20, 10)
    assert np.isnan(windows[0, 3:]).all() and not np.isnan(windows[0, :3]).any()
    assert not np.isnan(windows[1]).any()


@pytest.mark.parametrize(
    "window, match",
    [((0, 5), "segment_window must be None or"), ((5,), "segment_window must be None or"),
     ((5, 2.5), "segment_window must be None or"), ((61, 10), "only 60")],
)
def test_bad_segment_window_is_named(tracks, window, match):
    X, y = tracks
    with pytest.raises(ValueError, match=match):
        small(MLPGenreClassifier, segment_window=window).fit(X, y)
