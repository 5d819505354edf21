"""Reading audio: formats and headers, decoding a window, many files at once, thread budgets.

The bottom layer of the library (see *Architecture* in ``docs/development.rst``); it imports
nothing else from the package.  Its four parts, in the order a file travels through them:

**Formats and headers.**  The one home of the audio extensions and of header probing
(:func:`read_header`), shared by the feature extractors and the dataset loaders
(:mod:`~sk_audio_genre.datasets`).  libsndfile (:mod:`soundfile`) reads most formats; the
ones it cannot (AAC in ``.m4a``, WMA, ...) are read through FFmpeg by PyAV (the ``av``
package, with FFmpeg inside its wheel), installed with ``pip install
"sk-audio-genre[formats]"``.  Without it such a file is a bad file whose reason names the
extra.

**Decoding a window.**  :class:`FilePlan` says which frames of which file to decode
(planned from its header: :func:`place_window`, :func:`tile_windows`,
:func:`plan_windows`); :func:`read_window` decodes them as float32 mono at the analysis
rate, like ``librosa.load(path, sr=sr, offset=..., duration=...)``: libsndfile for most
formats (with two faster exact readers for 16-bit PCM), FFmpeg through PyAV for the rest
(seeking to the window, so memory does not grow with the file's length),
``librosa.to_mono`` and ``librosa.resample`` (``soxr_hq``).  Shared by the MFCC segments
(:mod:`sk_audio_genre.segmenter`) and musicnn's patches (:mod:`sk_audio_genre.embedder`).
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

**Many files through one extractor.**  :class:`~sk_audio_genre.MFCCSegmenter` and
:class:`~sk_audio_genre.MusicnnEmbedder` differ only in what they compute from one file;
the work around it is the same and lives here (:func:`extract_files`,
:class:`AudioFilesTransformer`):

1. every path is checked from its header first (``extractor.plan``), so a batch reports
   all its bad files together before any feature is computed;
2. the good files are extracted (``extractor.extract``), in parallel with joblib when asked,
   each result written into the preallocated output as it arrives;
3. every file gets a :class:`FileReport` (``"ok"``, ``"partial"`` or ``"failed"`` with the
   reason), which callers read as data: a command line needs no warning text to learn
   which file failed.

An *extractor* is a small picklable object (it travels to joblib and Dask workers) that
follows the :class:`Extractor` protocol: it plans a file's window from its header, gives
the shape of one file's features, and decodes and computes them as an :class:`Extraction`.

Results that cannot be trusted are not passed off as answers: a file that is silent
throughout (digital silence, or nothing above :data:`QUIET_PEAK_DBFS`) fails ("nothing to
classify"), as does one whose features are not finite or whose analysis raised; silent
parts, a sample rate far below ``sr``, samples beyond full scale and a window the file
fills only partly are named in the file's report (:attr:`FileReport.notes`) and in one
warning.  One bad file never costs the others their features.

**Thread budgets.**  joblib's loky backend starts each worker with ``OMP_NUM_THREADS`` (and
its BLAS relatives) set to ``cpu_count() // n_jobs``, and a Dask nanny starts its workers
with ``OMP_NUM_THREADS=1``, so that ``n_jobs`` processes share the cores instead of each
running a thread per core.  TensorFlow reads none of these variables: it sizes its
intra-op and inter-op pools from the core count, in every process.
:func:`apply_thread_budget` gives TensorFlow the same budget (it is called once, when
:mod:`sk_audio_genre._tensorflow` imports TensorFlow: in a worker, before its first fit),
so a ``GridSearchCV(n_jobs=...)`` over a genre classifier does not run ``n_jobs x
cpu_count`` compute threads.  It never overrides a choice already made:
``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` in the environment, or
``tf.config.threading`` calls made before, win.  A process without ``OMP_NUM_THREADS``
(an ordinary Python session, the parent of the workers) keeps TensorFlow's defaults.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import librosa
import numpy as np
import soundfile as sf
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ALL_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "FFMPEG_EXTENSIONS",
    "AudioFileError",
    "Extraction",
    "Extractor",
    "FilePlan",
    "FileReport",
    "Header",
    "Note",
    "read_header",
]


# =========================================================================== formats, headers

#: Extensions of the audio files this library reads (libsndfile's formats, with mp3 and
#: ogg/opus), lossless first: the order is the preference when one track exists in several.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".aiff", ".aif", ".aifc", ".au", ".snd", ".caf", ".w64",
    ".rf64", ".ogg", ".oga", ".opus", ".mp3",
)  # fmt: skip
#: Extensions of formats libsndfile cannot read, decoded through FFmpeg by PyAV.
FFMPEG_EXTENSIONS: tuple[str, ...] = (
    ".m4a", ".m4b", ".mp4", ".aac", ".wma", ".webm", ".mka", ".ac3", ".amr", ".mp2",
)  # fmt: skip
#: Every extension a folder is searched for.
ALL_EXTENSIONS = AUDIO_EXTENSIONS + FFMPEG_EXTENSIONS
#: What to install for the FFmpeg formats.
FORMATS_EXTRA = "pip install 'sk-audio-genre[formats]'"
#: The highest sample rate a header may claim: 768 kHz, twice DXD's 352.8 kHz and above
#: every rate audio is recorded at.  A larger value is a damaged or crafted header.
MAX_FILE_SAMPLERATE = 768_000
#: The most channels a header may claim: 256, above the channel count of any recording
#: format (third-order ambisonics has 16, Dolby Atmos masters 128).
MAX_FILE_CHANNELS = 256

#: The first bytes of the containers this library reads, for saying what a file is when
#: libsndfile cannot open it (``corrupt MP3 data`` is more useful than "not readable").
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "WAV"), (0, b"RF64", "WAV"), (0, b"BW64", "WAV"), (0, b"fLaC", "FLAC"),
    (0, b"OggS", "Ogg"), (0, b".snd", "Sun/NeXT audio"), (0, b"FORM", "AIFF"),
    (0, b"caff", "CAF"), (0, b"riff", "Wave64"), (0, b"ID3", "MP3"), (4, b"ftyp", "MPEG-4"),
    (0, b"\x30\x26\xb2\x75", "WMA/ASF"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
)  # fmt: skip
#: libsndfile's message for an mp3 it cannot parse, which says nothing true about the file.
_MISLEADING = "File does not exist or is not a regular file"


@dataclass(frozen=True)
class Header:
    """What decoding needs to know of a file: rate, channels, frames, container, codec.

    ``format`` is libsndfile's major format (``"WAV"``, ``"AU"``, ...) or ``"FFMPEG"``
    for files PyAV decodes; ``frames`` is then the container's estimate.
    """

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str


class AudioFileError(ValueError):
    """A file that cannot give features; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_header(path: str) -> Header:
    """The file's header, or the reason it cannot be used.

    Raises
    ------
    AudioFileError
        If the file is missing, not a regular file, empty, not audio that libsndfile (or
        PyAV, for :data:`FFMPEG_EXTENSIONS`) reads, or its header has no samples, rate or
        channels.
    """
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    if not os.path.isfile(path):
        raise AudioFileError(path, "not a regular file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    try:
        # a bytes path: libsndfile opens any name, UTF-8 or not (os.fsencode undoes the
        # surrogate escapes Python decodes undecodable bytes of a file name into)
        sf_info = sf.info(os.fsencode(path))
        info = Header(sf_info.samplerate, sf_info.channels, sf_info.frames, sf_info.format,
                      sf_info.subtype)
    except Exception as exc:  # libsndfile reports every kind of bad header this way
        if os.path.splitext(path)[1].lower() not in FFMPEG_EXTENSIONS:
            raise AudioFileError(path, unreadable_reason(path, exc)) from None
        info = _ffmpeg_header(path)
    if not (0 < info.samplerate <= MAX_FILE_SAMPLERATE and 0 < info.channels <= MAX_FILE_CHANNELS):
        raise AudioFileError(
            path, f"invalid header (samplerate={info.samplerate}, channels={info.channels}; "
            f"audio has 1 to {MAX_FILE_CHANNELS} channels at up to {MAX_FILE_SAMPLERATE} Hz)"
        )
    if info.frames <= 0:
        raise AudioFileError(path, "contains no audio frames")
    return info


def unreadable_reason(path: str, exc: BaseException) -> str:
    """Why libsndfile could not open ``path``, in words that are true of the file.

    A file that starts like a known audio container is *corrupt* (or truncated); one that
    starts like nothing known is *not audio*.  libsndfile's own message is kept unless it
    misleads (for an mp3 it cannot parse it says the file may be a pipe).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    detail = short_error(exc)
    detail = "" if detail.startswith(_MISLEADING) else f" ({detail})"
    kinds = [kind for start, signature, kind in _SIGNATURES
             if head[start : start + len(signature)] == signature]
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG frame's sync
        kinds.append("MP3")
    if kinds:
        return f"corrupt or truncated {kinds[0]} data{detail}"
    looks_like = "text" if _is_text(head) else "binary data of an unknown format"
    return f"not audio: its content is {looks_like}{detail}"


def _is_text(head: bytes) -> bool:
    """Whether a file's first bytes read as printable UTF-8 text (a character cut at the
    end of ``head`` does not count against it)."""
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")
    return "\ufffd" not in text and all(c.isprintable() or c in "\t\r\n" for c in text)


def short_error(exc: BaseException) -> str:
    """libsndfile's own words (``"Format not recognised."``), without the path it repeats."""
    text = getattr(exc, "error_string", None) or str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _ffmpeg_header(path: str) -> Header:
    """The header of a file libsndfile cannot read, from FFmpeg through PyAV."""
    extension = os.path.splitext(path)[1].lower()
    try:
        import av  # here: PyAV is optional (the "formats" extra)
    except ImportError:
        raise AudioFileError(
            path, f"{extension} files need the optional FFmpeg decoder: {FORMATS_EXTRA}"
        ) from None
    try:
        with open(path, "rb") as fh, av.open(fh) as container:
            if not container.streams.audio:
                raise AudioFileError(path, "holds no audio stream")
            stream = container.streams.audio[0]
            seconds = (float(stream.duration * stream.time_base) if stream.duration
                       else (container.duration or 0) / 1_000_000)
            rate = int(stream.sample_rate or 0)
            return Header(rate, int(stream.channels or 0), int(round(seconds * rate)),
                          "FFMPEG", stream.codec_context.name)
    except AudioFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg reports bad files in many ways
        raise AudioFileError(path, f"not readable as audio ({short_error(exc)})") from None


