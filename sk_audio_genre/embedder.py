"""MusicnnEmbedder: audio file paths in, pretrained musicnn embeddings out.

:class:`MusicnnEmbedder` is the public face; the rest of the module is musicnn's input,
16 kHz log-mel spectrograms cut into 3 s patches, and one file's embedding.
musicnn 0.1.0's ``extractor.batch_data`` does, for a whole file::

    audio, sr = librosa.load(file, sr=16000)
    S = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512, n_mels=96).T
    S = S.astype(np.float16)
    S = np.log10(10000 * S + 1)
    patches = [S[t : t + 187] for t in range(0, len(S) - 187 + 1, 187)]

:func:`log_mel` does the same with one intended difference: the logarithm is computed in
float32 after the float16 rounding.  musicnn multiplies in float16, which overflows to
infinity for mel bins above 6.55 (loud music) and keeps its result in float16.
:class:`PatchSpec` is the embedder's :class:`~sk_audio_genre.reading.Extractor`: it plans
the analysed windows from a file's header, decodes them like ``librosa.load(sr=16000)``
(same resampler), and runs the network (:mod:`sk_audio_genre._musicnn`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import librosa
import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._limits import (
    FILE_VALUES_REASON,
    MAX_FILE_VALUES,
    MAX_OFFSET_SECONDS,
    MAX_WINDOWS,
    MAX_WINDOW_SECONDS,
    MIN_PATCH_HOP_SECONDS,
    OFFSET_REASON,
    PATCH_HOP_REASON,
    WINDOWS_REASON,
    WINDOW_REASON,
    Bounded,
)
from ._musicnn import LAYER_SIZES, MSD_TAGS, N_MELS, PATCH_FRAMES, MusicnnNetwork
from .reading import (
    AudioFileError,
    AudioFilesTransformer,
    Extraction,
    FilePlan,
    FileReport,
    Window,
    decode,
    place_window,
    plan_windows,
    prepare_decoding,
    read_header,
    resampled_length,
    silent_units,
    validate_paths,
)

__all__ = ["MSD_TAGS", "MusicnnEmbedder"]

#: musicnn's signal processing (its ``configuration.py``).
SR = 16000
N_FFT = 512
HOP_LENGTH = 256
#: Samples that give one patch's 187 frames (a centred STFT gives ``1 + n // 256``).
MIN_PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH
MIN_PATCH_SECONDS = MIN_PATCH_SAMPLES / SR
#: Seconds from one non-overlapping patch to the next (187 frames of 16 ms): 2.992 s.
PATCH_SECONDS = PATCH_FRAMES * HOP_LENGTH / SR

POOLINGS = ("mean", "mean+std", "max", "none")


class MusicnnEmbedder(AudioFilesTransformer):
    """Embed audio files with musicnn, a network pretrained on the Million Song Dataset.

    Each file is resampled to 16 kHz, turned into musicnn's log-mel spectrogram and cut
    into 3 s patches (187 frames); every patch goes through musicnn's MSD model (Pons &
    Serra 2019, trained to predict 50 tags of about 200,000 songs), and the chosen layer's
    outputs are pooled over the patches.  With a few hundred labelled tracks, a linear
    model on these embeddings beats networks trained from scratch on MFCCs.

    The transformer is stateless (``fit`` only checks the parameters) and needs no
    download: the converted weights ship inside the package with musicnn's licence.

    Parameters
    ----------
    layer : {"penultimate", "taggram", "mean_pool", "max_pool"}, default="penultimate"
        Which output: the 200-unit penultimate layer (after its batch normalisation),
        the 50 MSD tag probabilities (:data:`MSD_TAGS`), or the back-end's mean or max
        over time of the 753 front- and mid-end features.
    pooling : {"mean", "mean+std", "max", "none"}, default="mean"
        How a file's patches are combined: their mean, their mean then their standard
        deviation, their maximum, or ``"none"``: every patch kept, as a track array
        ``(n_files, n_patches, 1, size)`` that this library's genre classifiers and
        :class:`~sk_audio_genre.SegmentClassifier` take patch by patch.
    offset : float, "center" or "all", default=0.0
        Where the analysed window starts, in seconds (at most a week, 604,800 s);
        ``"center"`` centres a window of ``duration`` seconds in the file; ``"all"`` is
        whole-song mode: the file is cut into consecutive windows of ``duration`` seconds
        (or, for a file of more than ``max_windows`` windows, ``max_windows`` evenly
        spaced ones), and the patches of every window are pooled together.  Both need
        ``duration``.
    max_windows : int, default=20
        With ``offset="all"``, the most windows analysed per file, 1 to 100: time grows
        linearly with them, memory does not (one window is decoded at a time).
    duration : float or None, default=None
        Seconds analysed from ``offset``, from one patch (2.976 s) to 600 s; None
        analyses to the end of the file (a long file in windows of 200 patches, so that
        memory stays that of ten minutes of audio).  A patch starts every 2.992 s, so ``29.92``
        holds ten.  The window's patches hold at most ``2**22`` log-mel values (233 patches).
    patch_hop : float or None, default=None
        Seconds between patch starts, 0.5 to 600 (shorter hops repeat the 3 s patches
        while time grows as 1 / hop); None gives musicnn's non-overlapping patches
        (every 187 frames).  Converted to ``round(62.5 * patch_hop)`` frames.
    on_error : {"raise", "nan"}, default="raise"
        What to do with files that give no embedding (missing, empty, not audio,
        corrupt, or shorter than one patch).  ``"raise"`` raises one ``ValueError``
        listing every bad file; ``"nan"`` gives them an all-NaN row and warns once.
    n_jobs : int, default=None
        Files processed in parallel with joblib; ``None`` means 1 unless in a
        ``joblib.parallel_config`` context, ``-1`` means all processors.
    verbose : int, default=0
        Progress messages from joblib when greater than 0.

    Attributes
    ----------
    n_features_out_ : int
        Values per file (pooled) or per patch (``pooling="none"``).

    See Also
    --------
    MFCCSegmenter : The original course's per-segment MFCCs, for networks trained from scratch.
    SegmentClassifier : Trains any scikit-learn classifier on every patch.

    Notes
    -----
    The input follows musicnn 0.1.0's ``extractor.batch_data``: ``librosa.load`` at
    16 kHz (same resampler), ``librosa.feature.melspectrogram(n_fft=512,
    hop_length=256, n_mels=96)``, float16 rounding, ``log10(10000 * S + 1)``, and
    patches of 187 frames from the start of the analysed window.  One intended
    difference: the logarithm is taken in float32 (musicnn's float16 product overflows
    to infinity on loud bins).  The network is musicnn's, run as matrix products in
    NumPy (no TensorFlow); it matches a ``tf.nn`` implementation read from the
    checkpoint within 1e-4 (``tests/test_musicnn_network.py``).

    Files are checked from their headers first, so bad files are reported together
    before any audio is decoded; :meth:`transform_with_report` also returns what became
    of every file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> from sk_audio_genre import MusicnnEmbedder
    >>> sr = 16000
    >>> t = np.arange(7 * sr) / sr
    >>> noise = 0.1 * np.random.default_rng(0).standard_normal(t.size)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "noise.wav")
    ...     sf.write(path, noise, sr)
    ...     X = MusicnnEmbedder().fit_transform([path])        # 2 patches, averaged
    ...     P = MusicnnEmbedder(pooling="none").fit_transform([path])
    >>> X.shape, P.shape
    ((1, 200), (1, 2, 1, 200))
    >>> bool(np.allclose(X[0], P[0, :, 0].mean(axis=0), atol=1e-6))
    True
    """

    _parameter_constraints: dict = {
        "layer": [StrOptions(set(LAYER_SIZES))],
        "pooling": [StrOptions(set(POOLINGS))],
        "offset": [Bounded(Real, 0, MAX_OFFSET_SECONDS, closed="both", why=OFFSET_REASON),
                   StrOptions({"center", "all"})],
        "max_windows": [Bounded(Integral, 1, MAX_WINDOWS, closed="both", why=WINDOWS_REASON)],
        "duration": [Bounded(Real, 0, MAX_WINDOW_SECONDS, closed="right", why=WINDOW_REASON),
                     None],
        "patch_hop": [Bounded(Real, MIN_PATCH_HOP_SECONDS, MAX_WINDOW_SECONDS, closed="both",
                              why=PATCH_HOP_REASON), None],
        "on_error": [StrOptions({"raise", "nan"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        layer: str = "penultimate",
        pooling: str = "mean",
        offset: float | str = 0.0,
        max_windows: int = 20,
        duration: float | None = None,
        patch_hop: float | None = None,
        on_error: str = "raise",
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.layer = layer
        self.pooling = pooling
        self.offset = offset
        self.max_windows = max_windows
        self.duration = duration
        self.patch_hop = patch_hop
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> MusicnnEmbedder:
        """Check the parameters and the form of ``X``, and load the network; no file is read.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths (list, 1-D array, pandas Series, or one-column 2-D
            array or DataFrame).
        y : None
            Ignored.

        Returns
        -------
        self : MusicnnEmbedder
            The fitted embedder.
        """
        validate_paths(X)
        self._set_fitted(self._spec())
        return self

    def _set_fitted(self, spec: PatchSpec) -> None:
        prepare_decoding()
        MusicnnNetwork.shipped()  # the weights, read and checked once per process
        self.n_features_out_ = spec.shape([])[-1]

    def transform(self, X: Any) -> np.ndarray:
        """Embed every file.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths.

        Returns
        -------
        ndarray, float32
            ``(n_files, n_features_out_)`` when pooled; ``(n_files, n_patches, 1,
            size)`` with ``pooling="none"``, where ``n_patches`` is the patches of
            ``duration`` seconds, or with ``duration=None`` the most any file gives (the
            shorter files' extra patches are NaN).  Bad files (with ``on_error="nan"``)
            are NaN rows.

        Raises
        ------
        ValueError
            Listing every file that gives no embedding, when ``on_error="raise"``.
        """
        return self._extract(X)[0]

    def transform_with_report(self, X: Any) -> tuple[np.ndarray, list[FileReport]]:
        """:meth:`transform`, and what became of each file, as data.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths.

        Returns
        -------
        embeddings : ndarray
            As :meth:`transform` returns them.
        reports : list of FileReport
            One per path, in order: ``status`` ``"ok"``, ``"partial"`` (fewer patches
            than ``duration`` holds) or ``"failed"`` (only with ``on_error="nan"``), the
            ``reason``, and ``n_filled`` of ``n_expected`` patches.
        """
        return self._extract(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the pooled output columns (tag names for ``layer="taggram"``).

        Returns
        -------
        ndarray of str, shape (n_features_out_,)
            ``"rock"``, ... for the taggram, ``"penultimate0"``, ... otherwise; the
            standard deviations of ``pooling="mean+std"`` end in ``"_std"``.
        """
        check_is_fitted(self)
        if self.pooling == "none":
            raise ValueError(
                "pooling='none' gives a 4-D track array, which has no feature names; "
                "choose pooling='mean', 'mean+std' or 'max'."
            )
        size = LAYER_SIZES[self.layer]
        base = list(MSD_TAGS) if self.layer == "taggram" else [f"{self.layer}{i}" for i in range(size)]
        if self.pooling == "mean+std":
            base += [f"{name}_std" for name in base]
        return np.asarray(base, dtype=object)

    def _spec(self) -> PatchSpec:
        """The validated parameters as a :class:`PatchSpec`; checks their combination."""
        if self.offset in ("center", "all") and self.duration is None:
            what = "centres a window" if self.offset == "center" else "cuts the file into windows"
            raise ValueError(
                f"offset={self.offset!r} {what} of `duration` seconds, but duration=None "
                "(the whole file); set duration, e.g. duration=30.0, or offset=0.0."
            )
        if self.duration is not None and self.duration < MIN_PATCH_SECONDS:
            raise ValueError(
                f"duration={self.duration!r} is shorter than one musicnn patch "
                f"({MIN_PATCH_SECONDS:.3f} s); use duration >= {MIN_PATCH_SECONDS:.3f} or None."
            )
        hop_frames = hop_frames_for(self.patch_hop)
        if self.duration is not None:
            n_patches = n_patches_for(int(round(self.duration * SR)), hop_frames)
            if n_patches * PATCH_FRAMES * N_MELS > MAX_FILE_VALUES:
                raise ValueError(
                    f"duration={self.duration!r} with patch_hop={self.patch_hop!r} gives "
                    f"{n_patches} patches of {PATCH_FRAMES} x {N_MELS} log-mel values per "
                    f"file, more than {MAX_FILE_VALUES:,} values ({FILE_VALUES_REASON}); use "
                    "a longer patch_hop or a shorter duration."
                )
            if self.offset == "all" and self.pooling == "none":
                kept = self.max_windows * n_patches * LAYER_SIZES[self.layer]
                if kept > MAX_FILE_VALUES:
                    raise ValueError(
                        f"pooling='none' keeps {self.max_windows} windows x {n_patches} "
                        f"patches x {LAYER_SIZES[self.layer]} values = {kept:,} per file, more "
                        f"than {MAX_FILE_VALUES:,} ({FILE_VALUES_REASON}); use fewer "
                        "max_windows, a shorter duration or a pooling."
                    )
        return PatchSpec(
            offset=self.offset if isinstance(self.offset, str) else float(self.offset),
            duration=None if self.duration is None else float(self.duration),
            hop_frames=hop_frames,
            layer=self.layer,
            pooling=self.pooling,
            max_windows=int(self.max_windows),
        )


# --------------------------------------------------------------------------- one file's patches


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's log-compressed mel spectrogram of 16 kHz mono audio, ``(n_frames, 96)``.

    ``log10(10000 * S + 1)`` of the float16-rounded mel power ``S``, in float32.
    """
    S = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS
    ).T
    S = S.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * S + np.float32(1))


def n_patches_for(n_samples: int, hop_frames: int) -> int:
    """Complete patches in ``n_samples`` samples at 16 kHz, one every ``hop_frames``."""
    return _patches_in(1 + n_samples // HOP_LENGTH, hop_frames)


def _patches_in(n_frames: int, hop_frames: int) -> int:
    return 0 if n_frames < PATCH_FRAMES else 1 + (n_frames - PATCH_FRAMES) // hop_frames


def cut_patches(spectrogram: np.ndarray, hop_frames: int) -> np.ndarray:
    """Every complete 187-frame patch from the start, one every ``hop_frames``: (n, 187, 96)."""
    starts = range(0, _patches_in(len(spectrogram), hop_frames) * hop_frames, hop_frames)
    if not starts:
        return np.empty((0, PATCH_FRAMES, spectrogram.shape[1]), dtype=spectrogram.dtype)
    return np.stack([spectrogram[start : start + PATCH_FRAMES] for start in starts])


def hop_frames_for(patch_hop: float | None) -> int:
    """Frames between patch starts: 187 (no overlap) for None, else ``round(62.5 * s)``."""
    if patch_hop is None:
        return PATCH_FRAMES
    return max(1, int(round(patch_hop * SR / HOP_LENGTH)))


def pool_patches(values: np.ndarray, pooling: str) -> np.ndarray:
    """One file's per-patch outputs ``(n_patches, size)`` pooled as ``pooling`` says."""
    if pooling == "mean":
        return values.mean(axis=0)
    if pooling == "max":
        return values.max(axis=0)
    if pooling == "mean+std":
        return np.concatenate([values.mean(axis=0), values.std(axis=0)])
    return values[:, np.newaxis, :]  # "none": (n_patches, 1, size), a track array


#: Patches computed together when ``duration=None`` runs to the end of a long file: 200
#: non-overlapping patches are 598.4 s, so memory stays that of ten minutes of audio however
#: long the file.  A shorter file is one window, computed exactly as musicnn's
#: ``batch_data`` computes it.
CHUNK_PATCHES = 200
#: Frames decoded past a chunk's last patch, so that its last frames see the audio after it
#: (not a centred STFT's zero padding) and the resampler's edge lies beyond them.
CHUNK_TAIL_FRAMES = 8


@dataclass(frozen=True)
class PatchSpec:
    """What :class:`~sk_audio_genre.MusicnnEmbedder` computes from one file."""

    offset: float | str
    duration: float | None
    hop_frames: int
    layer: str
    pooling: str
    max_windows: int = 1

    #: What a file is cut into, for messages.
    units = "patches"

    @property
    def window_samples(self) -> int | None:
        """Samples at 16 kHz of the analysed window, None for the whole file."""
        return None if self.duration is None else int(round(self.duration * SR))

    @property
    def size(self) -> int:
        """Values per patch of the chosen layer."""
        return LAYER_SIZES[self.layer]

    def windows(self, frames: int, samplerate: int) -> tuple[tuple[int, int], ...]:
        """The windows of a file to decode one at a time, ``(start, stop)`` in its frames.

        One window at ``offset`` (``"center"``: centred) of ``duration`` seconds; with
        ``offset="all"``, the whole file in consecutive windows of ``duration`` seconds, or
        ``max_windows`` evenly spaced ones; with ``duration=None``, from ``offset`` to the
        end in windows of :data:`CHUNK_PATCHES` patches, overlapping by a patch's tail so
        that every patch is whole in one window.
        """
        if self.window_samples is not None:
            return plan_windows(frames, samplerate, offset=self.offset,
                                length=self.window_samples, sr=SR, max_windows=self.max_windows)
        first = place_window(frames, samplerate, offset=self.offset, length=None, sr=SR)[0]
        if first >= frames:  # past the end: nothing to analyse (plan() says so)
            return ((frames, frames),)
        return tuple(
            (first + (a - self._trim(k, samplerate)) * samplerate // SR,
             min(frames, first + resampled_length(b, SR, samplerate)))
            for k, (a, b) in enumerate(self._chunks(resampled_length(frames - first, samplerate,
                                                                     SR)))
        )  # fmt: skip

    def _trim(self, index: int, samplerate: int) -> int:
        """Samples at 16 kHz that chunk ``index`` is decoded from before its start.

        A chunk must start on a file frame that falls exactly on a 16 kHz sample (every
        ``16000 / gcd(16000, samplerate)`` samples), so that resampling it gives the very
        samples of one pass over the file; it starts that much early, and the extra samples
        are dropped after resampling.
        """
        if index == 0 or self.window_samples is not None or self.offset == "all":
            return 0
        start = (index * CHUNK_PATCHES - self._lead) * self.hop_frames * HOP_LENGTH
        return start % (SR // math.gcd(SR, samplerate))

    def _chunks(self, n_samples: int) -> list[tuple[int, int]]:
        """``(start, stop)`` at 16 kHz of the chunks of ``n_samples`` samples (``duration=None``).

        Chunk ``k`` holds patches ``k * CHUNK_PATCHES`` onwards.  Every chunk but the first
        starts :meth:`_lead` patches early, and every chunk ends
        :data:`CHUNK_TAIL_FRAMES` frames after its last patch, so that the patches it keeps
        see only real audio: they are those of one pass over the file, up to the
        resampler's rounding at the chunks' edges.
        """
        chunks = []
        for first_patch in range(0, max(1, n_patches_for(n_samples, self.hop_frames)),
                                 CHUNK_PATCHES):
            lead = self._lead if first_patch else 0
            start = (first_patch - lead) * self.hop_frames * HOP_LENGTH
            last_frame = (first_patch + CHUNK_PATCHES - 1) * self.hop_frames + PATCH_FRAMES
            chunks.append((start, min(n_samples, (last_frame + CHUNK_TAIL_FRAMES) * HOP_LENGTH)))
        return chunks

    @property
    def _lead(self) -> int:
        """Patches a chunk computes before those it keeps: all that share its first frame."""
        return -(-PATCH_FRAMES // self.hop_frames)

    @property
    def _cap(self) -> int | None:
        """The most samples of one window that are analysed (None: all of it)."""
        return self.window_samples

    def plan(self, path: str) -> FilePlan:
        """Check the file's header and place the windows; ``n_complete`` counts their patches."""
        info = read_header(path)
        windows = self.windows(info.frames, info.samplerate)
        n_patches = 0
        for k, (start, stop) in enumerate(windows):
            n_samples = resampled_length(stop - start, info.samplerate, SR)
            if self._cap is not None:
                n_samples = min(n_samples, self._cap)
            n_patches += len(self._kept(k, n_patches_for(n_samples, self.hop_frames)))
        if n_patches == 0:
            start, stop = windows[0]
            raise AudioFileError(path, self._shortfall(stop - start, info))
        return FilePlan.of_windows(path, info, windows, n_patches)

    def _shortfall(self, window_frames: int, info) -> str:
        length = info.frames / info.samplerate
        where = "" if self.offset in (0, 0.0, "all") else f" after offset={self.offset!r}"
        return (
            f"too short: {window_frames / info.samplerate:.3f} s of audio{where} (the file is "
            f"{length:.3f} s long); one musicnn patch needs {MIN_PATCH_SECONDS:.3f} s"
        )

    def expected(self, plan: FilePlan) -> int:
        """Patches a complete analysis gives: all of the window's, or all the planned
        windows' (``offset="all"``, ``duration=None``)."""
        if self.window_samples is None or self.offset == "all":
            return plan.n_complete
        return n_patches_for(self.window_samples, self.hop_frames)

    def shape(self, plans: list[FilePlan]) -> tuple[int, ...]:
        """``(size,)`` pooled (twice that for mean+std), else ``(n_patches, 1, size)``."""
        if self.pooling == "none":
            longest = max((self.expected(plan) for plan in plans), default=1)
            return (longest, 1, self.size)
        return (2 * self.size,) if self.pooling == "mean+std" else (self.size,)

    @property
    def sr(self) -> int:
        """The rate the audio is analysed at: musicnn's 16 kHz."""
        return SR

    def extract(self, plan: FilePlan) -> Extraction:
        """Decode each window, cut it into patches, run the network; pool all the patches.

        ``n_silent`` of the patches are silent (every sample of their span below
        :data:`~sk_audio_genre.reading.QUIET_PEAK_DBFS`).  Only one window's audio is held
        at a time.
        """
        span = PATCH_FRAMES * HOP_LENGTH
        network = MusicnnNetwork.shipped()
        values, n_silent, peak, gain = [], 0, 0.0, 1.0
        for k, (start, stop) in enumerate(plan.spans):
            window = self.audio(plan.window(start, stop))
            y = window.samples[self._trim(k, plan.samplerate) :]
            patches = cut_patches(log_mel(y), self.hop_frames)
            kept = self._kept(k, len(patches))
            patches = patches[kept.start : kept.stop]
            if len(patches) == 0:
                continue
            starts = np.arange(kept.start, kept.stop) * self.hop_frames * HOP_LENGTH
            pieces = [y[first : first + span] for first in starts]  # the last may be short
            n_silent += sum(silent_units(piece[np.newaxis]) for piece in pieces)
            peak = max(peak, max(float(np.abs(piece).max()) for piece in pieces))
            gain = min(gain, window.gain)
            values.append(network.forward(patches, (self.layer,))[self.layer])
        if not values:
            raise AudioFileError(
                plan.path, f"decoded less audio than one {MIN_PATCH_SECONDS:.3f} s patch")
        values = np.concatenate(values)
        return Extraction(pool_patches(values, self.pooling), len(values), n_silent, peak, gain)

    def _kept(self, index: int, n_patches: int) -> range:
        """Which of the ``n_patches`` patches of window ``index`` belong to the analysis:
        all of a window's, or a chunk's own (``duration=None``, see :meth:`_chunks`)."""
        if self.window_samples is not None or self.offset == "all":
            return range(n_patches)
        lead = self._lead if index else 0
        return range(min(lead, n_patches), min(lead + CHUNK_PATCHES, n_patches))

    def audio(self, plan: FilePlan) -> Window:
        """The plan's (first) window decoded at 16 kHz, cut to what is analysed of it."""
        window = decode(plan.window(*plan.spans[0]), SR)
        return Window(window.samples[: self._cap], window.gain)  # [:None] keeps all

    def patches(self, plan: FilePlan) -> np.ndarray:
        """The log-mel patches of every planned window, ``(n_patches, 187, 96)``."""
        kept = []
        for k, span in enumerate(plan.spans):
            y = self.audio(plan.window(*span)).samples[self._trim(k, plan.samplerate) :]
            patches = cut_patches(log_mel(y), self.hop_frames)
            kept.append(patches[self._kept(k, len(patches)).start : self._kept(k, len(patches)).stop])
        return np.concatenate(kept)
