"""sk_audio_genre.ensemble.seed_ensemble: seeded soft-voting ensembles of genre classifiers."""

from __future__ import annotations

import pytest
from sklearn.base import is_classifier

from sk_audio_genre.ensemble import seed_ensemble


@pytest.fixture(scope="module")
def member():
    from sk_audio_genre import MLPGenreClassifier

    return MLPGenreClassifier(hidden_layer_sizes=(8,), epochs=1)


def test_members_are_clones_with_their_own_seeds(member):
    ensemble = seed_ensemble(member, n_members=4, random_state=7)
    assert ensemble.voting == "soft" and is_classifier(ensemble)
    names = [name for name, _ in ensemble.estimators]
    assert names == ["member0", "member1", "member2", "member3"]
    seeds = [clf.random_state for _, clf in ensemble.estimators]
    assert len(set(seeds)) == 4 and all(isinstance(s, int) for s in seeds)
    assert all(clf is not member and clf.hidden_layer_sizes == (8,) for _, clf in ensemble.estimators)
    assert member.random_state is None  # the template is left alone
    again = seed_ensemble(member, n_members=4, random_state=7)
    assert [clf.random_state for _, clf in again.estimators] == seeds


def test_unseeded_ensemble(member):
    ensemble = seed_ensemble(member, n_members=2, random_state=None)
    assert [clf.random_state for _, clf in ensemble.estimators] == [None, None]


@pytest.mark.parametrize("n_members", [0, -1, 2.5, True, "3"])
def test_bad_n_members_is_named(member, n_members):
    with pytest.raises(ValueError, match="n_members must be a positive int"):
        seed_ensemble(member, n_members=n_members)
