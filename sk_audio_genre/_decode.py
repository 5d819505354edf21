"""Decode the window of an audio file that an analysis needs, as librosa.load would.

:class:`FilePlan` says which frames of which file to decode (planned from its header, see
:mod:`sk_audio_genre._header`); :func:`read_window` decodes them as float32 mono at the
analysis rate, like ``librosa.load(path, sr=sr, offset=..., duration=...)``: libsndfile for
most formats (with two faster exact readers for 16-bit PCM), FFmpeg through PyAV for the
rest (seeking to the window, so memory does not grow with the file's length),
``librosa.to_mono`` and ``librosa.resample`` (``soxr_hq``).  Shared by the MFCC segments
(:mod:`sk_audio_genre._audio`) and musicnn's patches (:mod:`sk_audio_genre._patches`).

Two things librosa.load does not do:

* **Blocks.**  The window is read in blocks of :data:`BLOCK_FRAMES` frames and each block
  is mixed to mono before the next is read, so a file with many channels never holds
  ``channels x frames`` samples at once.  Mixing block by block gives the same samples as
  mixing the whole window (each output sample is the mean of its own frame).
* **Full scale.**  Float files may hold samples far beyond full scale (a file written at
  16-bit scale has values in the thousands); the features assume about ``[-1, 1]``, and
  musicnn's float16 step overflows to infinity well beyond it.  A window peaking above
  :data:`MAX_PEAK` is scaled down to peak at full scale, and :class:`Window` says by how
  much.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

import librosa
import numpy as np
import soundfile as sf

from ._header import AudioFileError, short_error

#: Frames read (and mixed to mono) at a time.
BLOCK_FRAMES = 1 << 16
#: The largest peak analysed as it is: +12 dBFS, well above the fraction of a decibel
#: float masters exceed full scale by, and well below the +20 dBFS or so where musicnn's
#: float16 mel power overflows for a loud low tone.  Louder windows are scaled to peak at 1.
MAX_PEAK = 4.0
#: Seconds decoded before an FFmpeg window's start after seeking: the decoder's state
#: (AAC's overlapping transforms) is rebuilt by then, and the pre-roll is dropped.
FFMPEG_PREROLL_SECONDS = 1.0


@dataclass(frozen=True)
class FilePlan:
    """The part of one file to decode, in the file's own frames, and what it should give.

    ``start`` and ``stop`` bound the analysed part; ``windows`` lists the windows it is
    decoded in, one at a time (empty: the single window ``(start, stop)``).  ``frames`` is
    the file's length in its own frames (FFmpeg formats: the container's estimate);
    ``n_complete`` is how many units (segments, patches) the windows fill.
    """

    path: str
    samplerate: int
    start: int
    stop: int
    n_complete: int
    format: str = ""
    subtype: str = ""
    frames: int = 0
    windows: tuple[tuple[int, int], ...] = ()

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """The windows to decode, ``(start, stop)`` in the file's frames."""
        return self.windows or ((self.start, self.stop),)

    def window(self, start: int, stop: int) -> FilePlan:
        """The plan of one window of this file."""
        return replace(self, start=start, stop=stop, windows=())


@dataclass(frozen=True)
class Window:
    """A decoded window: mono float32 ``samples`` at the analysis rate, and ``gain``, the
    factor (``<= 1``) they were scaled by because the file's samples exceeded full scale."""

    samples: np.ndarray
    gain: float = 1.0


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
        start = min(frames, int(round(float(offset) * samplerate)))
    return start, min(frames, start + needed)


def tile_windows(first: int, last: int, *, length: int, stride: int,
                 max_windows: int | None = None) -> tuple[tuple[int, int], ...]:
    """Windows of ``length`` frames, one every ``stride``, from ``first`` to ``last``.

    The last window is cut at ``last``.  When more than ``max_windows`` windows would be
    needed, ``max_windows`` whole windows evenly spaced from ``first`` to ``last`` are
    taken instead, so that time stays bounded however long the file.

    Examples
    --------
    >>> tile_windows(0, 25, length=10, stride=10)
    ((0, 10), (10, 20), (20, 25))
    >>> tile_windows(0, 100, length=10, stride=10, max_windows=3)
    ((0, 10), (45, 55), (90, 100))
    """
    starts = range(first, last, stride)
    if max_windows is None or len(starts) <= max_windows:
        return tuple((start, min(start + length, last)) for start in starts)
    spread = np.linspace(first, max(first, last - length), max_windows)
    return tuple((int(round(start)), min(int(round(start)) + length, last)) for start in spread)


def prepare_decoding() -> None:
    """Import now what decoding and the spectrograms need (librosa loads its modules on
    first use, numba among them: about 1.5 s), so that a model's first prediction does
    not pay for it.  The audio transformers' ``fit`` calls it; a no-op after the first."""
    for name in ("to_mono", "resample", "stft", "filters", "feature"):
        getattr(librosa, name)
    librosa.feature.melspectrogram  # noqa: B018 - the attribute access is the import


