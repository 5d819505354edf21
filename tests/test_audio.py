"""Tests for sk_audio_genre.segmenter: probing, segment boundaries, decoding and per-segment MFCC."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import librosa
import soundfile as sf

from conftest import SR, assert_mfcc_close, tone
from sk_audio_genre.reading import (
    AudioFileError,
    _libsndfile_blocks,
    _read_au_pcm16,
    load_window,
    resampled_length,
)
from sk_audio_genre.segmenter import (
    SegmentSpec,
    count_complete_segments,
    extract_file,
    n_frames_for,
    power_to_db_per_row,
    probe_file,
    segments_mfcc,
    split_segments,
)

MFCC_KW = dict(sr=SR, n_mfcc=13, n_fft=2048, hop_length=1024)


def spec(**overrides) -> SegmentSpec:
    """The original course's settings (five 6 s segments at 22050 Hz), with overrides."""
    params = dict(
        sr=SR, n_segments=5, segment_length=132300, n_mfcc=13, n_fft=2048, hop_length=1024,
        offset=0.0,
    )
    params.update(overrides)
    return SegmentSpec(**params)


SMALL = spec(n_segments=3, segment_length=SR)  # three 1 s segments, 22 frames each


def mfcc_alone(segment: np.ndarray, **kw) -> np.ndarray:
    """The reference: librosa's MFCC of one segment on its own, as (frames, mfcc)."""
    return librosa.feature.mfcc(y=segment, **{**MFCC_KW, **kw}).T


