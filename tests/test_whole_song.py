"""Whole-song mode (issue 15): ``offset="all"`` analyses a file window by window, in bounded
memory, and says which windows it heard."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder
from sk_audio_genre import embedder

from conftest import SR, tone

SEGMENTS = dict(n_segments=2, segment_duration=2.5)  # 5 s windows


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 32 s file whose pitch changes every second: every window is different."""
    parts = [tone(1.0, freq=200.0 + 37 * i, noise=0.05, seed=i) for i in range(32)]
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, np.concatenate(parts), SR)
    return str(path)


def test_mfcc_segments_of_every_window_in_order(song):
    whole, reports = MFCCSegmenter(**SEGMENTS, offset="all").fit(
        [song]).transform_with_report([song])
    # six full 5 s windows and a last one of 2 s, too short for a 2.5 s segment
    assert whole.shape == (1, 14, 54, 13) and reports[0].n_filled == 12
    assert np.isnan(whole[0, 12:]).all()
    for k in range(6):  # each window is what the single window at its offset gives
        alone = MFCCSegmenter(**SEGMENTS, offset=5.0 * k).fit_transform([song])
        np.testing.assert_array_equal(whole[0, 2 * k : 2 * k + 2], alone[0])
    assert reports[0].status == "ok" and reports[0].analysed == "all"


def test_a_long_file_is_sampled_by_evenly_spaced_windows(song):
    segmenter = MFCCSegmenter(**SEGMENTS, offset="all", max_windows=3)
    X, reports = segmenter.fit([song]).transform_with_report([song])
    assert X.shape == (1, 6, 54, 13)
    for k, start in enumerate(np.linspace(0, 32 - 5, 3)):  # 0, 13.5 and 27 s
        alone = MFCCSegmenter(**SEGMENTS, offset=float(start)).fit_transform([song])
        np.testing.assert_array_equal(X[0, 2 * k : 2 * k + 2], alone[0])
    assert reports[0].analysed == "3 windows of 5.0 s spread over 32.0 s"
    assert MFCCSegmenter(**SEGMENTS, offset="all", max_windows=10).set_params(
        max_windows=2).max_windows == 2  # the parameter takes effect (see the shape above)


def test_musicnn_pools_the_patches_of_every_window(song):
    whole = MusicnnEmbedder(offset="all", duration=6.0).fit_transform([song])
    patches = MusicnnEmbedder(offset="all", duration=6.0, pooling="none").fit_transform([song])
    assert patches.shape == (1, 10, 1, 200)  # five full 6 s windows of two patches each
    np.testing.assert_allclose(whole[0], patches[0, :, 0].mean(axis=0), rtol=0, atol=1e-6)
    first = MusicnnEmbedder(offset=0.0, duration=6.0, pooling="none").fit_transform([song])
    np.testing.assert_array_equal(patches[0, :2], first[0])
    with pytest.raises(ValueError, match="offset='all' cuts the file into windows of `duration`"):
        MusicnnEmbedder(offset="all").fit([song])


def test_only_one_window_is_decoded_at_a_time(song, monkeypatch):
    decoded = []
    decode = embedder.decode

    def recording(plan, sr):
        decoded.append(plan.stop - plan.start)
        return decode(plan, sr)

    monkeypatch.setattr(embedder, "decode", recording)
    MusicnnEmbedder(offset="all", duration=6.0).fit_transform([song])
    assert len(decoded) == 6 and max(decoded) <= 6 * SR  # six windows, none longer than 6 s


def test_to_the_end_of_a_long_file_in_chunks_of_patches(song, monkeypatch):
    """``duration=None`` holds one chunk of patches at a time.  Each chunk is decoded with the
    audio around its own patches, so they are those of one pass over the whole file up to
    the resampler's rounding (soxr filters a shorter signal slightly differently)."""
    once = MusicnnEmbedder(pooling="none").fit_transform([song])
    monkeypatch.setattr(embedder, "CHUNK_PATCHES", 3)
    decoded = []
    decode = embedder.decode
    monkeypatch.setattr(embedder, "decode",
                        lambda plan, sr: decoded.append(plan.stop - plan.start) or decode(plan, sr))
    chunked = MusicnnEmbedder(pooling="none").fit_transform([song])
    # 4 chunks: 3 patches each, the patch before them and 8 frames after: at most 12.1 s
    assert len(decoded) == 4 and max(decoded) < 12.2 * SR
    assert chunked.shape == once.shape == (1, 10, 1, 200)  # the same ten patches
    # measured: 4.8e-5 at most, 1.1e-5 of the layer's range; chunks without the audio around
    # their patches differed by 0.14, chunks a fraction of a sample off by 8e-4
    scale = np.abs(once).max()
    np.testing.assert_allclose(chunked, once, rtol=0, atol=5e-5 * scale)


def test_whole_song_bounds_are_checked():
    with pytest.raises(ValueError, match="max_windows"):
        MFCCSegmenter(offset="all", max_windows=101).fit(["a.wav"])
    with pytest.raises(ValueError, match="values per file"):
        MFCCSegmenter(offset="all", max_windows=100, hop_length=256, n_mfcc=40).fit(["a.wav"])


def test_the_shipped_model_hears_a_whole_song_on_the_command_line(gtzan_root, tmp_path, capsys):
    """Three tracks of one genre end to end: the whole-song answer says it heard 3 windows."""
    from sk_audio_genre.cli import main

    tracks = sorted((gtzan_root / "metal").glob("metal.*"))[:3]
    y = np.concatenate([sf.read(t, dtype="float32")[0][: 30 * 22050] for t in tracks])
    path = tmp_path / "metal_medley.wav"
    sf.write(path, y, 22050)
    assert main(["predict", str(path), "--offset", "all", "--format", "jsonl",
                 "--no-unknown"]) == 0
    record = capsys.readouterr().out.strip()
    assert '"genre": "metal"' in record and '"analysed": "all"' in record
    assert main(["predict", str(path), "--format", "jsonl", "--no-unknown"]) == 0
    assert '"analysed": "30.0-60.0 s of 90.0 s"' in capsys.readouterr().out  # the middle 29.92 s
