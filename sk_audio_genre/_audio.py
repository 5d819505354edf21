"""MFCCSegmenter's work on one file: place its segments, decode them, compute their MFCCs.

The helpers here are private; :class:`~sk_audio_genre.segmenter.MFCCSegmenter` is the
public face.  The work for one file is split in two passes so that a batch over many
files can report every bad file before any feature is computed:

1. :func:`probe_file` reads only the header (``soundfile.info``) and decides which
   window of the file will be decoded (:class:`FilePlan`), or raises
   :class:`AudioFileError` with the reason the file cannot be used.
2. :func:`extract_file` decodes that window once, cuts it into segments and computes
   the MFCC of every segment with :func:`segments_mfcc`.

:func:`segments_mfcc` computes the MFCCs of all segments of a file together but applies
the decibel conversion and its ``top_db`` floor per segment, so each segment's MFCC equals
``librosa.feature.mfcc(y=segment, ...)`` computed on that segment alone (up to float32
rounding).  The decibel conversion and the DCT are librosa's own
(``librosa.power_to_db``, ``librosa.feature.mfcc(S=...)``); the STFT and mel projection are
hand-written because ``benchmarks/extract_speed.py`` measured them faster.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
import scipy.sparse

from ._decode import FilePlan, decode, place_window, resampled_length, tile_windows
from ._files import Extraction, silent_units
from ._header import AudioFileError, read_header

#: ``librosa.power_to_db`` settings used by ``librosa.feature.mfcc``.
AMIN = 1e-10
TOP_DB = 80.0


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
    max_windows: int = 1

    #: What a file is cut into, for messages.
    units = "segments"

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

    # The extractor interface of sk_audio_genre._files.extract_files.

    def plan(self, path: str) -> FilePlan:
        """:func:`probe_file` with this spec."""
        return probe_file(path, self)

    def shape(self, plans: list[FilePlan]) -> tuple[int, int, int]:
        """:attr:`feature_shape`; with ``offset="all"``, room for the segments of the file
        that has the most windows (the others' extra segments are NaN)."""
        if self.offset != "all":
            return self.feature_shape
        most = max((len(plan.spans) for plan in plans), default=1)
        return (most * self.n_segments, self.n_frames, self.n_mfcc)

    def expected(self, plan: FilePlan) -> int:
        """A complete analysis fills every segment of the window; with ``offset="all"``
        every segment the planned windows hold."""
        return plan.n_complete if self.offset == "all" else self.n_segments

    def extract(self, plan: FilePlan) -> Extraction:
        """:func:`extract_file` with this spec."""
        return extract_file(plan, self)


def n_frames_for(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centered STFT (``librosa.stft(center=True)``) of ``n_samples`` samples.

    ``1 + n_samples // hop_length`` for an even ``n_fft``.
    """
    return 1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop_length


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


def segment_windows(frames: int, samplerate: int, spec: SegmentSpec) -> tuple[tuple[int, int], ...]:
    """The windows of a file to decode, ``(start, stop)`` in its own frames.

    ``spec.offset`` in seconds starts the one window there; ``"center"`` centres it in the
    file (or starts at 0 when the file is shorter than the window); ``"all"`` cuts the
    whole file into consecutive windows, or ``spec.max_windows`` evenly spaced ones
    (:func:`~sk_audio_genre._decode.tile_windows`).
    """
    if spec.offset == "all":
        length = resampled_length(spec.window_length, spec.sr, samplerate)
        return tile_windows(0, frames, length=length, stride=length,
                            max_windows=spec.max_windows)
    return (place_window(
        frames, samplerate, offset=spec.offset, length=spec.window_length, sr=spec.sr
    ),)  # fmt: skip


def _describe_shortfall(plan_frames: int, info, spec: SegmentSpec) -> str:
    seconds = plan_frames / info.samplerate
    need = spec.min_complete_length / spec.sr
    where = "" if spec.offset in (0, 0.0, "all") else f" after offset={spec.offset!r}"
    return (
        f"too short: {seconds:.3f} s of audio{where} (the file is "
        f"{info.frames / info.samplerate:.3f} s long), a complete "
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
    info = read_header(path)
    windows = segment_windows(info.frames, info.samplerate, spec)
    n_complete = sum(
        count_complete_segments(
            min(resampled_length(stop - start, info.samplerate, spec.sr), spec.window_length),
            spec)
        for start, stop in windows
    )  # fmt: skip
    if n_complete == 0:
        start, stop = windows[0]
        raise AudioFileError(path, _describe_shortfall(stop - start, info, spec))
    return FilePlan(path, info.samplerate, windows[0][0], windows[-1][1], n_complete,
                    info.format, info.subtype, info.frames,
                    windows if len(windows) > 1 else ())


def split_segments(y: np.ndarray, spec: SegmentSpec) -> np.ndarray:
    """The complete segments of ``y`` as rows ``(n_complete, segment_length)``.

    A complete segment shorter than ``segment_length`` (the file ends inside it but it
    still gives every frame) is zero-padded: with librosa's zero ``center`` padding this
    gives exactly the frames of the short segment.
    """
    y = y[: spec.window_length]
    n_complete = count_complete_segments(y.size, spec)
    if y.size >= n_complete * spec.segment_length:  # no padding needed: a view
        return y[: n_complete * spec.segment_length].reshape(n_complete, spec.segment_length)
    rows = np.zeros((n_complete, spec.segment_length), dtype=np.float32)
    for i in range(n_complete):
        piece = y[i * spec.segment_length : (i + 1) * spec.segment_length]
        rows[i, : piece.size] = piece
    return rows


def power_to_db_per_row(S: np.ndarray, *, amin: float = AMIN, top_db: float = TOP_DB) -> np.ndarray:
    """``librosa.power_to_db(S[i], ref=1.0, amin=amin, top_db=top_db)`` for every row ``i``.

    ``S`` has shape ``(n_rows, n_mels, n_frames)``; each row's ``top_db`` floor comes
    from that row's own maximum, not from the whole batch's (one call on the batch
    would floor every row at the loudest row's level).
    """
    return np.stack([librosa.power_to_db(row, ref=1.0, amin=amin, top_db=top_db) for row in S])


#: STFT frames processed together: with n_fft=2048 a block's buffers take about 0.5 MB,
#: which stays in a core's L2 cache (measured fastest of 8-130 frames, alone and in pairs).
_FRAMES_PER_BLOCK = 16


@functools.lru_cache(maxsize=8)
def _mel_projection(sr: int, n_fft: int) -> scipy.sparse.csr_array:
    """librosa's mel filter bank ``(n_mels, 1 + n_fft // 2)`` as a float64 sparse matrix.

    Each triangular filter spans a few FFT bins (about 2,000 of the 131,200 weights are
    non-zero for the defaults), so the sparse product does 1/60 of the dense one's work.
    """
    return scipy.sparse.csr_array(librosa.filters.mel(sr=sr, n_fft=n_fft).astype(np.float64))


@functools.lru_cache(maxsize=8)
def _hann_window(n_fft: int) -> np.ndarray:
    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    window.setflags(write=False)
    return window


def segments_melspectrogram(
    segments: np.ndarray, *, sr: int, n_fft: int, hop_length: int
) -> np.ndarray:
    """``librosa.feature.melspectrogram`` of each row, as if computed on that row alone.

    Each row gets librosa's centered, zero-padded, Hann-windowed STFT; the power
    spectrum and the mel projection are computed in float64 (librosa rounds the STFT to
    complex64 first), and the result is rounded to float32.  It differs from librosa's
    by float32 rounding only (a relative 5e-7 on GTZAN tracks).

    No step goes through BLAS: the FFT is pocketfft and the projection a sparse product,
    so the result does not depend on the number of threads anywhere, and every
    ``n_jobs`` and joblib backend gives bit-identical features.
    """
    n_rows, n_samples = segments.shape
    half = n_fft // 2
    n_bins = half + 1
    padded = np.zeros(n_samples + 2 * half)  # librosa's centering: zeros either side
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    n_frames = frames.shape[0]
    block = min(n_frames, _FRAMES_PER_BLOCK)
    windowed = np.empty((block, n_fft))
    squares = np.empty((block, 2 * n_bins))
    power = np.empty((block, n_bins))
    window = _hann_window(n_fft)
    projection = _mel_projection(sr, n_fft)
    mel = np.empty((n_rows, projection.shape[0], n_frames), dtype=np.float32)
    for row, segment in enumerate(segments):
        padded[half : half + n_samples] = segment
        for start in range(0, n_frames, block):  # blocks small enough to stay in cache
            stop = min(start + block, n_frames)
            size = stop - start
            np.multiply(frames[start:stop], window, out=windowed[:size])
            spectrum = scipy.fft.rfft(windowed[:size], axis=-1)
            np.square(spectrum.view(np.float64), out=squares[:size])  # re^2, im^2 interleaved
            np.add(squares[:size, 0::2], squares[:size, 1::2], out=power[:size])
            mel[row, :, start:stop] = projection @ power[:size].T
    return mel


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
    M = librosa.feature.mfcc(S=power_to_db_per_row(S), n_mfcc=n_mfcc)  # the DCT, batched
    return np.swapaxes(M, -1, -2)


def extract_file(plan: FilePlan, spec: SegmentSpec) -> Extraction:
    """Decode one planned file, window by window, and compute the MFCCs of its complete
    segments.

    The :class:`~sk_audio_genre._files.Extraction`'s ``features`` have shape
    ``spec.shape([plan])`` (float32): the complete segments of every window in order, then
    NaN; ``n_silent`` of the ``n_filled`` segments are silent.  Only one window's audio is
    held at a time.

    Raises
    ------
    AudioFileError
        If decoding fails or yields no complete segment.
    """
    features = np.full(spec.shape([plan]), np.nan, dtype=np.float32)
    filled = silent = 0
    peak, gain = 0.0, 1.0
    for start, stop in plan.spans:
        window = decode(plan.window(start, stop), spec.sr)
        segments = split_segments(window.samples, spec)
        if segments.shape[0] == 0:
            continue
        features[filled : filled + segments.shape[0]] = segments_mfcc(
            segments, sr=spec.sr, n_mfcc=spec.n_mfcc, n_fft=spec.n_fft,
            hop_length=spec.hop_length,
        )  # fmt: skip
        filled += segments.shape[0]
        silent += silent_units(segments)
        peak = max(peak, float(np.abs(segments).max(initial=0.0)))
        gain = min(gain, window.gain)
    if filled == 0:
        raise AudioFileError(
            plan.path,
            f"decoded fewer samples at {spec.sr} Hz than one complete segment "
            f"({spec.min_complete_length})",
        )
    return Extraction(features, filled, silent, peak, gain)
