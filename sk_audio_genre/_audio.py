"""Load and validate audio files, place segment boundaries, compute per-segment MFCCs.

The helpers here are private; :class:`~sk_audio_genre.segmenter.MFCCSegmenter` is the
public face.  The work for one file is split in two passes so that a batch over many
files can report every bad file before any feature is computed:

1. :func:`probe_file` reads only the header (``soundfile.info``) and decides which
   window of the file will be decoded (:class:`FilePlan`), or raises
   :class:`AudioFileError` with the reason the file cannot be used.
2. :func:`extract_file` decodes that window once, cuts it into segments and computes
   the MFCC of every segment with :func:`segments_mfcc`.

:func:`segments_mfcc` batches the mel spectrogram of all segments of a file (the STFT and
the mel filter bank treat rows independently) but applies the decibel conversion and its
``top_db`` floor per segment, so each segment's MFCC equals
``librosa.feature.mfcc(y=segment, ...)`` computed on that segment alone.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
import soundfile as sf
from threadpoolctl import ThreadpoolController

#: ``librosa.power_to_db`` settings used by ``librosa.feature.mfcc``.
AMIN = 1e-10
TOP_DB = 80.0


class AudioFileError(ValueError):
    """A file that cannot give features; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class SegmentSpec:
    """How files are cut into segments and which MFCCs are computed (target rate ``sr``)."""

    sr: int
    n_segments: int
    segment_length: int
    n_mfcc: int
    n_fft: int
    hop_length: int
    offset: float | str

    @property
    def window_length(self) -> int:
        """Samples (at ``sr``) covered by all segments together."""
        return self.n_segments * self.segment_length

    @property
    def n_frames(self) -> int:
        """MFCC frames of one complete segment."""
        return n_frames_for(self.segment_length, self.n_fft, self.hop_length)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """Shape of one file's features: ``(n_segments, n_frames, n_mfcc)``."""
        return (self.n_segments, self.n_frames, self.n_mfcc)

    @property
    def min_complete_length(self) -> int:
        """The fewest samples a segment may have and still give ``n_frames`` frames."""
        n_fft, hop = self.n_fft, self.hop_length
        return (self.n_frames - 1) * hop + n_fft - 2 * (n_fft // 2)


@dataclass(frozen=True)
class FilePlan:
    """The window of one file to decode, in the file's own frames, and what it should give."""

    path: str
    samplerate: int
    start: int
    stop: int
    n_complete: int


def n_frames_for(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centered STFT (``librosa.stft(center=True)``) of ``n_samples`` samples.

    ``1 + n_samples // hop_length`` for an even ``n_fft``.
    """
    return 1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop_length


def resampled_length(n_samples: int, orig_sr: int, target_sr: int) -> int:
    """Length of ``librosa.resample`` output for ``n_samples`` input samples."""
    if orig_sr == target_sr:
        return n_samples
    return int(math.ceil(n_samples * target_sr / orig_sr))


def segment_lengths(n_samples: int, spec: SegmentSpec) -> list[int]:
    """Samples falling into each segment when ``n_samples`` samples follow the start."""
    length = spec.segment_length
    return [min(max(n_samples - i * length, 0), length) for i in range(spec.n_segments)]


def count_complete_segments(n_samples: int, spec: SegmentSpec) -> int:
    """How many leading segments give their full ``n_frames`` frames."""
    complete = 0
    for m in segment_lengths(n_samples, spec):
        if m == 0 or m < spec.min_complete_length:
            break
        complete += 1
    return complete


def window_bounds(frames: int, samplerate: int, spec: SegmentSpec) -> tuple[int, int]:
    """``(start, stop)`` in the file's own frames of the window to decode.

    ``spec.offset`` in seconds starts the window there; ``"center"`` centres the
    window in the file (or starts at 0 when the file is shorter than the window).
    """
    needed = resampled_length(spec.window_length, spec.sr, samplerate)
    if spec.offset == "center":
        start = max(0, (frames - needed) // 2)
    else:
        start = int(round(float(spec.offset) * samplerate))
    start = min(start, frames)
    return start, min(frames, start + needed)


def _describe_shortfall(plan_frames: int, samplerate: int, spec: SegmentSpec) -> str:
    seconds = plan_frames / samplerate
    need = spec.min_complete_length / spec.sr
    where = "" if spec.offset in (0, 0.0) else f" after offset={spec.offset!r}"
    return (
        f"too short: {seconds:.3f} s of audio{where}, a complete "
        f"{spec.segment_length / spec.sr:g} s segment needs at least {need:.3f} s"
    )


def probe_file(path: str, spec: SegmentSpec) -> FilePlan:
    """Check a file from its header alone and plan the window to decode.

    Raises
    ------
    AudioFileError
        If the file is missing, empty, not audio that libsndfile reads, or too short
        for one complete segment after the offset.
    """
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    if not os.path.isfile(path):
        raise AudioFileError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        info = sf.info(path)
    except Exception as exc:  # libsndfile reports every kind of bad header this way
        raise AudioFileError(path, f"not readable as audio ({_short_error(exc)})") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(
            path, f"invalid header (samplerate={info.samplerate}, channels={info.channels})"
        )
    if info.frames <= 0:
        raise AudioFileError(path, "contains no audio frames")
    start, stop = window_bounds(info.frames, info.samplerate, spec)
    n_complete = count_complete_segments(
        min(resampled_length(stop - start, info.samplerate, spec.sr), spec.window_length), spec
    )
    if n_complete == 0:
        raise AudioFileError(path, _describe_shortfall(stop - start, info.samplerate, spec))
    return FilePlan(path, info.samplerate, start, stop, n_complete)


def _short_error(exc: BaseException) -> str:
    """libsndfile's own words (``"Format not recognised."``), without the path it repeats."""
    text = getattr(exc, "error_string", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def load_window(plan: FilePlan, sr: int) -> np.ndarray:
    """Decode the planned window as float32 mono at ``sr`` (like ``librosa.load``).

    Stereo is averaged to mono with ``librosa.to_mono``; other rates are resampled with
    ``librosa.resample`` (its default ``soxr_hq``).
    """
    with sf.SoundFile(plan.path) as f:
        if plan.start:
            f.seek(plan.start)
        y = f.read(frames=plan.stop - plan.start, dtype="float32", always_2d=True).T
    y = librosa.to_mono(y) if y.shape[0] > 1 else y[0]
    if plan.samplerate != sr and y.size:
        y = librosa.resample(y, orig_sr=plan.samplerate, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def split_segments(y: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    """The complete segments of ``y`` as rows ``(n_complete, segment_length)``.

    A complete segment shorter than ``segment_length`` (the file ends inside it but it
    still gives every frame) is zero-padded: with librosa's zero ``center`` padding this
    gives exactly the frames of the short segment.
    """
    y = y[: spec.window_length]
    n_complete = count_complete_segments(y.size, spec)
    rows = np.zeros((n_complete, spec.segment_length), dtype=np.float32)
    for i in range(n_complete):
        piece = y[i * spec.segment_length : (i + 1) * spec.segment_length]
        rows[i, : piece.size] = piece
    return rows


def power_to_db_per_row(S: np.ndarray, *, amin: float = AMIN, top_db: float = TOP_DB) -> np.ndarray:
    """``librosa.power_to_db(S[i], ref=1.0, amin=amin, top_db=top_db)`` for every row ``i``.

    ``S`` has shape ``(n_rows, n_mels, n_frames)``; each row's ``top_db`` floor comes
    from that row's own maximum, not from the whole batch's.
    """
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, 1.0))
    floor = log_spec.max(axis=(-2, -1), keepdims=True) - top_db
    return np.maximum(log_spec, floor)


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int) -> np.ndarray:
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft)
    basis.setflags(write=False)
    return basis


def segments_melspectrogram(
    segments: np.ndarray, *, sr: int, n_fft: int, hop_length: int
) -> np.ndarray:
    """``librosa.feature.melspectrogram`` of each row, bit-for-bit as if computed alone.

    The STFT runs on the whole batch (its rows are independent and bit-identical to
    single-row calls); the mel projection runs row by row with librosa's own ``einsum``,
    because a batched ``einsum`` takes another contraction path and rounds differently.
    The projection uses one BLAS thread, so results do not depend on the thread count
    (and equal librosa's bit for bit when librosa also runs on one BLAS thread).
    """
    power = np.abs(librosa.stft(segments, n_fft=n_fft, hop_length=hop_length)) ** 2.0
    basis = _mel_basis(sr, n_fft)
    with _single_blas_thread():
        return np.stack([np.einsum("ft,mf->mt", row, basis, optimize=True) for row in power])


_CONTROLLER: ThreadpoolController | None = None


def _single_blas_thread():
    """Limit BLAS to one thread (a context manager).

    OpenBLAS rounds a float32 matrix product differently with different thread counts,
    and joblib workers get fewer threads than the main process; one thread everywhere
    makes ``n_jobs`` leave the features bit-identical.
    """
    global _CONTROLLER
    if _CONTROLLER is None:  # once per process: inspecting the loaded libraries is slow
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def segments_mfcc(
    segments: np.ndarray, *, sr: int, n_mfcc: int, n_fft: int, hop_length: int
) -> np.ndarray:
    """MFCCs of each row of ``segments`` as if computed on that row alone.

    Parameters
    ----------
    segments : ndarray of shape (n_rows, n_samples)
        Equal-length mono segments.

    Returns
    -------
    ndarray of shape (n_rows, n_frames, n_mfcc)
        ``librosa.feature.mfcc(y=segments[i], sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
        hop_length=hop_length).T`` for every row ``i``.
    """
    S = segments_melspectrogram(segments, sr=sr, n_fft=n_fft, hop_length=hop_length)
    S_db = power_to_db_per_row(S)
    M = scipy.fft.dct(S_db, type=2, norm="ortho", axis=-2)[..., :n_mfcc, :]
    return np.swapaxes(M, -1, -2)


def extract_file(plan: FilePlan, spec: SegmentSpec) -> tuple[np.ndarray, int]:
    """Decode one planned file and return ``(features, n_filled)``.

    ``features`` has shape ``spec.feature_shape`` (float32); segments past the
    ``n_filled`` complete ones are NaN.

    Raises
    ------
    AudioFileError
        If decoding fails or yields no complete segment.
    """
    try:
        y = load_window(plan, spec.sr)
    except Exception as exc:
        raise AudioFileError(plan.path, f"decoding failed ({_short_error(exc)})") from None
    segments = split_segments(y, spec)
    if segments.shape[0] == 0:
        raise AudioFileError(
            plan.path,
            f"decoded only {y.size} samples at {spec.sr} Hz, "
            f"fewer than one complete segment ({spec.min_complete_length})",
        )
    features = np.full(spec.feature_shape, np.nan, dtype=np.float32)
    features[: segments.shape[0]] = segments_mfcc(
        segments, sr=spec.sr, n_mfcc=spec.n_mfcc, n_fft=spec.n_fft, hop_length=spec.hop_length
    )
    return features, segments.shape[0]


def extract_or_reason(plan: FilePlan, spec: SegmentSpec) -> tuple[np.ndarray | None, int, str]:
    """:func:`extract_file` for a parallel worker: errors come back as a reason string."""
    try:
        features, n_filled = extract_file(plan, spec)
    except AudioFileError as exc:
        return None, 0, exc.reason
    return features, n_filled, ""
