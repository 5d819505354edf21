"""Tests for sk_audio_genre.segmenter.MFCCSegmenter on synthetic audio and real GTZAN tracks."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import SR, assert_mfcc_close, tone
from sk_audio_genre.segmenter import MFCCSegmenter

#: Three 1 s segments, 22 frames x 13 MFCCs each: quick to compute.
SMALL = dict(n_segments=3, segment_duration=1.0)
SMALL_SHAPE = (3, 22, 13)


def mfcc_alone(segment: np.ndarray) -> np.ndarray:
    return librosa.feature.mfcc(y=segment, sr=SR, n_mfcc=13, n_fft=2048, hop_length=1024).T


def noise(seconds: float, amplitude: float = 0.3, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A tone plus white noise, peak well below 1 (no clipping in any format)."""
    return tone(
        seconds, freq=200.0 + 50 * seed, amplitude=amplitude, noise=amplitude / 5, seed=seed, sr=sr
    )


@pytest.fixture
def three_files(write_audio) -> list[Path]:
    """Three different 3 s files (wav, flac, au)."""
    return [
        write_audio("a.wav", noise(3.0, seed=1)),
        write_audio("b.flac", noise(3.0, 0.05, seed=2)),
        write_audio("c.au", noise(3.0, 0.6, seed=3), format="AU"),
    ]


def transform_one(path, **params) -> np.ndarray:
    return MFCCSegmenter(**{**SMALL, **params}).fit_transform([path])[0]


# --- inputs and output ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        list,
        lambda ps: [str(p) for p in ps],
        lambda ps: tuple(str(p) for p in ps),
        lambda ps: np.array([str(p) for p in ps]),
        lambda ps: np.array([str(p) for p in ps], dtype=object).reshape(-1, 1),
        lambda ps: pd.Series([str(p) for p in ps], name="path"),
        lambda ps: pd.DataFrame({"path": [str(p) for p in ps]}),
    ],
    ids=["paths", "str-list", "tuple", "array", "column", "series", "dataframe"],
)
def test_output_shape_dtype_and_rows(three_files, wrap):
    seg = MFCCSegmenter(**SMALL)
    X = seg.fit(wrap(three_files)).transform(wrap(three_files))
    assert X.shape == (3, *SMALL_SHAPE) and X.dtype == np.float32
    assert seg.n_frames_ == 22 and seg.feature_shape_ == SMALL_SHAPE
    assert np.isfinite(X).all()
    for row, path in zip(X, three_files):  # same order, each row its own file
        np.testing.assert_array_equal(row, transform_one(path))


def test_repeated_paths_give_repeated_rows(three_files):
    paths = [three_files[1], three_files[0], three_files[1]]
    X = MFCCSegmenter(**SMALL).fit_transform(paths)
    assert X.shape[0] == 3
    np.testing.assert_array_equal(X[0], X[2])
    assert not np.array_equal(X[0], X[1])


@pytest.mark.parametrize(
    "X, error, match",
    [
        ("a.wav", TypeError, "single path"),
        (Path("a.wav"), TypeError, "single path"),
        (np.array([["a.wav", "b.wav"]]), ValueError, r"shape \(1, 2\)"),
        (np.array([1.0, 2.0]), TypeError, "item 0 is float"),
        ([1, 2], TypeError, "item 0 is int"),
        ([], ValueError, "no file paths"),
        (pd.DataFrame({"a": ["x.wav"], "b": ["y.wav"]}), ValueError, "shape"),
        (42, TypeError, "sequence of audio file paths"),
    ],
)
def test_bad_inputs_raise_clear_errors(X, error, match):
    with pytest.raises(error, match=match):
        MFCCSegmenter().fit(X)


def test_features_equal_mfcc_on_each_segment_alone(write_audio):
    y = noise(3.0, 0.4, seed=4)
    X = transform_one(write_audio("a.wav", y, subtype="FLOAT"))
    for i in range(3):
        assert_mfcc_close(X[i], mfcc_alone(y[i * SR : (i + 1) * SR]))


def test_quiet_file_unaffected_by_loud_file_in_the_batch(write_audio):
    quiet = tone(3.0, amplitude=3e-3, noise=1e-3, seed=5)  # about -48 dBFS: quiet, not silent
    loud = tone(3.0, amplitude=0.9, noise=0.5, seed=6)
    paths = [
        write_audio("quiet.wav", quiet, subtype="FLOAT"),
        write_audio("loud.wav", loud, subtype="FLOAT"),
    ]
    X = MFCCSegmenter(**SMALL).fit_transform(paths)
    for i in range(3):
        expected = mfcc_alone(quiet[i * SR : (i + 1) * SR])
        assert_mfcc_close(X[0, i], expected)
    np.testing.assert_array_equal(X[0], transform_one(paths[0]))


