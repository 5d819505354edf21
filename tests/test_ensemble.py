"""sk_audio_genre.ensemble: seeded soft-voting ensembles of genre classifiers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import is_classifier

from sk_audio_genre import SegmentClassifier
from sk_audio_genre.ensemble import GenreVotingClassifier, seed_ensemble, seeded_ensemble


@pytest.fixture(scope="module")
def member():
    from sk_audio_genre import MLPGenreClassifier

    return MLPGenreClassifier(hidden_layer_sizes=(8,), epochs=1)


def test_members_are_clones_with_their_own_seeds(member):
    ensemble = seeded_ensemble(member, n_members=4, random_state=7)
    assert type(ensemble) is GenreVotingClassifier
    assert ensemble.voting == "soft" and is_classifier(ensemble)
    names = [name for name, _ in ensemble.estimators]
    assert names == ["member0", "member1", "member2", "member3"]
    seeds = [clf.random_state for _, clf in ensemble.estimators]
    assert len(set(seeds)) == 4 and all(isinstance(s, int) for s in seeds)
    assert all(clf is not member and clf.hidden_layer_sizes == (8,) for _, clf in ensemble.estimators)
    assert member.random_state is None  # the template is left alone
    again = seeded_ensemble(member, n_members=4, random_state=7)
    assert [clf.random_state for _, clf in again.estimators] == seeds


def test_unseeded_ensemble(member):
    ensemble = seeded_ensemble(member, n_members=2, random_state=None)
    assert [clf.random_state for _, clf in ensemble.estimators] == [None, None]


@pytest.mark.parametrize("n_members", [0, -1, 2.5, True, "3"])
def test_bad_n_members_is_named(member, n_members):
    with pytest.raises(ValueError, match="n_members must be a positive int"):
        seeded_ensemble(member, n_members=n_members)


def test_old_name_warns_and_gives_the_same_ensemble(member):
    with pytest.warns(FutureWarning, match="seed_ensemble was renamed seeded_ensemble"):
        old = seed_ensemble(member, n_members=3, random_state=5)
    new = seeded_ensemble(member, n_members=3, random_state=5)
    assert [(n, c.random_state) for n, c in old.estimators] == [
        (n, c.random_state) for n, c in new.estimators]


# --------------------------------------------------------------- GenreVotingClassifier


def _tracks():
    rng = np.random.default_rng(0)
    y = np.array(["jazz", "rock", "pop"] * 8)
    X = rng.normal(size=(len(y), 3, 1, 4)) + 2 * np.searchsorted(["jazz", "pop", "rock"], y)[
        :, None, None, None]
    return X, y


def test_voting_averages_the_members_probabilities():
    X, y = _tracks()
    ensemble = GenreVotingClassifier([("mean", SegmentClassifier()),
                                      ("vote", SegmentClassifier(aggregate="vote"))],
                                     weights=[3, 1]).fit(X, y)
    members = [clf.predict_proba(X) for clf in ensemble.estimators_]
    expected = (3 * members[0] + members[1]) / 4
    np.testing.assert_allclose(ensemble.predict_proba(X), expected)
    np.testing.assert_array_equal(ensemble.predict(X), ensemble.classes_[expected.argmax(1)])


def test_track_without_features_gets_no_genre():
    X, y = _tracks()
    ensemble = GenreVotingClassifier([("a", SegmentClassifier()),
                                      ("b", SegmentClassifier(aggregate="vote"))]).fit(X, y)
    X = X[:3].copy()
    X[1] = np.nan
    proba = ensemble.predict_proba(X)
    assert np.isnan(proba[1]).all() and not np.isnan(proba[[0, 2]]).any()
    with pytest.raises(ValueError, match=r"Tracks \[1\] have no present segment"):
        ensemble.predict(X)


def test_only_soft_voting():
    X, y = _tracks()
    with pytest.raises(ValueError, match="voting must be 'soft', got 'hard'"):
        GenreVotingClassifier([("a", SegmentClassifier())], voting="hard").fit(X, y)


def test_from_fitted_predicts_as_the_fitted_ensemble():
    X, y = _tracks()
    fitted = GenreVotingClassifier([("a", SegmentClassifier()),
                                    ("b", SegmentClassifier(aggregate="vote"))]).fit(X, y)
    rebuilt = GenreVotingClassifier.from_fitted(list(fitted.named_estimators_.items()),
                                                fitted.classes_)
    np.testing.assert_array_equal(rebuilt.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(rebuilt.predict(X), fitted.predict(X))