# =========================================================================== decoding a window

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

    @classmethod
    def of_windows(cls, path: str, header: Header, windows: Sequence[tuple[int, int]],
                   n_complete: int) -> FilePlan:
        """The plan that decodes ``windows`` (``(start, stop)`` in the file's frames, as
        :func:`plan_windows` places them) of the file whose header is ``header``."""
        return cls(path, header.samplerate, windows[0][0], windows[-1][1], n_complete,
                   header.format, header.subtype, header.frames,
                   tuple(windows) if len(windows) > 1 else ())


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


def plan_windows(
    frames: int, samplerate: int, *, offset: float | str, length: int, sr: int,
    max_windows: int,
) -> tuple[tuple[int, int], ...]:
    """The windows of ``length`` samples at ``sr`` to decode from a file, in its own frames.

    The one home of window planning for MFCC segments and musicnn patches: ``offset`` in
    seconds starts the one window there; ``"center"`` centres it in the file (or starts at
    0 when the file is shorter than the window); ``"all"`` cuts the whole file into
    consecutive windows, or ``max_windows`` evenly spaced ones (:func:`tile_windows`).

    Examples
    --------
    >>> plan_windows(100, 10, offset="center", length=40, sr=10, max_windows=1)
    ((30, 70),)
    >>> plan_windows(100, 10, offset="all", length=40, sr=10, max_windows=20)
    ((0, 40), (40, 80), (80, 100))
    """
    if offset == "all":
        span = resampled_length(length, sr, samplerate)
        return tile_windows(0, frames, length=span, stride=span, max_windows=max_windows)
    return (place_window(frames, samplerate, offset=offset, length=length, sr=sr),)


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
    import av  # optional (the "formats" extra); _ffmpeg_header checked it is there

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


