"""Reading real-world files dependably (issue 14): any level, any name, any length, any
channel count; one file's trouble stays that file's.

Each test reproduces a defect found by trying the library on a real music library.
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder
from sk_audio_genre.reading import AudioFileError, FilePlan, load_window, read_header, read_window

from conftest import SR, tone

SMALL = dict(n_segments=2, segment_duration=1.0)


def noise(seconds: float, sr: int = 16000, seed: int = 0, level: float = 0.3) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(
        np.float32)


# --------------------------------------------------------------------------- full scale


@pytest.mark.parametrize("factor", [100.0, 1e30])
@pytest.mark.parametrize("extractor", [MFCCSegmenter(**SMALL), MusicnnEmbedder()],
                         ids=["mfcc", "musicnn"])
def test_samples_far_beyond_full_scale_are_analysed_at_full_scale(tmp_path, extractor, factor):
    """A float file written at the wrong scale (x100: 16-bit scale; x1e30: garbage) used to
    overflow musicnn's float16 step to NaN, and MFCC statistics to infinity."""
    y = noise(4.0, sr=SR)
    sf.write(tmp_path / "loud.wav", y * np.float32(factor), SR, subtype="FLOAT")
    sf.write(tmp_path / "peak1.wav", y / np.abs(y).max(), SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"loud.wav: samples exceed full scale \(peak \+"):
        X, reports = extractor.fit([str(tmp_path / "loud.wav")]).transform_with_report(
            [str(tmp_path / "loud.wav"), str(tmp_path / "peak1.wav")])
    assert [r.status for r in reports] == ["ok", "ok"]
    assert [note.kind for note in reports[0].notes] == ["full_scale"] and not reports[1].notes
    # the same audio peaking at 1: equal up to the float32 rounding of the scaling (the
    # largest difference measured was 3e-5 of the features' range)
    scale = np.abs(X[1]).max()
    np.testing.assert_allclose(X[0], X[1], rtol=0, atol=1e-4 * scale)


def test_a_few_decibels_over_full_scale_are_analysed_as_they_are(tmp_path):
    y = noise(4.0)
    y = 1.5 * y / np.abs(y).max()  # +3.5 dBFS, as float masters can peak
    sf.write(tmp_path / "hot.wav", y, 16000, subtype="FLOAT")
    plan = MusicnnEmbedder()._spec().plan(str(tmp_path / "hot.wav"))
    window = read_window(plan, 16000)
    assert window.gain == 1.0 and np.abs(window.samples).max() == pytest.approx(1.5)


def test_the_shipped_model_names_a_loud_float_file(gtzan_root, tmp_path):
    from sk_audio_genre import load_pretrained

    y, sr = sf.read(gtzan_root / "pop" / "pop.00000.wav", dtype="float32")
    paths = []
    for factor in (1.0, 100.0, 1e30):
        paths.append(str(tmp_path / f"pop_x{factor:g}.wav"))
        sf.write(paths[-1], y * np.float32(factor), sr, subtype="FLOAT")
    with pytest.warns(UserWarning, match="exceed full scale"):
        predicted = load_pretrained().predict(paths)
    assert predicted.tolist() == ["pop", "pop", "pop"]


# --------------------------------------------------------------------------- silence


def test_near_silence_is_silence(tmp_path):
    """1-LSB dither (max |x| 3e-5, -90 dBFS) used to get "pop 0.29" and no note."""
    dither = np.random.default_rng(0).integers(-1, 2, size=10 * 16000).astype(np.int16)
    sf.write(tmp_path / "dither.wav", dither, 16000, subtype="PCM_16")
    quiet = np.concatenate([dither / 32768, tone(6.0, sr=16000, noise=0.1)])
    sf.write(tmp_path / "intro.wav", quiet, 16000)
    embedder = MusicnnEmbedder(on_error="nan").fit([str(tmp_path / "dither.wav")])
    with pytest.warns(UserWarning) as caught:
        X, reports = embedder.transform_with_report(
            [str(tmp_path / "dither.wav"), str(tmp_path / "intro.wav")])
    messages = "\n".join(str(w.message) for w in caught)
    assert "dither.wav: silent throughout (peak -90.3 dBFS" in messages
    assert "intro.wav: 3 of 5 patches are silent" in messages
    assert reports[0].status == "failed" and np.isnan(X[0]).all()
    assert reports[1].status == "ok"
    assert reports[1].notes == ("3 of 5 patches are silent (below -60 dBFS)",)