# --- short and bad files ----------------------------------------------------------------------


def test_short_file_gives_nan_segments_and_a_warning(three_files, write_audio):
    short = write_audio("short.wav", noise(1.5, seed=7))
    with pytest.warns(UserWarning, match=r"short\.wav: 1 of 3 segments filled"):
        X = MFCCSegmenter(**SMALL).fit_transform([three_files[0], short])
    assert np.isfinite(X[0]).all()
    assert np.isfinite(X[1, 0]).all() and np.isnan(X[1, 1:]).all()


def test_full_window_gives_no_warning(three_files):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MFCCSegmenter(**SMALL).fit_transform(three_files)


def _make_bad_files(tmp_path: Path, write_audio) -> dict[str, str]:
    """Bad files of every kind, each with a word of its expected reason."""
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio\n" * 50)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    write_audio("tiny.wav", tone(0.3))
    return {
        "missing.wav": "file not found",
        "empty.wav": "empty file",
        "text.wav": "not audio: its content is text",
        "corrupt.wav": "corrupt or truncated WAV data",
        "tiny.wav": "too short",
    }


def test_one_error_lists_every_bad_file(tmp_path, three_files, write_audio):
    bad = _make_bad_files(tmp_path, write_audio)
    a, b, c = three_files
    paths = [a, tmp_path / "missing.wav", b, tmp_path / "text.wav", c]
    with pytest.raises(ValueError) as info:
        MFCCSegmenter(**SMALL).fit_transform(paths)
    message = str(info.value)
    assert "2 of the input files" in message
    for name in ("missing.wav", "text.wav"):
        assert f"{tmp_path / name}: {bad[name]}" in message
    for good in three_files:
        assert str(good) not in message


def test_every_kind_of_bad_file_is_reported(tmp_path, three_files, write_audio):
    bad = _make_bad_files(tmp_path, write_audio)
    with pytest.raises(ValueError) as info:
        MFCCSegmenter(**SMALL).fit_transform([*three_files, *(tmp_path / n for n in bad)])
    message = str(info.value)
    assert f"{len(bad)} of the input files" in message
    for name, reason in bad.items():
        assert f"{tmp_path / name}: {reason}" in message


def test_long_error_lists_are_truncated(tmp_path):
    paths = [tmp_path / f"missing{i:02d}.wav" for i in range(25)]
    with pytest.raises(ValueError, match=r"25 of the input files(.|\n)*and 5 more") as info:
        MFCCSegmenter().fit_transform(paths)
    assert "missing19.wav" in str(info.value) and "missing20.wav" not in str(info.value)


def test_decoding_errors_are_collected_too(tmp_path, three_files, write_audio):
    data = write_audio("whole.flac", noise(4.0, seed=8)).read_bytes()
    broken = []
    for name in ("cut1.flac", "cut2.flac"):
        (tmp_path / name).write_bytes(data[: len(data) // 3])  # header still promises 4 s
        broken.append(tmp_path / name)
    with pytest.raises(ValueError, match="decoding") as info:
        MFCCSegmenter(**SMALL).fit_transform([three_files[0], *broken])
    assert all(str(p) in str(info.value) for p in broken)


def test_on_error_nan_keeps_good_rows_and_warns_once(tmp_path, three_files, write_audio):
    bad = _make_bad_files(tmp_path, write_audio)
    data = write_audio("whole.flac", noise(4.0, seed=8)).read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 3])
    paths = [three_files[0], tmp_path / "missing.wav", three_files[1], tmp_path / "cut.flac",
             tmp_path / "tiny.wav", three_files[2]]
    with pytest.warns(UserWarning) as record:
        X = MFCCSegmenter(**SMALL, on_error="nan").fit_transform(paths)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2  # one for the header check, one for decoding
    assert all(f"{name}: " in messages[0] for name in ("missing.wav", "tiny.wav"))
    assert "cut.flac" in messages[1]
    assert X.shape == (6, *SMALL_SHAPE)
    for i in (1, 3, 4):
        assert np.isnan(X[i]).all()
    for i, path in zip((0, 2, 5), three_files):
        np.testing.assert_array_equal(X[i], transform_one(path))


