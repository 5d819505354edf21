"""musicnn's input: 16 kHz log-mel spectrograms cut into 3 s patches, and one file's embedding.

musicnn 0.1.0's ``extractor.batch_data`` does, for a whole file::

    audio, sr = librosa.load(file, sr=16000)
    S = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512, n_mels=96).T
    S = S.astype(np.float16)
    S = np.log10(10000 * S + 1)
    patches = [S[t : t + 187] for t in range(0, len(S) - 187 + 1, 187)]

:func:`log_mel` does the same with one intended difference: the logarithm is computed in
float32 after the float16 rounding.  musicnn multiplies in float16, which overflows to
infinity for mel bins above 6.55 (loud music) and keeps its result in float16.
:class:`PatchSpec` is the :mod:`~sk_audio_genre._files` extractor of
:class:`~sk_audio_genre.MusicnnEmbedder`: it plans the analysed window from a file's header,
decodes it like ``librosa.load(sr=16000)`` (same resampler), and runs the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import librosa
import numpy as np

from ._decode import FilePlan, Window, decode, place_window, resampled_length, tile_windows
from ._files import Extraction, silent_units
from ._header import AudioFileError, read_header
from ._musicnn_network import LAYER_SIZES, N_MELS, PATCH_FRAMES, MusicnnNetwork

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
        if self.offset == "all":
            length = resampled_length(self.window_samples, SR, samplerate)
            return tile_windows(0, frames, length=length, stride=length,
                                max_windows=self.max_windows)
        if self.window_samples is not None:
            return (place_window(frames, samplerate, offset=self.offset,
                                 length=self.window_samples, sr=SR),)
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
        return FilePlan(path, info.samplerate, windows[0][0], windows[-1][1], n_patches,
                        info.format, info.subtype, info.frames,
                        windows if len(windows) > 1 else ())

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
        :data:`~sk_audio_genre._files.QUIET_PEAK_DBFS`).  Only one window's audio is held
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
