"""MusicnnEmbedder: parameters that take effect, the bad-input contract, scikit-learn glue."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import MusicnnEmbedder, SegmentClassifier
from sk_audio_genre.embedder import MSD_TAGS

SR = 16000  # musicnn's rate: files at it are analysed without resampling


def noise(seconds: float, *, seed: int, colour: float = 0.0) -> np.ndarray:
    """White noise, low-passed by ``colour`` (0 white, near 1 dark)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SR))
    if colour:
        for i in range(1, len(x)):
            x[i] = colour * x[i - 1] + (1 - colour) * x[i]
        x /= np.abs(x).max()
    return (0.3 * x).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Eight 7 s files of two kinds (bright and dark noise): two patches each."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("embedder")
    paths, labels = [], []
    for i in range(8):
        dark = i % 2 == 1
        path = folder / f"f{i}.wav"
        sf.write(path, noise(7.0, seed=i, colour=0.95 if dark else 0.0), SR)
        paths.append(str(path))
        labels.append("dark" if dark else "bright")
    return paths, np.array(labels)


@pytest.fixture(scope="module")
def per_patch(files):
    return MusicnnEmbedder(pooling="none").fit_transform(files[0])


# --------------------------------------------------------------------------- parameters


def test_pooling_takes_effect(files, per_patch):
    paths, _ = files
    assert per_patch.shape == (8, 2, 1, 200) and per_patch.dtype == np.float32
    patches = per_patch[:, :, 0]
    mean = MusicnnEmbedder().fit_transform(paths)
    np.testing.assert_allclose(mean, patches.mean(axis=1), atol=1e-6)
    both = MusicnnEmbedder(pooling="mean+std").fit_transform(paths)
    np.testing.assert_allclose(both, np.hstack([patches.mean(1), patches.std(1)]), atol=1e-6)
    np.testing.assert_allclose(MusicnnEmbedder(pooling="max").fit_transform(paths),
                               patches.max(axis=1), atol=1e-6)
    assert not np.allclose(patches[:, 0], patches[:, 1])  # two different patches


def test_layer_takes_effect(files):
    paths = files[0][:2]
    sizes = {layer: MusicnnEmbedder(layer=layer).fit_transform(paths).shape[1]
             for layer in ("penultimate", "taggram", "mean_pool", "max_pool")}
    assert sizes == {"penultimate": 200, "taggram": 50, "mean_pool": 753, "max_pool": 753}
    taggram = MusicnnEmbedder(layer="taggram").fit_transform(paths)
    assert (taggram > 0).all() and (taggram < 1).all() and taggram.std() > 0.01


def test_offset_and_duration_analyse_that_window_exactly(tmp_path):
    import soundfile as sf

    y = np.concatenate([noise(4.0, seed=1), noise(4.0, seed=2, colour=0.9), noise(2.0, seed=3)])
    whole, part = tmp_path / "whole.wav", tmp_path / "part.wav"
    sf.write(whole, y, SR, subtype="FLOAT")
    sf.write(part, y[4 * SR : 8 * SR], SR, subtype="FLOAT")
    windowed = MusicnnEmbedder(offset=4.0, duration=4.0).fit_transform([str(whole)])
    alone = MusicnnEmbedder().fit_transform([str(part)])
    np.testing.assert_array_equal(windowed, alone)
    centred = MusicnnEmbedder(offset="center", duration=4.0).fit_transform([str(whole)])
    np.testing.assert_array_equal(centred, MusicnnEmbedder(offset=3.0, duration=4.0)
                                  .fit_transform([str(whole)]))


def test_patch_hop_and_duration_set_the_number_of_patches(files):
    path = files[0][:1]
    assert MusicnnEmbedder(pooling="none").fit_transform(path).shape[1] == 2
    assert MusicnnEmbedder(pooling="none", patch_hop=1.0).fit_transform(path).shape[1] == 5
    assert MusicnnEmbedder(pooling="none", duration=3.0).fit_transform(path).shape[1] == 1


def test_files_of_different_lengths_pad_with_nan_patches(files, tmp_path):
    import soundfile as sf

    longer = tmp_path / "long.wav"
    sf.write(longer, noise(13.0, seed=9), SR)
    X = MusicnnEmbedder(pooling="none").fit_transform([files[0][0], str(longer)])
    assert X.shape == (2, 4, 1, 200)
    assert np.isnan(X[0, 2:]).all() and not np.isnan(X[1]).any() and not np.isnan(X[0, :2]).any()


def test_parameter_combinations_are_checked(files):
    with pytest.raises(ValueError, match="offset='center'.*duration"):
        MusicnnEmbedder(offset="center").fit(files[0])
    with pytest.raises(ValueError, match="shorter than one musicnn patch"):
        MusicnnEmbedder(duration=2.0).fit(files[0])
    with pytest.raises(ValueError, match="pooling"):
        MusicnnEmbedder(pooling="median").fit(files[0])
    with pytest.raises(ValueError, match="layer"):
        MusicnnEmbedder(layer="cnn3").fit(files[0])


def test_feature_names(files):
    tags = MusicnnEmbedder(layer="taggram", pooling="mean+std").fit(files[0])
    names = tags.get_feature_names_out()
    assert list(names[:2]) == ["rock", "pop"] and names[50] == "rock_std" and len(names) == 100
    assert MusicnnEmbedder().fit(files[0]).get_feature_names_out()[199] == "penultimate199"
    with pytest.raises(ValueError, match="no feature names"):
        MusicnnEmbedder(pooling="none").fit(files[0]).get_feature_names_out()
    assert MSD_TAGS[9] == "jazz"


# --------------------------------------------------------------------------- bad input