# --- offset, formats, rates, channels ---------------------------------------------------------


def test_offset_seconds_and_center(write_audio):
    # 4 s: 1 s of A, 2 s of B, 1 s of C; a 2 s window in the middle is exactly B
    a, b, c = noise(1.0, seed=9), noise(2.0, seed=10), noise(1.0, seed=11)
    path = write_audio("abc.wav", np.concatenate([a, b, c]))
    b_path = write_audio("b.wav", b)
    params = dict(n_segments=2, segment_duration=1.0)
    expected = transform_one(b_path, **params)
    np.testing.assert_array_equal(transform_one(path, offset="center", **params), expected)
    np.testing.assert_array_equal(transform_one(path, offset=1.0, **params), expected)
    assert not np.array_equal(transform_one(path, offset=0.0, **params), expected)


def test_center_takes_the_middle_30_seconds_of_a_60_second_file(write_audio):
    first, second = noise(30.0, 0.2, seed=12), tone(30.0, freq=1000.0, amplitude=0.5)
    path = write_audio("halves.wav", np.concatenate([first, second]))
    seg = MFCCSegmenter(offset="center")
    X = seg.fit_transform([path])[0]
    np.testing.assert_array_equal(X, MFCCSegmenter(offset=15.0).fit_transform([path])[0])
    # segments 0-1 lie in the first half, 3-4 in the second
    whole, _ = librosa.load(path, sr=SR)
    for i in (0, 4):
        start = 15 * SR + i * 132300
        expected = mfcc_alone(whole[start : start + 132300])
        assert_mfcc_close(X[i], expected)
    assert np.abs(X[0] - X[4]).mean() > 1.0


def test_center_on_a_short_file_starts_at_zero(write_audio):
    path = write_audio("a.wav", noise(2.0, seed=13))
    with pytest.warns(UserWarning, match="2 of 3 segments"):
        X = transform_one(path, offset="center")
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(X, transform_one(path))


@pytest.mark.parametrize(
    "name, kwargs",
    [("a.flac", {}), ("a.au", {"format": "AU"}), ("a.wav", {"subtype": "PCM_24"})],
)
def test_lossless_formats_equal_the_wav(write_audio, name, kwargs):
    # int16 samples: every lossless format stores them exactly and decodes the same floats
    y = np.round(noise(3.0, seed=14) * 32767).astype(np.int16)
    reference = transform_one(write_audio("ref.wav", y))
    np.testing.assert_array_equal(transform_one(write_audio(name, y, **kwargs)), reference)


@pytest.mark.parametrize("name", ["a.ogg", "a.mp3"])
def test_lossy_formats_are_read(write_audio, name):
    if Path(name).suffix[1:].upper() not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {name}")
    path = write_audio(name, noise(3.5, seed=15))
    X = transform_one(path)
    y, _ = librosa.load(path, sr=SR)
    assert X.shape == SMALL_SHAPE and np.isfinite(X).all()
    assert_mfcc_close(X[1], mfcc_alone(y[SR : 2 * SR]))


@pytest.mark.parametrize("file_sr", [44100, 8000])
def test_other_sample_rates_are_resampled(write_audio, file_sr):
    path = write_audio(f"a{file_sr}.wav", noise(3.0, seed=16, sr=file_sr), sr=file_sr)
    if file_sr < SR * 0.75:
        with pytest.warns(UserWarning, match=f"recorded at {file_sr} Hz: it holds nothing above"):
            X = transform_one(path)
    else:
        X = transform_one(path)
    y, _ = librosa.load(path, sr=SR)  # librosa.load resamples with the same soxr_hq
    assert X.shape == SMALL_SHAPE
    for i in range(3):
        assert_mfcc_close(X[i], mfcc_alone(y[i * SR : (i + 1) * SR]))