def noise(seconds: float, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    return tone(seconds, amplitude=amplitude, noise=amplitude, seed=seed, freq=220.0 + seed)


# --- frame counts and segment boundaries ------------------------------------------------------


def test_seed_shape_is_130_by_13():
    assert spec().n_frames == 130
    assert spec().feature_shape == (5, 130, 13)
    assert spec().window_length == 661500


@pytest.mark.parametrize("n_fft", [2048, 2047, 512])
@pytest.mark.parametrize("n_samples", [4096, 5000, 5119, 5120])
def test_n_frames_for_matches_librosa(n_fft, n_samples):
    y = np.zeros(n_samples, dtype=np.float32)
    D = librosa.stft(y, n_fft=n_fft, hop_length=1024)
    assert n_frames_for(n_samples, n_fft, 1024) == D.shape[-1]


@pytest.mark.parametrize("n_fft", [2048, 2047])
def test_min_complete_length_is_the_exact_boundary(n_fft):
    s = spec(n_fft=n_fft)
    m = s.min_complete_length
    assert n_frames_for(m, n_fft, 1024) == s.n_frames
    assert n_frames_for(m - 1, n_fft, 1024) == s.n_frames - 1
    # 661408 samples (92 short of 30 s, like GTZAN country.00003/4) still fill 5 segments
    assert count_complete_segments(661408, spec()) == 5


def test_count_complete_segments():
    s = spec()
    assert count_complete_segments(10**7, s) == 5
    assert count_complete_segments(3 * 132300 + s.min_complete_length, s) == 4
    assert count_complete_segments(3 * 132300 + s.min_complete_length - 1, s) == 3
    assert count_complete_segments(s.min_complete_length - 1, s) == 0
    assert count_complete_segments(0, s) == 0


def test_resampled_length_matches_librosa():
    y = np.zeros(12345, dtype=np.float32)
    for orig in (8000, 44100, 22050):
        assert resampled_length(y.size, orig, SR) == librosa.resample(
            y, orig_sr=orig, target_sr=SR
        ).size


def test_segment_spec_windows_offset_center_and_all():
    s = spec(n_segments=2, segment_length=SR)  # a 2 s window
    assert s.windows(10 * SR, SR) == ((0, 2 * SR),)
    assert spec(n_segments=2, segment_length=SR, offset=3.0).windows(10 * SR, SR) == (
        (3 * SR, 5 * SR),
    )
    assert spec(n_segments=2, segment_length=SR, offset="center").windows(10 * SR, SR) == (
        (4 * SR, 6 * SR),
    )
    # shorter than the window: center starts at 0; an offset past the end is empty
    assert spec(n_segments=2, segment_length=SR, offset="center").windows(SR, SR) == (
        (0, SR),)
    assert spec(n_segments=2, segment_length=SR, offset=5.0).windows(SR, SR) == ((SR, SR),)
    # another file rate: the window is counted in the file's own frames
    assert s.windows(10 * 44100, 44100) == ((0, 2 * 44100),)
    # the whole file: consecutive windows, the last cut by the end; or evenly spread ones
    whole = spec(n_segments=2, segment_length=SR, offset="all", max_windows=5)
    assert whole.windows(5 * SR, SR) == ((0, 2 * SR), (2 * SR, 4 * SR), (4 * SR, 5 * SR))
    assert whole.windows(100 * SR, SR) == tuple(
        (start * SR, (start + 2) * SR) for start in (0, 24.5, 49, 73.5, 98))


# --- per-segment MFCC -------------------------------------------------------------------------


def test_power_to_db_per_row_matches_librosa_row_by_row():
    rng = np.random.default_rng(0)
    S = (rng.random((3, 16, 20)) ** 8).astype(np.float32)
    S[1] *= 1e-9  # a much quieter row: its floor must come from its own maximum
    out = power_to_db_per_row(S)
    for row, got in zip(S, out):
        expected = librosa.power_to_db(row, ref=1.0, amin=1e-10, top_db=80.0)
        np.testing.assert_array_equal(got, expected)


def test_segments_mfcc_equals_mfcc_alone_on_synthetic_audio():
    segments = np.stack(
        [noise(1.0, 0.5, seed=1), tone(1.0, amplitude=1e-4), noise(1.0, 1e-3, seed=2)]
    )
    got = segments_mfcc(segments, **MFCC_KW)
    assert got.shape == (3, 22, 13) and got.dtype == np.float32
    for segment, features in zip(segments, got):
        assert_mfcc_close(features, mfcc_alone(segment))


def test_quiet_and_loud_rows_are_independent():
    """The trap: librosa's own 2-D mfcc floors the quiet row at the loud row's level."""
    quiet = noise(1.0, 1e-4, seed=3)
    loud = noise(1.0, 0.9, seed=4)
    batch = np.stack([quiet, loud])
    got = segments_mfcc(batch, **MFCC_KW)
    assert_mfcc_close(got[0], mfcc_alone(quiet))
    assert_mfcc_close(got[1], mfcc_alone(loud))
    trap = librosa.feature.mfcc(y=batch, **MFCC_KW)[0].T
    assert np.abs(trap - mfcc_alone(quiet)).max() > 1.0


def test_short_complete_segment_zero_padded_gives_its_own_frames():
    s = SMALL
    y = noise(2.0, 0.3, seed=5)[: s.segment_length + s.min_complete_length]
    rows = split_segments(y, s)
    assert rows.shape == (2, s.segment_length)
    short = y[s.segment_length :]
    assert short.size < s.segment_length
    assert mfcc_alone(short).shape[0] == s.n_frames
    np.testing.assert_array_equal(rows[1, short.size :], 0.0)
    got = segments_mfcc(rows, **MFCC_KW)
    assert_mfcc_close(got[1], mfcc_alone(short))


# --- probing ----------------------------------------------------------------------------------


def test_probe_plans_window(write_audio):
    path = write_audio("a.wav", tone(4.0))
    plan = probe_file(str(path), SMALL)
    assert (plan.samplerate, plan.start, plan.stop, plan.n_complete) == (SR, 0, 3 * SR, 3)
    short = probe_file(str(write_audio("b.wav", tone(1.5))), SMALL)
    assert short.n_complete == 1


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("missing.wav", None, "file not found"),
        ("empty.wav", lambda p: p.write_bytes(b""), "empty file"),
        ("text.wav", lambda p: p.write_text("not audio\n" * 20),
         r"not audio: its content is text \(Format not recognised.\)"),
        ("text.mp3", lambda p: p.write_text("not audio\n" * 20),
         r"not audio: its content is text$"),  # not libsndfile's "possibly a pipe?"
        ("garbage.wav", lambda p: p.write_bytes(b"RIFF" + bytes(range(256)) * 4),
         "corrupt or truncated WAV data"),
        ("corrupt.mp3", lambda p: p.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x10"
                                                + bytes(range(256)) * 20),
         r"corrupt or truncated MP3 data$"),
        ("random.flac", lambda p: p.write_bytes(bytes(range(7, 256)) * 4),
         r"not audio: its content is binary data of an unknown format"),
        ("noframes.wav", lambda p: sf.write(p, np.zeros(0, np.float32), SR), "no audio frames"),
        ("short.wav", lambda p: sf.write(p, tone(0.5), SR), "too short"),
        ("folder.wav", lambda p: p.mkdir(), "not a regular file"),
    ],
)
def test_probe_rejects_bad_files(tmp_path, name, make, reason):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(AudioFileError, match=reason) as info:
        probe_file(str(path), SMALL)
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)


def test_probe_offset_past_the_end_is_too_short(write_audio):
    path = write_audio("a.wav", tone(2.0))
    with pytest.raises(AudioFileError, match="too short.*offset"):
        probe_file(str(path), spec(n_segments=3, segment_length=SR, offset=1.5))


# --- decoding ---------------------------------------------------------------------------------


def test_load_window_equals_librosa_load(write_audio):
    y = noise(3.0, 0.3, seed=6)
    path = str(write_audio("a.wav", y))
    plan = probe_file(path, spec(n_segments=2, segment_length=SR, offset=0.5))
    expected, _ = librosa.load(path, sr=SR, offset=0.5, duration=2.0)
    np.testing.assert_array_equal(load_window(plan, SR), expected)


