"""Results that cannot be trusted are never shown as confident answers (issue 10).

Each test reproduces a defect found by trying the library as a new user and as an attacker
would; ``docs/refusals.rst`` lists them with the guarantee each one holds.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder

from conftest import SR, tone

SMALL = dict(n_segments=2, segment_duration=1.0)


# --------------------------------------------------------------------------- 6: ensembles


@pytest.fixture(scope="module")
def tiny_ensemble(tmp_path_factory):
    from sklearn.pipeline import make_pipeline

    from sk_audio_genre import MLPGenreClassifier, SegmentScaler
    from sk_audio_genre.ensemble import seeded_ensemble as seed_ensemble

    folder = tmp_path_factory.mktemp("ensemble")
    paths, labels = [], []
    for i in range(6):
        path = folder / f"t{i}.wav"
        sf.write(path, tone(2.0, freq=220.0 if i % 2 else 2500.0, noise=0.1 * (i % 2)), SR)
        paths.append(str(path))
        labels.append("low" if i % 2 else "high")
    member = MLPGenreClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0)
    pipe = make_pipeline(MFCCSegmenter(**SMALL, on_error="nan"), SegmentScaler(),
                         seed_ensemble(member, n_members=2))
    return pipe.fit(paths, labels), paths


def test_an_ensemble_invents_no_genre_for_a_file_without_features(tiny_ensemble, tmp_path):
    pipe, paths = tiny_ensemble
    missing = str(tmp_path / "missing.wav")
    with pytest.warns(UserWarning, match="missing.wav"):
        proba = pipe.predict_proba([paths[0], missing])
    assert np.isnan(proba[1]).all() and not np.isnan(proba[0]).any()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no present segment"):
        pipe.predict([missing])
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no present segment"):
        pipe.score([missing], ["low"])


# --------------------------------------------------------------------------- 7: NaN samples


@pytest.mark.parametrize("extractor", [MFCCSegmenter(**SMALL), MusicnnEmbedder()])
def test_non_finite_samples_make_a_bad_file(extractor, tmp_path):
    y = tone(4.0, noise=0.1, sr=16000)
    y[16000 + 5] = np.nan
    bad = tmp_path / "one_nan.wav"
    sf.write(bad, y, 16000, subtype="FLOAT")
    all_nan = tmp_path / "all_nan.wav"
    sf.write(all_nan, np.full(4 * 16000, np.nan, np.float32), 16000, subtype="FLOAT")
    good = tmp_path / "good.wav"
    sf.write(good, tone(4.0, noise=0.1, sr=16000), 16000)
    with pytest.raises(ValueError) as info:
        extractor.fit_transform([str(good), str(bad), str(all_nan)])
    message = str(info.value)
    assert "2 of the input files cannot be used" in message
    assert "one_nan.wav: 1 sample is NaN or infinite (first at 1.000 s)" in message
    assert re.search(r"all_nan.wav: \d+ samples are NaN or infinite \(first at 0.000 s\)", message)


# --------------------------------------------------------------------------- 8: silence, rate


def test_digital_silence_is_no_answer_and_silent_parts_are_named(tmp_path):
    silent = tmp_path / "zeros.wav"
    sf.write(silent, np.zeros(10 * 16000, np.float32), 16000)
    part = tmp_path / "half_silent.wav"
    sf.write(part, np.concatenate([np.zeros(9 * 16000), tone(6.0, noise=0.1, sr=16000)]), 16000)
    embedder = MusicnnEmbedder(on_error="nan").fit([str(silent)])
    with pytest.warns(UserWarning) as caught:
        X, reports = embedder.transform_with_report([str(silent), str(part)])
    assert reports[0].status == "failed" and "digital silence" in reports[0].reason
    assert np.isnan(X[0]).all()
    assert reports[1].status == "ok" and not np.isnan(X[1]).any()
    assert reports[1].notes == ("3 of 5 patches are silent (below -60 dBFS)",)
    assert any("half_silent.wav: 3 of 5 patches are silent" in str(w.message) for w in caught)
    segments = MFCCSegmenter(n_segments=4, segment_duration=3.0, on_error="nan").fit([str(part)])
    # at 22050 Hz the resampler's ringing reaches back into the third segment, above -60 dBFS
    with pytest.warns(UserWarning, match="2 of 4 segments are silent"):
        segments.transform_with_report([str(part)])


def test_a_low_sample_rate_is_named(tmp_path):
    low = tmp_path / "phone.wav"
    sf.write(low, tone(5.0, freq=300.0, noise=0.1, sr=8000), 8000)
    with pytest.warns(UserWarning, match=r"phone.wav: recorded at 8000 Hz: it holds nothing "
                                         r"above 4.0 kHz"):
        _, reports = MusicnnEmbedder().fit([str(low)]).transform_with_report([str(low)])
    assert [note.kind for note in reports[0].notes] == ["low_rate"]


def test_the_command_line_says_what_was_not_fully_analysed(tmp_path, capsys):
    from sk_audio_genre.cli import main

    short = tmp_path / "short.wav"
    sf.write(short, tone(12.0, noise=0.2, sr=16000), 16000)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(30 * 16000, np.float32), 16000)
    assert main(["predict", str(short), str(silent), "--format", "json"]) == 1
    short_record, silent_record = json.loads(capsys.readouterr().out)
    assert short_record["analysed"] == "all (4 of 10 patches)"  # 12 s of a 29.92 s window
    assert silent_record["genre"] is None and "digital silence" in silent_record["error"]


# --------------------------------------------------------------------------- 12: messages


def test_offset_past_the_end_gives_the_files_length(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(4.0), SR)
    with pytest.raises(ValueError, match=r"after offset=60.0 \(the file is 4.000 s long\)"):
        MFCCSegmenter(**SMALL, offset=60.0).fit_transform([str(path)])


def test_flat_input_to_a_track_classifier_says_what_it_expects():
    from sk_audio_genre import MLPGenreClassifier

    rng = np.random.default_rng(0)
    clf = MLPGenreClassifier(hidden_layer_sizes=(4,), epochs=1).fit(
        rng.normal(size=(6, 2, 20, 13)), list("ababab"))
    with pytest.raises(ValueError, match=r"2-D .*260 features.*segments of 20 frames x 13"):
        clf.predict(rng.normal(size=(3, 260)))


def test_partial_fit_with_a_new_genre_says_to_pass_classes():
    from sk_audio_genre import MLPGenreClassifier

    rng = np.random.default_rng(0)
    clf = MLPGenreClassifier(hidden_layer_sizes=(4,), epochs=1)
    clf.partial_fit(rng.normal(size=(4, 2, 20, 13)), list("abab"))
    with pytest.raises(ValueError, match=r"genre 'c' was not seen.*classes="):
        clf.partial_fit(rng.normal(size=(2, 2, 20, 13)), ["c", "a"])