# =========================================================================== many files

#: How many files an error or warning message lists before it only counts the rest.
MAX_LISTED = 20
#: A unit (segment, patch) whose samples all stay below this level is silent: -60 dBFS is
#: 60 dB under full scale, inaudible at any normal listening level (16-bit dither sits at
#: about -90 dBFS), so features computed from it describe noise, not music.
QUIET_PEAK_DBFS = -60.0
#: A file recorded below this fraction of the analysis rate lacks much of its spectrum.
LOW_RATE_FRACTION = 0.75
#: Unanalysed audio at either end of a file, in seconds, that still counts as "all" of it
#: (GTZAN's 30.01 s tracks around the shipped model's 29.92 s window).
WHOLE_FILE_SLACK_SECONDS = 0.5


class Note(str):
    """One fact that makes a file's features less trustworthy, in words, with its ``kind``.

    A note is its text (a ``str``); ``kind`` (``"silence"``, ``"low_rate"``,
    ``"full_scale"``) names the fact, so that the reports of several feature extractors of
    one file keep one note per fact (:func:`merge_reports`).
    """

    kind: str

    def __new__(cls, text: str, kind: str) -> Note:
        note = super().__new__(cls, text)
        note.kind = kind
        return note

    def __reduce__(self) -> tuple:
        return (Note, (str(self), self.kind))


