"""Decode the window of an audio file that an analysis needs, as librosa.load would.

:class:`FilePlan` says which frames of which file to decode (planned from its header, see
:mod:`sk_audio_genre._header`); :func:`load_window` decodes them as float32 mono at the
analysis rate, like ``librosa.load(path, sr=sr, offset=..., duration=...)``: libsndfile for
most formats (with two faster exact readers for 16-bit PCM), FFmpeg through PyAV for the
rest, ``librosa.to_mono`` and ``librosa.resample`` (``soxr_hq``).  Shared by the MFCC
segments (:mod:`sk_audio_genre._audio`) and musicnn's patches (:mod:`sk_audio_genre._patches`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf

from ._header import AudioFileError, short_error


@dataclass(frozen=True)
class FilePlan:
    """The window of one file to decode, in the file's own frames, and what it should give."""

    path: str
    samplerate: int
    start: int
    stop: int
    n_complete: int
    format: str = ""
    subtype: str = ""


def resampled_length(n_samples: int, orig_sr: int, target_sr: int) -> int:
    """Length of ``librosa.resample`` output for ``n_samples`` input samples."""
    if orig_sr == target_sr:
        return n_samples
    return int(math.ceil(n_samples * target_sr / orig_sr))


def place_window(
    frames: int, samplerate: int, *, offset: float | str, length: int | None, sr: int
) -> tuple[int, int]:
    """``(start, stop)`` in a file's own frames of a window of ``length`` samples at ``sr``.

    ``offset`` in seconds starts the window there; ``"center"`` centres it in the file
    (or starts at 0 when the file is shorter).  ``length=None`` runs to the file's end.
    """
    needed = frames if length is None else resampled_length(length, sr, samplerate)
    if offset == "center":
        start = max(0, (frames - needed) // 2)
    else:
        start = int(round(float(offset) * samplerate))
    start = min(start, frames)
    return start, min(frames, start + needed)


def prepare_decoding() -> None:
    """Import now what decoding and the spectrograms need (librosa loads its modules on
    first use, numba among them: about 1.5 s), so that a model's first prediction does
    not pay for it.  The audio transformers' ``fit`` calls it; a no-op after the first."""
    for name in ("to_mono", "resample", "stft", "filters", "feature"):
        getattr(librosa, name)
    librosa.feature.melspectrogram  # noqa: B018 - the attribute access is the import


def load_window(plan: FilePlan, sr: int) -> np.ndarray:
    """Decode the planned window as float32 mono at ``sr`` (like ``librosa.load``).

    Stereo is averaged to mono with ``librosa.to_mono``; other rates are resampled with
    ``librosa.resample`` (its default ``soxr_hq``).

    Raises
    ------
    AudioFileError
        If a decoded sample is NaN or infinite (a float file can hold them; one would
        turn its whole segment or patch into NaN).
    """
    y = _read_au_pcm16(plan) if (plan.format, plan.subtype) == ("AU", "PCM_16") else None
    if y is None:
        y = _read_with_ffmpeg(plan) if plan.format == "FFMPEG" else _read_with_libsndfile(plan)
    if not plan.subtype.startswith(("PCM", "ULAW", "ALAW")):  # integer samples are finite
        _check_finite(y, plan)
    y = librosa.to_mono(y) if y.shape[0] > 1 else y[0]
    if plan.samplerate != sr and y.size:
        y = librosa.resample(y, orig_sr=plan.samplerate, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def _check_finite(y: np.ndarray, plan: FilePlan) -> None:
    """Refuse decoded ``(channels, frames)`` samples holding NaN or infinity."""
    bad = ~np.isfinite(y).all(axis=0)
    if bad.any():
        n, first = int(bad.sum()), int(np.argmax(bad))
        raise AudioFileError(
            plan.path,
            f"{n} sample{'s are' if n != 1 else ' is'} NaN or infinite (first at "
            f"{(plan.start + first) / plan.samplerate:.3f} s)",
        )


def _read_with_ffmpeg(plan: FilePlan) -> np.ndarray:
    """The planned window as float32 ``(channels, frames)``, decoded by FFmpeg (PyAV)."""
    import av

    with av.open(plan.path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=plan.samplerate)
        chunks, decoded = [], 0
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                chunk = converted.to_ndarray()
                chunks.append(chunk)
                decoded += chunk.shape[1]
            if decoded >= plan.stop:
                break
    if not chunks:
        return np.zeros((stream.channels or 1, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1)[:, plan.start : plan.stop].astype(np.float32)


def _read_with_libsndfile(plan: FilePlan) -> np.ndarray:
    """The planned window as float32 ``(channels, frames)``, decoded by libsndfile."""
    with sf.SoundFile(plan.path) as f:
        if plan.start:
            f.seek(plan.start)
        frames = plan.stop - plan.start
        if plan.subtype == "PCM_16":
            # libsndfile's own float conversion is sample / 32768; numpy does the same
            # (exactly: a power of two) several times faster.
            return _pcm16_to_float32(f.read(frames=frames, dtype="int16", always_2d=True).T)
        return f.read(frames=frames, dtype="float32", always_2d=True).T


def _read_au_pcm16(plan: FilePlan) -> np.ndarray | None:
    """The planned window of a 16-bit Sun/NeXT ``.au`` file (GTZAN's own format), read by numpy.

    libsndfile byte-swaps big-endian samples in small chunks and takes several times
    longer; the samples are the same.  ``None`` when the header is not the plain
    big-endian layout or the file ends early, so that libsndfile decodes (and reports).
    """
    with open(plan.path, "rb") as f:
        header = f.read(24)
        if len(header) < 24 or header[:4] != b".snd":
            return None
        data_offset, _, encoding, _, channels = struct.unpack(">5I", header[4:24])
        if encoding != 3 or channels == 0:  # 3: 16-bit linear PCM
            return None
        count = (plan.stop - plan.start) * channels
        f.seek(data_offset + plan.start * channels * 2)
        samples = np.fromfile(f, dtype=">i2", count=count)
    if samples.size != count:
        return None
    return _pcm16_to_float32(samples.reshape(-1, channels).T)


def _pcm16_to_float32(samples: np.ndarray) -> np.ndarray:
    """16-bit samples as float32 in [-1, 1), exactly as libsndfile converts them."""
    y = samples.astype(np.float32)
    y *= np.float32(1 / 32768)
    return y


def decode(plan: FilePlan, sr: int) -> np.ndarray:
    """:func:`load_window`, every failure an :class:`AudioFileError` naming the file."""
    try:
        return load_window(plan, sr)
    except AudioFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise AudioFileError(plan.path, f"decoding failed ({short_error(exc)})") from None