def test_stereo_is_mixed_to_mono(write_audio):
    left, right = noise(3.0, seed=17), tone(3.0, freq=3000.0, amplitude=0.2)
    path = write_audio("stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    X = transform_one(path)
    mono = ((left + right) / 2).astype(np.float32)
    assert_mfcc_close(X[2], mfcc_alone(mono[2 * SR :]))


# --- parallelism, parameters, API -------------------------------------------------------------


def test_n_jobs_2_is_identical_and_ordered(three_files, write_audio):
    paths = [*three_files, write_audio("d.wav", noise(3.0, seed=18)), three_files[0]]
    serial = MFCCSegmenter(**SMALL, n_jobs=1).fit_transform(paths)
    parallel = MFCCSegmenter(**SMALL, n_jobs=2).fit_transform(paths)
    np.testing.assert_array_equal(parallel, serial)


def test_threading_backend_is_identical(three_files, write_audio):
    """Threads share the process-wide BLAS limit; none may lift it under another's feet."""
    import joblib

    paths = [*three_files, write_audio("d.wav", noise(3.0, seed=18)), *three_files]
    serial = MFCCSegmenter(**SMALL, n_jobs=1).fit_transform(paths)
    for _ in range(5):
        with joblib.parallel_config(backend="threading"):
            threaded = MFCCSegmenter(**SMALL, n_jobs=2).fit_transform(paths)
        np.testing.assert_array_equal(threaded, serial)


def test_verbose_reports_progress(three_files, capfd):
    MFCCSegmenter(**SMALL, verbose=10).fit_transform(three_files)
    out, err = capfd.readouterr()
    assert "Parallel" in out + err


@pytest.mark.parametrize(
    "params, name",
    [
        ({"n_segments": 0}, "n_segments"),
        ({"hop_length": -1}, "hop_length"),
        ({"offset": "middle"}, "offset"),
        ({"offset": -1.0}, "offset"),
        ({"sr": 0}, "sr"),
        ({"segment_duration": 0}, "segment_duration"),
        ({"n_mfcc": 200}, "n_mfcc"),
        ({"n_fft": 2.5}, "n_fft"),
        ({"on_error": "ignore"}, "on_error"),
        ({"n_jobs": "many"}, "n_jobs"),
        ({"segment_duration": 0.05}, "segment_duration"),  # 1102 samples < n_fft
    ],
)
def test_invalid_parameters_name_the_parameter(params, name, three_files):
    seg = MFCCSegmenter(**params)  # __init__ stores without checking
    assert seg.get_params()[next(iter(params))] == next(iter(params.values()))
    with pytest.raises(ValueError, match=name):
        seg.fit(three_files)
    fitted = MFCCSegmenter(**SMALL).fit(three_files)
    with pytest.raises(ValueError, match=name):
        fitted.set_params(**params).transform(three_files)


def test_transform_before_fit_raises(three_files):
    with pytest.raises(NotFittedError):
        MFCCSegmenter().transform(three_files)


def test_fit_reads_no_file(tmp_path):
    seg = MFCCSegmenter().fit([tmp_path / "does-not-exist.wav"])
    assert seg.n_frames_ == 130 and seg.feature_shape_ == (5, 130, 13)


def test_clone_and_pickle_round_trip(three_files):
    seg = MFCCSegmenter(**SMALL, offset="center", on_error="nan", n_jobs=2)
    cloned = clone(seg)
    assert cloned.get_params() == seg.get_params()
    fitted = MFCCSegmenter(**SMALL).fit(three_files)
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.feature_shape_ == fitted.feature_shape_
    np.testing.assert_array_equal(restored.transform(three_files), fitted.transform(three_files))


def test_works_in_a_pipeline(three_files):
    flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    X = make_pipeline(MFCCSegmenter(**SMALL), flatten).fit_transform(three_files)
    assert X.shape == (3, 3 * 22 * 13)


def test_tags():
    tags = MFCCSegmenter().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.requires_fit
    assert tags.transformer_tags.preserves_dtype == ["float32"]


# --- real GTZAN audio -------------------------------------------------------------------------


def test_real_tracks_give_the_seeds_130_by_13(gtzan_root):
    paths = sorted(gtzan_root.glob("blues/*.*"))[:2] + sorted(gtzan_root.glob("jazz/*.au"))[:1]
    X = MFCCSegmenter().fit_transform(paths)
    assert X.shape == (3, 5, 130, 13) and X.dtype == np.float32
    assert np.isfinite(X).all()
    y, _ = librosa.load(paths[0], sr=SR)
    assert_mfcc_close(X[0, 3], mfcc_alone(y[3 * 132300 : 4 * 132300]))


def test_real_short_country_tracks_give_five_full_segments(gtzan_root):
    paths = [gtzan_root / "country" / f"country.0000{i}.wav" for i in (3, 4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = MFCCSegmenter().fit_transform(paths)
    assert X.shape == (2, 5, 130, 13) and np.isfinite(X).all()