@dataclass(frozen=True)
class FileReport:
    """What became of one input file.

    Attributes
    ----------
    path : str
        The path as given.
    status : {"ok", "partial", "failed"}
        ``"partial"``: features for fewer units (segments, patches) than asked for.
    reason : str
        Why the file failed or is partial, in a few words; ``""`` when ``"ok"``.
    n_filled, n_expected : int
        Units analysed, and units a complete analysis gives.
    notes : tuple of Note
        What else makes the features less trustworthy: silent units, a low sample rate,
        samples beyond full scale (each a ``str``).
    units : str
        What a file is cut into (``"segments"``, ``"patches"``).
    spans : tuple of (float, float)
        The windows analysed, ``(start, stop)`` in seconds from the file's start; empty if
        the file was not read.
    duration : float or None
        The file's length in seconds, from its header.
    """

    path: str
    status: str
    reason: str = ""
    n_filled: int = 0
    n_expected: int = 0
    notes: tuple[str, ...] = ()
    units: str = ""
    spans: tuple[tuple[float, float], ...] = ()
    duration: float | None = None

    @property
    def analysed(self) -> str:
        """Which part of the file the features describe, in words.

        ``"none"`` for a failed file; ``"all"`` when the analysed windows cover the whole
        file (within :data:`WHOLE_FILE_SLACK_SECONDS` at either end); else the span, such as
        ``"135.0-164.9 s of 300.0 s"``, or the windows, ``"20 windows of 29.9 s spread over
        3600.0 s"``.  A partial analysis adds the units filled.

        Examples
        --------
        >>> FileReport("a.wav", "ok", spans=((135.0, 164.92),), duration=300.0).analysed
        '135.0-164.9 s of 300.0 s'
        >>> FileReport("b.wav", "partial", "4 of 10 patches filled", 4, 10, units="patches",
        ...            spans=((0.0, 12.0),), duration=12.0).analysed
        'all (4 of 10 patches)'
        >>> FileReport("c.wav", "ok", spans=((0.0, 30.0), (1785.0, 1815.0), (3570.0, 3600.0)),
        ...            duration=3600.0).analysed
        '3 windows of 30.0 s spread over 3600.0 s'
        """
        if self.status == "failed":
            return "none"
        covered = _union(self.spans)
        if (self.duration is None or not covered
                or (len(covered) == 1 and covered[0][0] <= WHOLE_FILE_SLACK_SECONDS
                    and self.duration - covered[0][1] <= WHOLE_FILE_SLACK_SECONDS)):
            text = "all"
        elif len(covered) == 1:
            text = f"{covered[0][0]:.1f}-{covered[0][1]:.1f} s of {self.duration:.1f} s"
        else:
            longest = max(stop - start for start, stop in self.spans)
            text = (f"{len(self.spans)} windows of {longest:.1f} s spread over "
                    f"{self.duration:.1f} s")
        if self.status == "partial":
            text += f" ({self.n_filled} of {self.n_expected} {self.units})"
        return text