# --------------------------------------------------------------------------- names, channels


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    """``bad\\xff\\xfename.wav`` was refused as "not readable as audio"."""
    y = tone(3.0, noise=0.1)
    sf.write(tmp_path / "plain.wav", y, SR)
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xff\xfename.wav")
    (tmp_path / "plain.wav").rename(odd)
    sf.write(tmp_path / "plain.wav", y, SR)
    for extractor in (MFCCSegmenter(**SMALL), MusicnnEmbedder()):
        X = extractor.fit_transform([odd, str(tmp_path / "plain.wav")])
        np.testing.assert_array_equal(X[0], X[1])  # the same file, computed the same way


def test_many_channels_are_mixed_block_by_block_like_librosa(tmp_path):
    import librosa

    rng = np.random.default_rng(1)
    y = (0.2 * rng.standard_normal((3 * SR, 6))).astype(np.float32)
    sf.write(tmp_path / "six.wav", y, SR, subtype="FLOAT")
    plan = MFCCSegmenter(**SMALL)._spec().plan(str(tmp_path / "six.wav"))
    expected, _ = librosa.load(tmp_path / "six.wav", sr=SR, duration=2.0)
    # each mono sample is the mean of its own frame, whatever the block it was read in
    np.testing.assert_array_equal(load_window(plan, SR), expected)


@pytest.mark.parametrize(("offset", "value", "what"), [
    (24, 10**9, "samplerate=1000000000"),   # the header's sample rate field
    (22, 300, "channels=300"),                # its channel count
])
def test_a_header_claiming_impossible_audio_is_refused(tmp_path, offset, value, what):
    path = tmp_path / "crafted.wav"
    sf.write(path, tone(1.0), SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    size = 4 if offset == 24 else 2
    data[offset : offset + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(data))
    try:
        read_header(str(path))
    except AudioFileError as exc:  # libsndfile may refuse it first; either way a reason
        assert what in exc.reason or "corrupt" in exc.reason or "not" in exc.reason
    else:
        pytest.fail("a header claiming impossible audio was accepted")


# --------------------------------------------------------------------------- FFmpeg formats


def write_m4a(path, y: np.ndarray, sr: int) -> None:
    """Mono float samples as AAC in an MPEG-4 container, with PyAV."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        for start in range(0, y.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(y[np.newaxis, start : start + 1024]), format="fltp",
                layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_an_m4a_window_is_decoded_without_decoding_the_file_before_it(tmp_path, monkeypatch):
    """A 1-hour m4a used 1.65 GB for its centre window: FFmpeg decoded from the start and
    kept everything.  Now it seeks, and decodes only the window and a 1 s pre-roll."""
    av = pytest.importorskip("av")
    sr = 22050
    t = np.arange(120 * sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 440 * t * (1 + 0.1 * np.sin(t)))).astype(np.float32)
    path = tmp_path / "two_minutes.m4a"
    write_m4a(path, y, sr)
    header = read_header(str(path))
    plan = FilePlan(str(path), sr, 90 * sr, 93 * sr, 1, "FFMPEG", header.subtype, header.frames)

    decoded = []
    resample = av.AudioResampler.resample

    def counting(self, frame):
        converted = resample(self, frame)
        decoded.extend(c.samples for c in converted)
        return converted

    monkeypatch.setattr(av.AudioResampler, "resample", counting)
    window = load_window(plan, sr)
    assert sum(decoded) < 5 * sr  # 3 s window + 1 s pre-roll + a frame's rounding
    monkeypatch.undo()
    whole = load_window(FilePlan(str(path), sr, 0, header.frames, 1, "FFMPEG", header.subtype,
                                 header.frames), sr)
    # the same samples as decoding from the start: AAC's state is rebuilt in the pre-roll
    np.testing.assert_array_equal(window, whole[90 * sr : 93 * sr])


# --------------------------------------------------------------------------- parameters


def test_set_params_checks_the_parameters_and_keeps_them_when_it_refuses():
    segmenter = MFCCSegmenter(segment_duration=1.0)
    with pytest.raises(ValueError, match="fewer than n_fft=4096"):
        segmenter.set_params(segment_duration=0.1, n_fft=4096)
    assert (segmenter.segment_duration, segmenter.n_fft) == (1.0, 2048)
    with pytest.raises(ValueError, match="layer"):
        MusicnnEmbedder().set_params(layer="cnn9")
