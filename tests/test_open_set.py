"""OpenSetClassifier: "none of these" for inputs unlike the training data (issue 15)."""

from __future__ import annotations

import warnings

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


@pytest.mark.parametrize("per_class", [1, 3])
def test_a_training_set_smaller_than_the_folds_is_still_calibrated(clusters, per_class):
    # cv=5 with 3 (or 1) tracks per genre: stratified folds cannot be made, but every
    # training track must still be held out once (the CLI trains on small folders)
    X, y = clusters
    rows = np.concatenate([np.flatnonzero(y == genre)[:per_class] for genre in ("blues", "metal")])
    clf = OpenSetClassifier(cv=5).fit(X[rows], y[rows])
    assert np.isfinite(clf.held_out_distances_).all() and np.isfinite(clf.threshold_)
    assert clf.predict([[40.0] * 6]).tolist() == ["unknown"]


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


# --------------------------------------------------------------------------- persistence


def test_an_open_set_pipeline_saves_and_loads_without_pickles(clusters, tmp_path):
    from sk_audio_genre.model_format import load_pipeline, save_pipeline

    X, y = clusters
    model = make_pipeline(StandardScaler(), OpenSetClassifier(unknown_label="none"))
    model.fit(X, y)
    probe = np.vstack([X[:5], np.full((2, 6), 40.0)])
    loaded = load_pipeline(save_pipeline(model, tmp_path / "model"))
    # the same process and settings: bit for bit
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))
    np.testing.assert_array_equal(loaded[-1].novelty_score(probe), model[-1].novelty_score(probe))
    assert loaded[-1].unknown_label == "none" and loaded.predict(probe)[-1] == "none"


def test_a_loaded_open_set_classifier_keeps_every_fitted_fact(clusters, tmp_path):
    from sk_audio_genre.model_format import load_pipeline, save_pipeline

    X, y = clusters
    model = make_pipeline(StandardScaler(), OpenSetClassifier(LogisticRegression(C=0.5)))
    model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every parameter is saved (the estimator as a node)
        loaded = load_pipeline(save_pipeline(model, tmp_path / "model"))[-1]
    fitted = model[-1]
    for name in ("classes_", "means_", "precision_", "held_out_distances_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(fitted, name), err_msg=name)
    assert (loaded.threshold_, loaded.n_features_in_) == (fitted.threshold_, 6)
    np.testing.assert_array_equal(loaded.estimator_.coef_, fitted.estimator_.coef_)


def _open_set_folder(clusters, folder):
    from sk_audio_genre.model_format import save_pipeline

    X, y = clusters
    return save_pipeline(make_pipeline(StandardScaler(), OpenSetClassifier()).fit(X, y), folder)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("threshold_", -1.0, "threshold_ must be positive"),
    ("threshold_", 0.0, "threshold_ must be positive"),
    ("unknown_label", "metal", "unknown_label is one of the classes"),
    ("classes_", ["blues", "jazz", "rock"], r"state\.classes_ differ from its estimator's\."),
])
def test_a_crafted_open_set_state_is_refused(clusters, tmp_path, field, value, message):
    import json

    from sk_audio_genre.model_format import load_pipeline
    from test_model_format import rewrite

    folder = _open_set_folder(clusters, tmp_path / "model")

    def edit(document):
        node = document["model"]["steps"][1]["estimator"]
        (node["state"] if field.endswith("_") else node["params"])[field] = value

    rewrite(folder, edit)
    with pytest.raises(ValueError, match=rf"pipeline\.json\.model\.steps\[1\]\.\S*{message}"):
        load_pipeline(folder)
    assert json.loads((folder / "pipeline.json").read_text())  # the folder is still JSON


def test_any_positive_threshold_is_a_threshold(clusters, tmp_path):
    """The score is a distance divided by the threshold: a threshold below 1 is as valid."""
    from sk_audio_genre.model_format import load_pipeline
    from test_model_format import rewrite

    folder = _open_set_folder(clusters, tmp_path / "model")
    rewrite(folder, lambda d: d["model"]["steps"][1]["estimator"]["state"].update(
        threshold_=0.5))
    assert load_pipeline(folder)[-1].threshold_ == 0.5


