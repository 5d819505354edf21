"""Shared fixtures: fixed seeds, synthetic audio files and the shared GTZAN data."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "SK_AUDIO_GENRE_DATA"
REQUIRE_DATA_ENV = "SK_AUDIO_GENRE_REQUIRE_DATA"
SR = 22050


def shared_data_dir() -> Path:
    """The shared data folder: ``$SK_AUDIO_GENRE_DATA`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get(DATA_ENV, REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``gtzan/`` and ``splits/``); skips, or fails under CI, if absent."""
    root = shared_data_dir()
    if not (root / "gtzan").is_dir():
        reason = (
            f"real GTZAN audio not found at {root / 'gtzan'}; set {DATA_ENV} "
            "to the folder holding gtzan/ and splits/"
        )
        if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
            pytest.fail(f"{reason} ({REQUIRE_DATA_ENV} is set, so this is an error)")
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def gtzan_root(shared_data) -> Path:
    return shared_data / "gtzan"


@pytest.fixture(scope="session")
def shared_sources(shared_data) -> list[dict]:
    """The rows of the shared folder's ``SOURCES.csv``: one per track (``track``, ``file``, ...).

    Tests derive their expectations (how many tracks, which genres and formats) from it and
    from ``splits/``, never from counts written into the test: the shared folder grows.
    """
    with open(shared_data / "SOURCES.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def shared_split_ids(shared_data) -> dict[str, set[str]]:
    """The fault-filtered lists of the shared folder as track ids (``blues.00012``) per list."""
    return {
        name: {Path(line.strip()).name.rsplit(".", 1)[0]
               for line in (shared_data / "splits" / f"{name}_filtered.txt").read_text().split()}
        for name in ("train", "valid", "test")
    }


#: MFCCs compared with librosa's: this library (pocketfft and a sparse mel product) and librosa
#: (BLAS) round differently in float32, and the error is a few float32 steps of the largest
#: coefficient (c0, up to about 1,100 dB here), wherever it lands.  Measured largest difference
#: / largest |value| of the compared array, over the 81 comparisons of test_audio.py and
#: test_segmenter.py: 2.2e-7 (AMD EPYC, AVX2; by default, under OPENBLAS_CORETYPE=Sandybridge
#: with NPY_DISABLE_CPU_FEATURES=X86_V3, and with one thread).  The former absolute 1e-4 used
#: 92% of itself (9.2e-5 at values up to 489).  1e-6 of the largest value leaves 4.5x; one
#: sample of offset, another window or a 0.1% gain moves MFCCs by 0.1 dB or more.
MFCC_TOLERANCE = 1e-6


def assert_mfcc_close(actual, expected, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` within float32 rounding of MFCCs (``MFCC_TOLERANCE``)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=0, err_msg=err_msg,
                               atol=MFCC_TOLERANCE * float(np.abs(expected).max()))


def tone(
    seconds: float,
    *,
    freq: float = 440.0,
    amplitude: float = 0.5,
    sr: int = SR,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A sine tone, optionally with white noise, as float32 samples."""
    t = np.arange(int(round(seconds * sr))) / sr
    y = amplitude * np.sin(2 * np.pi * freq * t)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(t.size)
    return y.astype(np.float32)


@pytest.fixture
def write_audio(tmp_path):
    """Write samples to ``tmp_path/name`` with soundfile; returns the path."""

    def _write(name: str, samples: np.ndarray, sr: int = SR, **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, sr, **kwargs)
        return path

    return _write


#: Genres of the synthetic tone files (one pitch per genre).
TONE_GENRES = ("blues", "metal", "jazz")
#: Short segments keep synthetic tests fast: 0.5 s at 8 kHz, 256-sample hops -> 16 frames.
SMALL_SEGMENTER = {
    "sr": 8000,
    "n_segments": 2,
    "segment_duration": 0.5,
    "n_fft": 512,
    "hop_length": 256,
}


@pytest.fixture(scope="session")
def tone_files(tmp_path_factory):
    """Four 1 s files per genre in ``TONE_GENRES``: a pitch per genre, with a little noise."""
    folder = tmp_path_factory.mktemp("tones")
    paths, labels = [], []
    for k, genre in enumerate(TONE_GENRES):
        for i in range(4):
            samples = tone(1.0, freq=220.0 * (k + 1) * (1 + 0.03 * i), sr=8000, noise=0.05, seed=i)
            path = folder / f"{genre}.{i:05d}.wav"
            sf.write(path, samples, 8000)
            paths.append(str(path))
            labels.append(genre)
    return np.array(paths), np.array(labels)