def test_bad_files_are_listed_together_before_any_work(files, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    import soundfile as sf

    sf.write(tmp_path / "short.wav", noise(2.0, seed=0), SR)
    bad = [str(tmp_path / n) for n in ("missing.wav", "empty.wav", "text.wav", "short.wav")]
    with pytest.raises(ValueError) as info:
        MusicnnEmbedder().fit_transform([files[0][0], *bad])
    message = str(info.value)
    assert "4 of the input files cannot be used (checking the files)" in message
    for reason in ("file not found", "empty file", "not audio: its content is text",
                   "too short: 2.000 s of audio (the file is 2.000 s long)"):
        assert reason in message


def test_on_error_nan_keeps_the_good_rows_and_reports_each_file(files, tmp_path):
    good = files[0][:2]
    embedder = MusicnnEmbedder(on_error="nan")
    with pytest.warns(UserWarning, match="missing.wav: file not found"):
        X, reports = embedder.fit(good).transform_with_report(
            [good[0], str(tmp_path / "missing.wav"), good[1]])
    assert np.isnan(X[1]).all() and not np.isnan(X[[0, 2]]).any()
    np.testing.assert_array_equal(X[[0, 2]], MusicnnEmbedder().fit_transform(good))
    assert [r.status for r in reports] == ["ok", "failed", "ok"]
    assert reports[1].reason == "file not found"
    assert (reports[0].n_filled, reports[0].n_expected) == (2, 2)


def test_a_file_shorter_than_the_window_is_partial(files):
    with pytest.warns(UserWarning, match=r"f0\.wav: 2 of 3 patches filled"):
        X, reports = MusicnnEmbedder(duration=9.0).fit(files[0]).transform_with_report(files[0][:1])
    assert reports[0].status == "partial" and not np.isnan(X).any()


def test_offset_past_the_end_names_the_file_length(files):
    with pytest.raises(ValueError, match=r"after offset=60.0 \(the file is 7.000 s long\)"):
        MusicnnEmbedder(offset=60.0).fit_transform(files[0][:1])


# --------------------------------------------------------------------------- scikit-learn


def test_pipeline_with_a_linear_head_separates_the_two_kinds(files):
    paths, y = files
    scores = cross_validate(make_pipeline(MusicnnEmbedder(), StandardScaler(),
                                          LogisticRegression()), paths, y, cv=2)
    assert scores["test_score"].min() == 1.0


def test_grid_search_and_pickling(files, tmp_path):
    paths, y = files
    search = GridSearchCV(
        Pipeline([("embed", MusicnnEmbedder()), ("clf", LogisticRegression())]),
        {"embed__pooling": ["mean", "mean+std"], "clf__C": [0.1, 1.0]}, cv=2,
    ).fit(paths, y)
    assert search.best_estimator_.named_steps["embed"].n_features_out_ in (200, 400)
    joblib.dump(search.best_estimator_, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict_proba(paths), search.predict_proba(paths))
    assert clone(MusicnnEmbedder(layer="taggram")).get_params()["layer"] == "taggram"


def test_pipeline_memory_caches_the_embeddings(files, tmp_path, monkeypatch):
    paths, y = files
    pipe = Pipeline([("embed", MusicnnEmbedder()), ("clf", LogisticRegression())],
                    memory=str(tmp_path / "cache"))
    pipe.fit(paths, y)
    from sk_audio_genre import embedder

    def fail(*args, **kwargs):
        raise AssertionError("embeddings were computed again")

    monkeypatch.setattr(embedder.PatchSpec, "extract", fail)
    clone(pipe).fit(paths, y)  # served from the cache


def test_patches_train_a_segment_classifier(files, per_patch):
    _, y = files
    clf = SegmentClassifier(make_pipeline(StandardScaler(), LogisticRegression())).fit(per_patch, y)
    assert clf.predict_segment_proba(per_patch).shape == (8, 2, 2)
    np.testing.assert_array_equal(clf.predict(per_patch), y)


def test_n_jobs_gives_the_same_embeddings(files):
    """Equal within rounding: the network's matrix products run with another number of BLAS
    threads in a worker than in this process.  Measured at most 9.5e-7 (values up to 5.4; AMD
    EPYC, AVX2, 1, 2 or 8 BLAS threads here, Sandybridge kernels); 1e-5 leaves 10x."""
    paths = files[0][:4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # loky's own notes on worker counts
        two = MusicnnEmbedder(n_jobs=2).fit_transform(paths)
    np.testing.assert_allclose(two, MusicnnEmbedder(n_jobs=1).fit_transform(paths), rtol=0,
                               atol=1e-5)


def test_embed_files_gives_embeddings_their_own_type(files, tmp_path):
    from sk_audio_genre.inference import FileEmbedding, embed_files

    paths = files[0][:2]
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    embedder = MusicnnEmbedder(layer="taggram", on_error="nan").fit(paths)
    with pytest.warns(UserWarning, match="bad.wav: not audio"):
        results = list(embed_files(embedder, [*paths, str(bad)]))
    assert all(isinstance(r, FileEmbedding) and not hasattr(r, "proba") for r in results)
    np.testing.assert_array_equal(np.stack([r.embedding for r in results[:2]]),
                                  embedder.transform(paths))
    assert results[2].embedding is None and results[2].report.status == "failed"


def test_set_params_keeps_a_fitted_embedder_fitted_and_in_step(files):
    embedder = MusicnnEmbedder().fit(files[0][:1])
    embedder.set_params(pooling="mean+std", layer="taggram")
    assert embedder.n_features_out_ == 100
    assert embedder.transform(files[0][:1]).shape == (1, 100)
    assert not hasattr(MusicnnEmbedder().set_params(pooling="max"), "n_features_out_")