def test_load_window_stereo_and_resampled(write_audio):
    left, right = tone(3.0, freq=300.0, sr=44100), tone(3.0, freq=900.0, amplitude=0.2, sr=44100)
    path = str(write_audio("stereo44k.wav", np.stack([left, right], axis=1), sr=44100))
    plan = probe_file(path, SMALL)
    got = load_window(plan, SR)
    expected, _ = librosa.load(path, sr=SR, mono=True)
    assert got.shape == (3 * SR,) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected[: 3 * SR])


@pytest.mark.parametrize("channels", [1, 2])
def test_au_fast_path_equals_libsndfile(write_audio, channels):
    y = noise(3.0, 0.3, seed=9)
    samples = y if channels == 1 else np.stack([y, y[::-1]], axis=1)
    path = str(write_audio("a.au", samples, format="AU", subtype="PCM_16"))
    plan = probe_file(path, spec(n_segments=2, segment_length=SR, offset=0.5))
    assert (plan.format, plan.subtype) == ("AU", "PCM_16")
    fast = _read_au_pcm16(plan)
    assert fast is not None and fast.shape == (channels, 2 * SR)
    np.testing.assert_array_equal(fast, np.concatenate(list(_libsndfile_blocks(plan)), axis=1))
    expected, _ = librosa.load(path, sr=SR, offset=0.5, duration=2.0)
    np.testing.assert_array_equal(load_window(plan, SR), expected)


def test_au_fast_path_declines_what_it_does_not_read(tmp_path, write_audio):
    """Short reads and other encodings go to libsndfile, which decodes or reports them."""
    good = write_audio("a.au", noise(3.0, 0.3, seed=10), format="AU", subtype="PCM_16")
    plan = probe_file(str(good), SMALL)
    assert _read_au_pcm16(plan) is not None
    beyond_the_end = dataclasses.replace(plan, stop=4 * SR)
    assert _read_au_pcm16(beyond_the_end) is None
    data = bytearray(good.read_bytes())
    data[12:16] = (6).to_bytes(4, "big")  # encoding 6: 32-bit float
    other = tmp_path / "float.au"
    other.write_bytes(bytes(data))
    assert _read_au_pcm16(dataclasses.replace(plan, path=str(other))) is None


def test_extract_file_fills_complete_segments_and_nans_the_rest(write_audio):
    y = noise(2.5, 0.3, seed=7)
    extraction = extract_file(probe_file(str(write_audio("a.wav", y)), SMALL), SMALL)
    features, n_filled = extraction.features, extraction.n_filled
    assert features.shape == (3, 22, 13) and n_filled == 2
    assert np.isfinite(features[:2]).all() and np.isnan(features[2]).all()


def test_extract_file_reports_decoding_errors(tmp_path, write_audio):
    good = write_audio("ok.flac", noise(4.0, 0.3, seed=8))
    data = good.read_bytes()
    broken = tmp_path / "truncated.flac"
    broken.write_bytes(data[: len(data) // 3])  # the header still claims 4 s
    plan = probe_file(str(broken), SMALL)  # the header alone looks fine
    with pytest.raises(AudioFileError, match="decoding failed"):
        extract_file(plan, SMALL)


# --- real GTZAN audio -------------------------------------------------------------------------


def test_real_au_files_decode_like_librosa(gtzan_root):
    files = sorted(gtzan_root.glob("*/*.au"))
    assert files, f"no .au files under {gtzan_root}"
    for path in files:
        plan = probe_file(str(path), spec())
        expected, _ = librosa.load(path, sr=SR, duration=30.0)
        np.testing.assert_array_equal(load_window(plan, SR), expected, err_msg=str(path))


def test_real_segment_equals_mfcc_alone(gtzan_root):
    rng = np.random.default_rng(0)
    files = sorted(p for p in gtzan_root.glob("*/*.*") if p.suffix in (".wav", ".au"))
    path = str(files[rng.integers(len(files))])
    s = spec()
    plan = probe_file(path, s)
    y = load_window(plan, SR)
    y_ref, _ = librosa.load(path, sr=SR)
    np.testing.assert_array_equal(y, y_ref[: s.window_length])
    extraction = extract_file(plan, s)
    features, n_filled = extraction.features, extraction.n_filled
    assert n_filled == 5
    i = int(rng.integers(5))
    expected = mfcc_alone(y_ref[i * 132300 : (i + 1) * 132300])
    assert expected.shape == (130, 13)
    assert_mfcc_close(features[i], expected)


@pytest.mark.parametrize("track", ["country.00003", "country.00004"])
def test_real_short_country_tracks_fill_five_segments(gtzan_root, track):
    path = str(gtzan_root / "country" / f"{track}.wav")
    assert sf.info(path).frames == 661500 - 92
    plan = probe_file(path, spec())
    assert plan.n_complete == 5
    extraction = extract_file(plan, spec())
    features, n_filled = extraction.features, extraction.n_filled
    assert n_filled == 5 and np.isfinite(features).all()
    y_ref, _ = librosa.load(path, sr=SR)
    assert_mfcc_close(features[4], mfcc_alone(y_ref[4 * 132300 :]))
