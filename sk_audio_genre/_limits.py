"""The bounds on every parameter that decides how much memory or time the library spends.

A saved model is data, yet its parameters decide how much audio is decoded, how many
frames, patches and weights are computed, and how long training runs.  So each such
parameter has a bound, derived below from what the parameter means (not from today's
defaults).  The estimators import the bounds from here; their docstrings state them;
``docs/refusals.rst`` lists each with its test.  They are checked by ``_validate_params``
(the estimators' ``_parameter_constraints``, and the combinations in their ``_spec`` or
``_validate_params``), which ``fit``, ``set_params`` and loading a saved model all run,
before anything is allocated; a refusal is a ``ValueError`` naming the parameter, the bound
and why it exists.

Together they bound one file's work: at most ten minutes of audio at most 48 kHz, turned
into at most ``2**22`` spectrogram values, with frames or patches overlapping a bounded number
of times.  What the file itself decides (its length, with ``duration=None``) is not the
model's to bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral
from typing import Any

from sklearn.utils._param_validation import Interval

# --------------------------------------------------------------------------- audio


#: Analysis sample rates, Hz.  The rate decides the highest frequency analysed (sr / 2)
#: and, linearly, the samples decoded and transformed.  Hearing ends near 20 kHz, so 48 kHz
#: (a band up to 24 kHz) analyses all that is audible; the higher rates of studio masters
#: (88.2, 96, 192 kHz) add only ultrasound, which no genre depends on, at two to four times
#: the time and memory.  1 kHz still keeps everything up to 500 Hz (bass lines, rhythm, the
#: fundamentals of most melodies); below it little music is left.
MIN_SR = 1_000
MAX_SR = 48_000
SR_REASON = "48 kHz analyses all that is audible; higher rates add only ultrasound"

#: Seconds of audio analysed per file: ``n_segments * segment_duration``
#: (``MFCCSegmenter``) and ``duration`` (``MusicnnEmbedder``).  Ten minutes is longer than
#: nearly every song and 20 times the 30 s windows genre datasets use; decoding time and
#: memory grow linearly with it (600 s at 48 kHz are 115 MB of float32 samples).
#: ``duration=None`` (to the end of the file) stays allowed: the file bounds it, not the model.
MAX_WINDOW_SECONDS = 600.0
WINDOW_REASON = "ten minutes, longer than nearly every song's analysis window"

#: Windows analysed per file in whole-song mode (``offset="all"``).  Only one window's audio
#: is held at a time, so memory does not grow with them; time does, linearly.  100 windows
#: of 30 s are 50 minutes, longer than nearly every song; a longer file is sampled by 100
#: evenly spaced windows, whose mean features differ from the whole file's by a tenth of
#: one window's spread (the standard error of a mean shrinks as 1 / sqrt(n)).
MAX_WINDOWS = 100
WINDOWS_REASON = "time grows linearly with the windows; 100 of 30 s are 50 minutes"

#: Seconds from a file's start to the analysed window.  No recording in a music library
#: lasts a week (the longest, continuous radio or field recordings, last days), and the
#: bound keeps ``offset * rate`` below 4.7e11 frames for any file rate up to 768 kHz:
#: exact in float64 and far inside int64, where ``inf`` and ``1e308`` overflowed.
MAX_OFFSET_SECONDS = 7 * 24 * 3600.0
OFFSET_REASON = "one week of audio, longer than any recording"

#: The most float32 values of the largest array computed from one file's audio (which
#: itself is bounded by the window and the rate): the 128-band mel spectrogram of its MFCC
#: segments (``n_segments * n_frames * 128``), or the log-mel patches musicnn reads
#: (``n_patches * 187 * 96``, overlapping patches copied).  The features returned are never larger
#: (``n_mfcc <= 128``; a musicnn layer has at most 753 values per patch).  16 MiB per file:
#: the inference engine holds 16 files' features per batch (256 MiB) and each parallel
#: worker one file's spectrogram.  It allows 32,768 MFCC frames (ten minutes at 54 frames/s;
#: librosa's default hop of 512 samples at 22,050 Hz gives 43, this library's 1,024 gives 21.5)
#: and 233 musicnn patches (ten minutes of non-overlapping patches are 200).
MAX_FILE_VALUES = 2**22
FILE_VALUES_REASON = "16 MiB of float32 per file, and the engine holds 16 files per batch"

# --------------------------------------------------------------------------- STFT


#: FFT frame length, samples.  65,536 samples last 1.4 s at 48 kHz and 1.5 s at 44.1 kHz,
#: longer than a note: longer frames only blur the music in time, while the filter bank
#: (128 x 32,769 values) and the per-frame buffers grow with them.
MAX_N_FFT = 2**16
N_FFT_REASON = "a frame of 65,536 samples already lasts longer than a note"

#: How many frames may cover one sample: ``n_fft <= MAX_STFT_OVERLAP * hop_length``.  Along
#: time, each frequency bin of a Hann-windowed STFT is band-limited by the window's main
#: lobe (+-2 bins, +-2 sr / n_fft Hz), so the power (and mel) spectrogram, its square, is
#: band-limited to +-4 sr / n_fft Hz: a hop of ``n_fft / 8`` samples it at its Nyquist rate,
#: and shorter hops only interpolate it while time and memory grow as ``n_fft / hop``.
#: (librosa's default overlap is 4, this library's 2.)  With the lower bound of ``n_fft``
#: (:func:`min_n_fft`) this also caps the frame rate at ``8 sr / min_n_fft(sr)``, fewer than
#: 510 frames per second at any allowed rate, so no separate frame-rate bound is needed.
MAX_STFT_OVERLAP = 8


def narrowest_mel_band(sr: int, n_mels: int) -> float:
    """Width in Hz of the narrowest band of librosa's ``n_mels``-band mel filter bank.

    librosa's default (Slaney) mel scale is linear below 1 kHz, 200/3 Hz per mel, and
    logarithmic above, so the bands from 0 Hz to ``sr / 2`` are narrowest at the bottom:
    two steps of ``mel(sr / 2) / (n_mels + 1)`` mels.
    """
    nyquist = sr / 2
    if nyquist < 1000:
        top_mel = 3 * nyquist / 200
    else:
        top_mel = 15 + 27 * math.log(nyquist / 1000) / math.log(6.4)
    step = top_mel / (n_mels + 1)
    return 2 * step * 200 / 3


def min_n_fft(sr: int, n_mels: int) -> int:
    """The shortest FFT whose bins are closer together than the narrowest mel band is wide.

    Below it some bands of the filter bank hold no FFT bin (librosa warns "Empty filters")
    and give a constant, meaningless coefficient.  librosa's own check passes a few per cent
    lower, where the bins happen to fall inside the bands; this bound holds for any alignment.
    For 128 bands it is 428 at 22,050 Hz, 221 at 8 kHz and 759 at 48 kHz.

    Examples
    --------
    >>> min_n_fft(22050, 128)
    428
    """
    return math.floor(sr / narrowest_mel_band(sr, n_mels)) + 1


# --------------------------------------------------------------------------- musicnn


#: Seconds between the starts of musicnn patches (``patch_hop``).  musicnn's patches last
#: 3 s; at 0.5 s they overlap 6-fold, and their embeddings differ from one patch to the next
#: by 22 % of their norm (51 % for non-overlapping patches; 17 % at 0.26 s; penultimate
#: layer, 4 GTZAN tracks), so a shorter hop mostly repeats patches while the time per file
#: grows as 1 / hop: at 0.5 s a 2-core machine embeds audio about 10 times faster than it
#: plays.  At most ``MAX_WINDOW_SECONDS``: a longer hop gives one patch all the same.
MIN_PATCH_HOP_SECONDS = 0.5
PATCH_HOP_REASON = (
    "musicnn's patches last 3 s: shorter hops repeat them while time grows as 1 / hop"
)

# --------------------------------------------------------------------------- networks


#: Weights of one genre network, for the input shape and classes it is fitted on.  50
#: million float32 weights are 200 MB, and training holds about three times that (gradients
#: and Adam's two moments); it is 50 times the original course's MLP (1,014,218 weights).  Restoring a
#: saved network also builds it on one zero segment per class, bounded by the same number
#: of values: restoring never takes more memory than the weights it restores.
MAX_NETWORK_WEIGHTS = 50_000_000
NETWORK_WEIGHTS_REASON = "200 MB of float32 weights, 50 times the original course's MLP"

#: Units (filters) of one layer.  The widest layers of the large image classifiers trained
#: on a million images (AlexNet's and VGG's dense layers) have 4,096 units; a genre network
#: trains on thousands of tracks, so wider layers only memorise.
MAX_LAYER_UNITS = 4096
#: Layers of a stacked parameter (``hidden_layer_sizes``, ``lstm_units``).  Plain stacks
#: without residual connections train worse beyond about 16 layers (VGG-19's 16
#: convolutions are about the deepest in use), and building each layer costs time.
MAX_LAYERS = 16
LAYERS_REASON = (
    "VGG's 4,096-unit layers are the widest a million images train; plain stacks train "
    "worse beyond 16 layers"
)

#: How many windows may hold one frame: ``frames <= MAX_WINDOW_OVERLAP * hop`` for
#: ``segment_window=(frames, hop)``.  The windows are copies: the training (and prediction)
#: data grow by ``frames / hop``, and beyond 8 consecutive windows share more than 7/8 of
#: their frames.  A window lies inside one file's features, so ``frames`` and ``hop`` are at
#: most ``MAX_FILE_VALUES``.
MAX_WINDOW_OVERLAP = 8

#: Passes over the training segments.  The original course trains 30; networks on GTZAN-sized data
#: converge within a few hundred, and early stopping ends most runs sooner.  ``epochs``
#: bounds ``n_iter_no_change`` too: a longer patience never stops anything.
MAX_EPOCHS = 10_000
EPOCHS_REASON = "300 times the original course's 30 epochs; training converges within hundreds"

#: Segments per gradient step.  A batch larger than the training set is the full batch
#: (``batch_size="full"`` says so); 2**20 segments of the original course's 130 x 13 MFCCs are 7 GB,
#: more than any training set held in memory.
MAX_BATCH_SIZE = 2**20
BATCH_SIZE_REASON = "a million segments, more than a training set held in memory; use 'full'"

#: Members of ``seeded_ensemble``.  Averaging k networks that differ in their seed divides the
#: variance of the seed's effect by k: at 100 it is down to a tenth of one network's spread
#: (1 / sqrt(100)), while training and prediction time grow linearly with k.
MAX_ENSEMBLE_MEMBERS = 100


# --------------------------------------------------------------------------- checking


class Bounded(Interval):
    """A scikit-learn :class:`~sklearn.utils._param_validation.Interval` whose refusal says
    why the bound exists: ``"an int in the range [1000, 48000] (48 kHz analyses ...)"``."""

    def __init__(self, type: type, left: float | None, right: float | None, *, closed: str,
                 why: str) -> None:  # fmt: skip
        super().__init__(type, left, right, closed=closed)
        self.why = why

    def __str__(self) -> str:
        return f"{super().__str__()} ({self.why})"


def check_sizes(name: str, sizes: Any, *, min_count: int, max_count: int) -> None:
    """Refuse layer sizes that are not ``min_count`` to ``max_count`` ints in
    ``[1, MAX_LAYER_UNITS]``.

    Raises
    ------
    ValueError
        Naming ``name``, the bounds and why.
    """
    values = list(sizes) if isinstance(sizes, Iterable) and not isinstance(sizes, str) else None
    if values is None or not (
        min_count <= len(values) <= max_count
        and all(isinstance(v, Integral) and not isinstance(v, bool) and 1 <= v <= MAX_LAYER_UNITS
                for v in values)
    ):
        count = str(min_count) if min_count == max_count else f"{min_count} to {max_count}"
        raise ValueError(
            f"{name} must be {count} ints in [1, {MAX_LAYER_UNITS}] ({LAYERS_REASON}); "
            f"got {sizes!r}."
        )


def check_segment_window(window: Any) -> None:
    """Refuse a ``segment_window`` that is not None or ``(frames, hop)`` within bounds.

    Raises
    ------
    ValueError
        Saying which bound ``window`` breaks and why.
    """
    if window is None:
        return
    if not (
        isinstance(window, (tuple, list))
        and len(window) == 2
        and all(isinstance(n, Integral) and not isinstance(n, bool) and 1 <= n <= MAX_FILE_VALUES
                for n in window)
    ):
        raise ValueError(
            f"segment_window must be None or (frames, hop), two ints in [1, {MAX_FILE_VALUES}] "
            f"(a window lies inside one file's features); got {window!r}."
        )
    frames, hop = window
    if frames > MAX_WINDOW_OVERLAP * hop:
        raise ValueError(
            f"segment_window={tuple(window)!r} puts each frame into about {frames // hop} "
            f"windows, more than {MAX_WINDOW_OVERLAP}: the windows are copies, so the data "
            f"grow by frames / hop while consecutive windows are near duplicates; use "
            f"hop >= {math.ceil(frames / MAX_WINDOW_OVERLAP)}."
        )