def read_window(plan: FilePlan, sr: int) -> Window:
    """Decode the planned window as float32 mono at ``sr`` (like ``librosa.load``).

    Stereo is averaged to mono with ``librosa.to_mono``; other rates are resampled with
    ``librosa.resample`` (its default ``soxr_hq``).  A float file whose samples peak
    far beyond full scale (above :data:`MAX_PEAK`) is scaled down to peak at 1.

    Raises
    ------
    AudioFileError
        If a decoded sample is NaN or infinite (a float file can hold them; one would
        turn its whole segment or patch into NaN).
    """
    floats = not plan.subtype.startswith(("PCM", "ULAW", "ALAW"))  # integers are in range
    pieces, peak, position = [], 0.0, plan.start
    n_bad, first_bad = 0, None
    for block in _blocks(plan):
        block_peak = 0.0
        if floats:
            bad = ~np.isfinite(block).all(axis=0)
            if bad.any():
                n_bad += int(bad.sum())
                first_bad = position + int(np.argmax(bad)) if first_bad is None else first_bad
            else:
                block_peak = float(np.abs(block).max(initial=0.0))
                peak = max(peak, block_peak)
        position += block.shape[1]
        if block.shape[0] == 1:
            pieces.append(block[0])
        elif block_peak > MAX_PEAK:  # in float64: a mean of huge float32 values overflows
            pieces.append(block.mean(axis=0, dtype=np.float64))
        else:
            pieces.append(librosa.to_mono(block))
    if n_bad:
        raise AudioFileError(
            plan.path,
            f"{n_bad} sample{'s are' if n_bad != 1 else ' is'} NaN or infinite (first at "
            f"{first_bad / plan.samplerate:.3f} s)",
        )
    y = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    gain = 1.0
    if peak > MAX_PEAK:
        gain = 1.0 / peak
        y = (y.astype(np.float64) * gain).astype(np.float32)
    if plan.samplerate != sr and y.size:
        y = librosa.resample(y, orig_sr=plan.samplerate, target_sr=sr)
    return Window(np.ascontiguousarray(y, dtype=np.float32), gain)


def load_window(plan: FilePlan, sr: int) -> np.ndarray:
    """The samples of :func:`read_window`."""
    return read_window(plan, sr).samples


def decode(plan: FilePlan, sr: int) -> Window:
    """:func:`read_window`, every failure an :class:`AudioFileError` naming the file."""
    try:
        return read_window(plan, sr)
    except AudioFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise AudioFileError(plan.path, f"decoding failed ({short_error(exc)})") from None


def _blocks(plan: FilePlan) -> Iterator[np.ndarray]:
    """The planned window as float32 ``(channels, frames)`` blocks, by the fastest exact reader."""
    if (plan.format, plan.subtype) == ("AU", "PCM_16"):
        whole = _read_au_pcm16(plan)
        if whole is not None:
            yield whole
            return
    yield from _ffmpeg_blocks(plan) if plan.format == "FFMPEG" else _libsndfile_blocks(plan)


def _libsndfile_blocks(plan: FilePlan) -> Iterator[np.ndarray]:
    """The planned window decoded by libsndfile, block by block."""
    pcm16 = plan.subtype == "PCM_16"
    # a bytes path opens any file name, UTF-8 or not
    with sf.SoundFile(os.fsencode(plan.path)) as f:
        if plan.start:
            f.seek(plan.start)
        remaining = plan.stop - plan.start
        while remaining > 0:
            n = min(BLOCK_FRAMES, remaining)
            if pcm16:
                # libsndfile's own float conversion is sample / 32768; numpy does the same
                # (exactly: a power of two) several times faster.
                block = _pcm16_to_float32(f.read(frames=n, dtype="int16", always_2d=True).T)
            else:
                block = f.read(frames=n, dtype="float32", always_2d=True).T
            if block.shape[1] == 0:
                return
            yield block
            remaining -= block.shape[1]


def _ffmpeg_blocks(plan: FilePlan) -> Iterator[np.ndarray]:
    """The planned window decoded by FFmpeg (PyAV), one decoded frame at a time.

    Seeks to :data:`FFMPEG_PREROLL_SECONDS` before the window's start instead of decoding
    from the file's start, and places every decoded frame by its timestamp, so only the
    window (and the pre-roll) is decoded and held.
    """
    import av

    rate = plan.samplerate
    with open(plan.path, "rb") as fh, av.open(fh) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        seek_to = plan.start - int(FFMPEG_PREROLL_SECONDS * rate)
        if seek_to > 0 and stream.time_base:
            container.seek(int(seek_to / rate / stream.time_base), stream=stream)
        position = None  # the next decoded sample's index, in the file's frames
        for frame in container.decode(stream):
            if frame.pts is not None and stream.time_base:
                position = int(round(float(frame.pts * stream.time_base) * rate))
            elif position is None:
                position = 0
            for converted in resampler.resample(frame):
                chunk = converted.to_ndarray()
                first, position = position, position + chunk.shape[1]
                lo, hi = max(plan.start - first, 0), min(plan.stop - first, chunk.shape[1])
                if hi > lo:
                    yield chunk[:, lo:hi].astype(np.float32, copy=False)
            if position >= plan.stop:
                return


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
        if encoding != 3 or not 1 <= channels <= 2:  # 3: 16-bit linear PCM
            return None  # more channels are read in blocks by libsndfile
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