def _union(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The spans merged where they touch or overlap."""
    merged: list[tuple[float, float]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


@dataclass(frozen=True)
class Extraction:
    """What an extractor computed from one file.

    Attributes
    ----------
    features : ndarray
        The file's features, finite wherever they describe audio.  With units
        (segments, patches) on the first axis, the units past ``n_filled`` are NaN.
    n_filled : int
        Units analysed.
    n_silent : int
        Of those, the units whose samples all stay below :data:`QUIET_PEAK_DBFS`.
    peak : float
        The largest absolute sample analysed, after ``gain``.
    gain : float
        The factor the samples were scaled by because they exceeded full scale (1: not).
    """

    features: np.ndarray
    n_filled: int
    n_silent: int = 0
    peak: float = 1.0
    gain: float = 1.0


@runtime_checkable
class Extractor(Protocol):
    """What :func:`extract_files` needs of a feature extractor (``MFCCSegmenter``'s
    :class:`~sk_audio_genre.segmenter.SegmentSpec`, ``MusicnnEmbedder``'s
    :class:`~sk_audio_genre.embedder.PatchSpec`).  It must pickle: it travels to joblib
    and Dask workers."""

    #: The sample rate the features are computed at.
    sr: int
    #: What a file is cut into, for messages (``"segments"``, ``"patches"``).
    units: str

    def plan(self, path: str) -> FilePlan:
        """Read the file's header only and place the window; raise ``AudioFileError``."""

    def shape(self, plans: Sequence[FilePlan]) -> tuple[int, ...]:
        """The shape of one file's features, given every good file's plan."""

    def expected(self, plan: FilePlan) -> int:
        """How many units a complete analysis of the file gives."""

    def extract(self, plan: FilePlan) -> Extraction:
        """Decode the planned window and compute its features; raise ``AudioFileError``."""


def silent_units(units: np.ndarray) -> int:
    """How many rows of ``units`` (one unit's samples per row) stay below
    :data:`QUIET_PEAK_DBFS`.

    >>> import numpy as np
    >>> silent_units(np.array([[0.0, 0.0], [3e-5, -3e-5], [0.5, 0.0]]))
    2
    """
    if units.size == 0:
        return 0
    return int((np.abs(units).max(axis=1) < 10 ** (QUIET_PEAK_DBFS / 20)).sum())


def extract_files(
    paths: list[str],
    extractor: Extractor,
    *,
    n_jobs: int | None,
    verbose: int,
    on_error: str,
    stacklevel: int = 2,
) -> tuple[np.ndarray, list[FileReport]]:
    """Features of every file, NaN rows for failed ones, and one report per file.

    ``on_error="raise"`` raises one ``ValueError`` listing every bad file: after the header
    checks when any header is bad (nothing has been computed yet), else after decoding.
    ``on_error="nan"`` warns once per stage instead.  Files with fewer units (segments,
    patches) than asked for get one ``UserWarning`` listing them.  Warnings name the line
    ``stacklevel`` frames up (2: the caller of this function).
    """
    units = extractor.units
    plans: list[FilePlan | None] = []
    reports: list[FileReport | None] = []
    for path in paths:
        try:
            plans.append(extractor.plan(path))
            reports.append(None)
        except AudioFileError as exc:
            plans.append(None)
            reports.append(FileReport(path, "failed", exc.reason, units=units))
        except Exception as exc:  # noqa: BLE001 - one file's surprise never costs the others
            plans.append(None)
            reports.append(FileReport(path, "failed", unexpected_reason(exc), units=units))
    _handle_failures(reports, on_error, stage="checking the files", stacklevel=stacklevel + 1)

    good = [i for i, plan in enumerate(plans) if plan is not None]
    shape = extractor.shape([plans[i] for i in good])
    out = np.full((len(paths), *shape), np.nan, dtype=np.float32)
    results = _parallel(n_jobs, verbose)(
        delayed(extract_or_reason)(extractor, plans[i]) for i in good
    )
    decode_failed: list[FileReport | None] = [None] * len(paths)
    for i, (extraction, reason) in zip(good, results, strict=True):
        plan = plans[i]
        report = FileReport(paths[i], "failed", reason, 0, extractor.expected(plan), (),
                            units, **_window_of(plan))
        if extraction is not None and extraction.n_silent == extraction.n_filled:
            report = replace(report, reason=_silence_reason(extraction))
        elif extraction is not None:
            out[i, : extraction.features.shape[0]] = extraction.features
            filled, expected = extraction.n_filled, report.n_expected
            status = "ok" if filled >= expected else "partial"
            report = replace(
                report, status=status, n_filled=filled,
                reason="" if status == "ok" else f"{filled} of {expected} {units} filled",
                notes=_notes(plan, extractor.sr, extraction, units),
            )  # fmt: skip
        if report.status == "failed":
            decode_failed[i] = report
        reports[i] = report
    _handle_failures(decode_failed, on_error, stage="decoding the files",
                     stacklevel=stacklevel + 1)
    partial = [r for r in reports if r is not None and r.status == "partial"]
    if partial:
        warnings.warn(
            f"{len(partial)} file(s) are shorter than the requested window; their unfilled "
            f"{units} are NaN:\n" + format_listing([f"{r.path}: {r.reason}" for r in partial]),
            UserWarning,
            stacklevel=stacklevel,
        )
    noted = [r for r in reports if r is not None and r.notes]
    if noted:
        warnings.warn(f"features of {len(noted)} file(s) are less trustworthy:\n"
                      + format_listing([f"{r.path}: {n}" for r in noted for n in r.notes]),
                      UserWarning, stacklevel=stacklevel)
    return out, [r for r in reports if r is not None]


def _window_of(plan: FilePlan) -> dict[str, Any]:
    """The planned windows and the file's length, in seconds, for a :class:`FileReport`."""
    rate = plan.samplerate
    return {"spans": tuple((start / rate, stop / rate) for start, stop in plan.spans),
            "duration": max(plan.frames, plan.stop) / rate}


def _silence_reason(extraction: Extraction) -> str:
    if extraction.peak == 0:
        return "digital silence throughout: nothing to classify"
    level = 20 * math.log10(extraction.peak)
    return (f"silent throughout (peak {level:.1f} dBFS, below {QUIET_PEAK_DBFS:.0f} dBFS): "
            "nothing to classify")


def _notes(plan: FilePlan, sr: int, extraction: Extraction, units: str) -> tuple[Note, ...]:
    """What makes a file's features less trustworthy; each fact worded the same whatever
    the extractor, so that a file's notes from several extractors can be merged."""
    notes = []
    if extraction.gain < 1:
        notes.append(Note(f"samples exceed full scale (peak {-20 * math.log10(extraction.gain):+.1f}"
                          " dBFS); analysed scaled down to full scale", "full_scale"))
    if extraction.n_silent:
        notes.append(Note(f"{extraction.n_silent} of {extraction.n_filled} {units} are silent "
                          f"(below {QUIET_PEAK_DBFS:.0f} dBFS)", "silence"))
    if plan.samplerate < LOW_RATE_FRACTION * sr:
        notes.append(Note(f"recorded at {plan.samplerate} Hz: it holds nothing above "
                          f"{plan.samplerate / 2000:.1f} kHz", "low_rate"))
    return tuple(notes)


def merge_reports(reports: Sequence[FileReport]) -> FileReport:
    """One file's reports from several feature extractors (a ``FeatureUnion``), as one.

    The worst status wins, with the first such extractor's account of it (its reason, units
    and window); the notes keep one per fact (:attr:`Note.kind`), the first extractor's.

    Raises
    ------
    ValueError
        If ``reports`` is empty.
    """
    if not reports:
        raise ValueError("no reports to merge")
    notes: dict[str, str] = {}
    for note in (n for r in reports for n in r.notes):
        notes.setdefault(getattr(note, "kind", note), note)
    worst = min(reports, key=lambda r: ("failed", "partial", "ok").index(r.status))
    return replace(worst, notes=tuple(notes.values()))


class AudioFilesTransformer(TransformerMixin, BaseEstimator):
    """Shared base of the transformers that read audio files (``MFCCSegmenter``,
    ``MusicnnEmbedder``): their work through :func:`extract_files`, and their tags.

    A subclass defines ``_spec()`` (its validated :class:`Extractor`) and
    ``_set_fitted(spec)`` (its fitted attributes, which follow from the parameters alone:
    the transformers are stateless), and documents ``transform``/``transform_with_report``,
    which return ``self._extract(X)``.
    """

    def set_params(self, **params: Any) -> AudioFilesTransformer:
        """Set the parameters, and check them as ``fit`` does.

        A fitted transformer stays fitted: its fitted attributes follow the new parameters
        (they depend on nothing else), so it needs no new ``fit``.

        Returns
        -------
        self : estimator

        Raises
        ------
        ValueError
            If a parameter or their combination is invalid (out of its bounds, for
            example); the estimator keeps its previous parameters.
        """
        previous = self.get_params(deep=False)
        super().set_params(**params)
        try:
            self._validate_params()
            spec = self._spec()
        except Exception:
            super().set_params(**previous)
            raise
        if self.__sklearn_is_fitted__():
            self._set_fitted(spec)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return any(name.endswith("_") and not name.startswith("__") for name in vars(self))

    def _set_fitted(self, spec: Any) -> None:
        raise NotImplementedError

    def _extract(self, X: Any) -> tuple[np.ndarray, list[FileReport]]:
        """The work of ``transform`` and ``transform_with_report``; their warnings name
        the line that called them (three frames up from here)."""
        check_is_fitted(self)
        self._validate_params()
        paths = validate_paths(X)
        return extract_files(
            paths, self._spec(), n_jobs=self.n_jobs, verbose=self.verbose,
            on_error=self.on_error, stacklevel=4,
        )  # fmt: skip

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.non_deterministic = False
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def extract_or_reason(extractor: Extractor, plan: FilePlan) -> tuple[Extraction | None, str]:
    """``extractor.extract(plan)`` for a parallel worker: a failure comes back as a reason.

    Any exception is one file's failure, never the batch's: an ``AudioFileError`` gives its
    reason, anything else (a decoder's or a library's surprise, a ``MemoryError``) says
    what was raised; so do features that are not finite where they describe audio.
    """
    try:
        extraction = extractor.extract(plan)
    except AudioFileError as exc:
        return None, exc.reason
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return None, unexpected_reason(exc)
    features = extraction.features
    described = features[: extraction.n_filled] if features.ndim > 1 else features
    if extraction.n_silent < extraction.n_filled and not (
        np.isfinite(described).all() and not np.isinf(features).any()
    ):
        return None, "its features are not finite: the analysis overflowed"
    return extraction, ""


def unexpected_reason(exc: BaseException) -> str:
    """A failure this library did not foresee, named with what was raised."""
    lines = str(exc).strip().splitlines()
    return f"analysis failed ({type(exc).__name__}{': ' + lines[0] if lines else ''})"


def _handle_failures(
    reports: Sequence[FileReport | None], on_error: str, *, stage: str, stacklevel: int
) -> None:
    """Raise one ValueError listing every failed file, or warn under ``on_error="nan"``."""
    failed = [r for r in reports if r is not None and r.status == "failed"]
    if not failed:
        return
    listing = format_listing([f"{r.path}: {r.reason}" for r in failed])
    if on_error == "raise":
        raise ValueError(
            f"{len(failed)} of the input files cannot be used ({stage}); "
            f"set on_error='nan' to give them NaN features instead:\n{listing}"
        )
    warnings.warn(
        f"{len(failed)} input file(s) gave no features ({stage}); their rows are NaN:\n"
        f"{listing}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def _parallel(n_jobs: int | None, verbose: int) -> Parallel:
    """A joblib ``Parallel`` that yields each file's features, in order, as they arrive.

    Results are written into the preallocated output one by one instead of first being
    collected in a list of every file's array, so the parent holds the output and a few
    in-flight results, not the features twice.  Backends that cannot yield results
    (joblib's ``"multiprocessing"``) fall back to returning the list.
    """
    try:
        return Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator")
    except ValueError as exc:
        if "return_as" not in str(exc):
            raise
        return Parallel(n_jobs=n_jobs, verbose=verbose)


def validate_paths(X: Any) -> list[str]:
    """The paths in ``X`` as a list of str; a clear error for anything else."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            "X must be a sequence of audio file paths, got a single path "
            f"{X!r}; wrap it in a list."
        )
    if hasattr(X, "to_numpy"):  # pandas Series, DataFrame or Index
        X = X.to_numpy(dtype=object)
    if not isinstance(X, (Sequence, np.ndarray)):
        raise TypeError(
            "X must be a sequence of audio file paths (list, 1-D array, Series or "
            f"one-column 2-D array), got {type(X).__name__}."
        )
    try:
        array = np.asarray(X, dtype=object)
    except ValueError as exc:  # ragged nesting
        raise ValueError(f"X must be a 1-D sequence of paths: {exc}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            "X must be a 1-D sequence of audio file paths or a single column; "
            f"got an array of shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise ValueError("X contains no file paths (0 samples); at least 1 is required.")
    paths = []
    for i, item in enumerate(array):
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"X must hold str or os.PathLike audio file paths; item {i} is "
                f"{type(item).__name__} ({item!r})."
            )
        paths.append(os.fsdecode(item))
    return paths


def format_listing(lines: list[str]) -> str:
    """Indented lines, the first ``MAX_LISTED`` of them and a count of the rest."""
    shown = [f"  {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"  ... and {len(lines) - MAX_LISTED} more")
    return "\n".join(shown)


# =========================================================================== thread budgets

#: The variable joblib (loky) and Dask set for each worker's native thread pools.
BUDGET_VARIABLE = "OMP_NUM_THREADS"


def thread_budget(environ: dict[str, str] | None = None) -> int | None:
    """The worker thread budget from ``OMP_NUM_THREADS``, or None when unset or invalid.

    Examples
    --------
    >>> thread_budget({"OMP_NUM_THREADS": "4"})
    4
    >>> thread_budget({}) is None
    True
    """
    value = (os.environ if environ is None else environ).get(BUDGET_VARIABLE, "")
    try:
        budget = int(value)
    except ValueError:
        return None
    return budget if budget >= 1 else None


def apply_thread_budget(tf_threading) -> dict[str, int]:
    """Size TensorFlow's pools from :func:`thread_budget`; returns what was set.

    ``tf_threading`` is ``tf.config.threading``.  A pool is left alone when its
    ``TF_NUM_*_THREADS`` variable is set, when it was configured already, or when
    TensorFlow's runtime has started (it can no longer be changed then).
    """
    budget = thread_budget()
    if budget is None:
        return {}
    applied = {}
    pools = [
        ("intra_op", "TF_NUM_INTRAOP_THREADS", tf_threading.get_intra_op_parallelism_threads,
         tf_threading.set_intra_op_parallelism_threads),
        ("inter_op", "TF_NUM_INTEROP_THREADS", tf_threading.get_inter_op_parallelism_threads,
         tf_threading.set_inter_op_parallelism_threads),
    ]
    for name, variable, get, set_ in pools:
        if variable in os.environ or get() != 0:
            continue
        try:
            set_(budget)
        except RuntimeError:  # the runtime is already initialised
            continue
        applied[name] = budget
    return applied