@pytest.mark.parametrize(("name", "shape", "message"), [
    ("means_", (2, 6), r"means_ has 2 entries, expected 3\."),  # one per class
    # as many rows as the means have columns
    ("precision_", (5, 6), r"precision_ has 5 entries, expected 6\."),
    ("precision_", (6, 5), r"precision_ must be 6 x 6, like the class means' 6 features; "
                           r"got \(6, 5\)"),
])
def test_open_set_statistics_of_the_wrong_shape_are_refused(clusters, tmp_path, name, shape,
                                                             message):
    from sk_audio_genre.model_format import load_pipeline

    from test_model_format import change_array

    folder = _open_set_folder(clusters, tmp_path / "model")
    change_array(folder, 1, name, lambda _: np.ones(shape))  # the open-set step's array
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


# --------------------------------------------------------------------------- shipped model


def noise_file(path, seconds=30.0, level=0.3, seed=0):
    import soundfile as sf

    rng = np.random.default_rng(seed)
    sf.write(path, level * rng.standard_normal(int(seconds * 22050)), 22050)
    return str(path)


def test_the_shipped_model_calls_noise_and_tones_unknown_but_not_music(gtzan_root, tmp_path):
    import soundfile as sf

    from sk_audio_genre import load_pretrained

    t = np.arange(30 * 22050) / 22050
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    inputs = [noise_file(tmp_path / "noise.wav"), str(tmp_path / "tone.wav"),
              str(next((gtzan_root / "pop").glob("pop.00000.*")))]
    model = load_pretrained()
    assert model.predict(inputs).tolist() == ["unknown", "unknown", "pop"]
    novelty = model[-1].novelty_score(model[:-1].transform(inputs))
    assert novelty[0] > 1 and novelty[1] > 1 and novelty[2] < 1


def test_the_command_line_prints_unknown_with_the_nearest_genres(tmp_path, capsys):
    import json

    from sk_audio_genre.cli import main

    path = noise_file(tmp_path / "noise.wav")
    assert main(["predict", path]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[1:3] == ["unknown", "-"] and line[3].startswith("(nearest: ")
    assert line[4].startswith("[novelty ") and "unlike the training music" in line[4]
    assert main(["predict", path, "--format", "json"]) == 0
    record, = json.loads(capsys.readouterr().out)
    assert record["genre"] == "unknown" and record["probability"] is None
    assert len(record["top"]) == 3 and record["novelty"] > 1
    assert main(["predict", path, "--format", "csv"]) == 0
    header, row = capsys.readouterr().out.strip().splitlines()
    assert header.split(",")[7] == "novelty" and row.split(",")[1:3] == ["unknown", ""]
    assert main(["predict", path, "--no-unknown"]) == 0
    genre = capsys.readouterr().out.split("\t")[1]
    assert genre != "unknown" and genre in {"blues", "classical", "country", "disco", "hiphop",
                                            "jazz", "metal", "pop", "reggae", "rock"}


def speech_like(seconds: float = 25.0, sr: int = 22050, f0: float = 120.0, seed: int = 0):
    """Speech-like audio without a speech synthesiser (CI has none): syllables of a glottal
    pulse train through vowel formant resonators, an intonation, fricative onsets, pauses.
    ``benchmarks/open_set.py`` measures real synthesised speech (espeak-ng)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480)]
    pieces, total = [], 0
    while total < seconds * sr:
        if rng.random() < 0.15:  # a pause between words
            pieces.append(np.zeros(int(rng.uniform(0.1, 0.35) * sr)))
        else:
            n = int(rng.uniform(0.12, 0.3) * sr)
            pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * np.arange(n) / sr))
            y = (np.diff(np.floor(np.cumsum(pitch / sr)), prepend=0) > 0).astype(float)
            for formant in vowels[rng.integers(len(vowels))]:
                r, theta = np.exp(-np.pi * 80 / sr), 2 * np.pi * formant / sr
                y = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
            if rng.random() < 0.4:  # a fricative onset
                y[: int(0.05 * sr)] += 0.02 * rng.standard_normal(int(0.05 * sr))
            pieces.append(y * np.sin(np.pi * np.arange(n) / n) ** 0.5)
        total += len(pieces[-1])
    y = np.concatenate(pieces)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_predict_says_unknown_for_speech_and_white_noise_and_pop_for_pop(gtzan_root, tmp_path,
                                                                         capsys):
    """The issue's 'done when', through the command line."""
    import soundfile as sf

    from sk_audio_genre.cli import main

    sf.write(tmp_path / "speech.wav", speech_like(), 22050)
    pop = str(next((gtzan_root / "pop").glob("pop.00000.*")))
    assert main(["predict", str(tmp_path / "speech.wav"), noise_file(tmp_path / "white.wav"),
                 pop]) == 0
    genres = [line.split("\t")[1] for line in capsys.readouterr().out.strip().splitlines()]
    assert genres == ["unknown", "unknown", "pop"]
