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

from dataclasses import dataclass

import librosa
import numpy as np

from ._decode import FilePlan, Window, decode, place_window, resampled_length
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


@dataclass(frozen=True)
class PatchSpec:
    """What :class:`~sk_audio_genre.MusicnnEmbedder` computes from one file."""

    offset: float | str
    duration: float | None
    hop_frames: int
    layer: str
    pooling: str

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

    def plan(self, path: str) -> FilePlan:
        """Check the file's header and place the window; ``n_complete`` counts its patches."""
        info = read_header(path)
        start, stop = place_window(
            info.frames, info.samplerate, offset=self.offset, length=self.window_samples, sr=SR
        )
        n_samples = resampled_length(stop - start, info.samplerate, SR)
        if self.window_samples is not None:
            n_samples = min(n_samples, self.window_samples)
        n_patches = n_patches_for(n_samples, self.hop_frames)
        if n_patches == 0:
            raise AudioFileError(path, self._shortfall(stop - start, info))
        return FilePlan(path, info.samplerate, start, stop, n_patches, info.format, info.subtype,
                        info.frames)

    def _shortfall(self, window_frames: int, info) -> str:
        length = info.frames / info.samplerate
        where = "" if self.offset in (0, 0.0) else f" after offset={self.offset!r}"
        return (
            f"too short: {window_frames / info.samplerate:.3f} s of audio{where} (the file is "
            f"{length:.3f} s long); one musicnn patch needs {MIN_PATCH_SECONDS:.3f} s"
        )

    def expected(self, plan: FilePlan) -> int:
        """Patches a complete analysis gives: all of the window's, or the whole file's."""
        if self.window_samples is None:
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
        """Decode, cut into patches, run the network and pool.

        ``n_silent`` of the patches are silent (every sample of their span below
        :data:`~sk_audio_genre._files.QUIET_PEAK_DBFS`).
        """
        window = self.audio(plan)
        y = window.samples
        patches = cut_patches(log_mel(y), self.hop_frames)
        if len(patches) == 0:
            raise AudioFileError(
                plan.path,
                f"decoded only {y.size / SR:.3f} s of audio, less than one "
                f"{MIN_PATCH_SECONDS:.3f} s patch",
            )
        span = PATCH_FRAMES * HOP_LENGTH
        starts = np.arange(len(patches)) * self.hop_frames * HOP_LENGTH
        spans = [y[start : start + span] for start in starts]
        n_silent = sum(silent_units(s[np.newaxis]) if s.size else 1 for s in spans)
        values = MusicnnNetwork.shipped().forward(patches, (self.layer,))[self.layer]
        return Extraction(pool_patches(values, self.pooling), len(patches), n_silent,
                          max(float(np.abs(s).max(initial=0.0)) for s in spans), window.gain)

    def audio(self, plan: FilePlan) -> Window:
        """The planned window decoded at 16 kHz, cut to ``duration``."""
        window = decode(plan, SR)
        if self.window_samples is None:
            return window
        return Window(window.samples[: self.window_samples], window.gain)

    def patches(self, plan: FilePlan) -> np.ndarray:
        """The planned window's log-mel patches, ``(n_patches, 187, 96)``."""
        return cut_patches(log_mel(self.audio(plan).samples), self.hop_frames)
