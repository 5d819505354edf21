"""MFCCSegmenter: audio file paths in, per-segment MFCC arrays out."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._audio import AudioFileError, FilePlan, SegmentSpec, extract_or_reason, probe_file

#: How many files an error or warning message lists before it only counts the rest.
MAX_LISTED = 20

#: Mel bands of ``librosa.feature.melspectrogram`` (the most MFCCs it can give).
N_MELS = 128


class MFCCSegmenter(TransformerMixin, BaseEstimator):
    """Cut audio files into fixed-length segments and compute each segment's MFCCs.

    Every file gives ``n_segments`` consecutive segments of ``segment_duration``
    seconds, starting at ``offset``; every segment gives the MFCC matrix
    ``librosa.feature.mfcc(y=segment, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
    hop_length=hop_length).T`` of shape ``(n_frames, n_mfcc)``, computed on the
    segment alone.  The defaults reproduce the classic GTZAN recipe: five 6 s
    segments of a 30 s track, 130 frames x 13 MFCCs each.

    The transformer is stateless: ``fit`` only checks the parameters.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate the audio is analysed at; files at other rates are resampled.
    n_segments : int, default=5
        Segments taken from each file.
    segment_duration : float, default=6.0
        Length of one segment in seconds; ``round(segment_duration * sr)`` samples.
    n_mfcc : int, default=13
        MFCCs per frame (at most 128, librosa's number of mel bands).
    n_fft : int, default=2048
        FFT window length in samples.
    hop_length : int, default=1024
        Samples between successive frames.
    offset : float or "center", default=0.0
        Where the first segment starts, in seconds from the file's start; ``"center"``
        takes the middle ``n_segments * segment_duration`` seconds of each file.
    on_error : {"raise", "nan"}, default="raise"
        What to do with files that give no features (missing, empty, not audio,
        corrupt, or too short for one complete segment).  ``"raise"`` raises one
        ``ValueError`` listing every bad file; ``"nan"`` gives them an all-NaN row and
        warns once.
    n_jobs : int, default=None
        Files processed in parallel with joblib; ``None`` means 1 unless in a
        ``joblib.parallel_config`` context, ``-1`` means all processors (or, under
        the ``"dask"`` backend, all threads of the cluster's workers).
    verbose : int, default=0
        Progress messages from joblib when greater than 0.

    Attributes
    ----------
    n_frames_ : int
        MFCC frames per complete segment, ``1 + segment_length // hop_length`` for an
        even ``n_fft``.
    feature_shape_ : tuple of int
        Shape of one file's features, ``(n_segments, n_frames_, n_mfcc)``.

    See Also
    --------
    librosa.feature.mfcc : The MFCCs computed for each segment.
    sk_audio_genre.SegmentScaler : Standardises the segment features.

    Notes
    -----
    ``transform`` returns a float32 array of shape
    ``(n_files, n_segments, n_frames_, n_mfcc)``: one row per input path, in order.

    A segment counts as complete when it gives all ``n_frames_`` frames; a segment cut
    short by the end of the file that still does is zero-padded, which leaves its frames
    unchanged.  Segments a file cannot fill are NaN and a ``UserWarning`` names the file.

    Files are checked from their headers first, so bad files are reported together
    before any features are computed.  Each file is decoded once (only the needed
    window, by libsndfile: wav, au, flac, ogg, mp3, ...), mixed to mono like
    ``librosa.to_mono`` and resampled with ``librosa.resample`` when its rate differs
    from ``sr``; with resampling the window is cut in the file's own rate first, so its
    edges can differ slightly from resampling the whole file.

    With ``n_jobs``, each joblib worker (a process, or a Dask worker under
    ``joblib.parallel_config(backend="dask")``) decodes its own files and sends back
    only their features (about 34 kB per file with the defaults); they are written
    into the output as they arrive, so the parent never holds audio, and its memory
    is the output array plus a few results in flight.

    The mel spectrograms of a file's segments are computed in one batch, but the
    decibel conversion (``power_to_db`` with ``top_db=80``) is applied per segment, as
    ``librosa.feature.mfcc`` does for a single segment: a 2-D call to
    ``librosa.feature.mfcc`` would floor every row at the loudest row's level.  The STFT
    and the mel projection are computed in float64 (librosa rounds to float32 between
    them), so the features agree with ``librosa.feature.mfcc`` within float32 rounding
    (at most 6.1e-5 on the GTZAN tracks, about the difference between two runs of
    librosa with different BLAS thread counts).  No step uses BLAS, so the features are
    bit-identical for every ``n_jobs`` and joblib backend.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> from sk_audio_genre.segmenter import MFCCSegmenter
    >>> sr = 22050
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * sr) / sr)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "tone.wav")
    ...     sf.write(path, tone, sr)
    ...     seg = MFCCSegmenter(n_segments=3, segment_duration=1.0)
    ...     X = seg.fit_transform([path])
    >>> X.shape
    (1, 3, 22, 13)
    >>> X.dtype
    dtype('float32')
    >>> seg.feature_shape_
    (3, 22, 13)
    """

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "n_segments": [Interval(Integral, 1, None, closed="left")],
        "segment_duration": [Interval(Real, 0, None, closed="neither")],
        "n_mfcc": [Interval(Integral, 1, N_MELS, closed="both")],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "offset": [Interval(Real, 0, None, closed="left"), StrOptions({"center"})],
        "on_error": [StrOptions({"raise", "nan"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sr: int = 22050,
        n_segments: int = 5,
        segment_duration: float = 6.0,
        n_mfcc: int = 13,
        n_fft: int = 2048,
        hop_length: int = 1024,
        offset: float | str = 0.0,
        on_error: str = "raise",
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.sr = sr
        self.n_segments = n_segments
        self.segment_duration = segment_duration
        self.n_mfcc = n_mfcc
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.offset = offset
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> MFCCSegmenter:
        """Check the parameters and the form of ``X``; no file is read.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths (list, 1-D array, pandas Series, or one-column 2-D
            array or DataFrame).
        y : None
            Ignored.

        Returns
        -------
        self : MFCCSegmenter
            The fitted segmenter.
        """
        _validate_paths(X)
        spec = self._spec()
        self.n_frames_ = spec.n_frames
        self.feature_shape_ = spec.feature_shape
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Compute the per-segment MFCCs of every file.

        Parameters
        ----------
        X : sequence of str or os.PathLike
            Audio file paths (list, 1-D array, pandas Series, or one-column 2-D
            array or DataFrame).

        Returns
        -------
        ndarray of shape (n_files, n_segments, n_frames, n_mfcc), dtype float32
            One row per path, in order; unfilled segments and (with
            ``on_error="nan"``) bad files are NaN.

        Raises
        ------
        ValueError
            Listing every file that gives no features, when ``on_error="raise"``.
        """
        check_is_fitted(self)
        self._validate_params()
        paths = _validate_paths(X)
        spec = self._spec()
        plans, errors = _probe_all(paths, spec)
        self._handle_errors(errors, stage="checking the files")

        jobs = [(i, plan) for i, plan in enumerate(plans) if plan is not None]
        out = np.full((len(paths), *spec.feature_shape), np.nan, dtype=np.float32)
        results = _parallel(self.n_jobs, self.verbose)(
            delayed(extract_or_reason)(plan, spec) for _, plan in jobs
        )
        decode_errors: dict[int, str] = {}
        short: list[tuple[str, int]] = []
        for (i, plan), (features, n_filled, reason) in zip(jobs, results, strict=True):
            if features is None:
                decode_errors[i] = reason
                continue
            out[i] = features
            if n_filled < spec.n_segments:
                short.append((plan.path, n_filled))
        self._handle_errors(
            {i: (paths[i], reason) for i, reason in decode_errors.items()},
            stage="decoding the files",
        )
        if short:
            _warn_short(short, spec.n_segments)
        return out

    def _spec(self) -> SegmentSpec:
        """The validated parameters as a :class:`SegmentSpec`; checks their combination."""
        length = int(round(self.segment_duration * self.sr))
        if length < self.n_fft:
            raise ValueError(
                f"segment_duration={self.segment_duration!r} gives {length} samples at "
                f"sr={self.sr}, fewer than n_fft={self.n_fft}; use a longer "
                "segment_duration or a smaller n_fft."
            )
        return SegmentSpec(
            sr=int(self.sr),
            n_segments=int(self.n_segments),
            segment_length=length,
            n_mfcc=int(self.n_mfcc),
            n_fft=int(self.n_fft),
            hop_length=int(self.hop_length),
            offset=self.offset if isinstance(self.offset, str) else float(self.offset),
        )

    def _handle_errors(self, errors: dict[int, tuple[str, str]], *, stage: str) -> None:
        """Raise one ValueError listing every bad file, or warn under ``on_error="nan"``."""
        if not errors:
            return
        listing = _format_listing([f"{path}: {reason}" for path, reason in errors.values()])
        n = len(errors)
        if self.on_error == "raise":
            raise ValueError(
                f"{n} of the input files cannot be used ({stage}); "
                f"set on_error='nan' to give them NaN features instead:\n{listing}"
            )
        warnings.warn(
            f"{n} input file(s) gave no features ({stage}); their rows are NaN:\n{listing}",
            UserWarning,
            stacklevel=3,
        )

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


def _probe_all(
    paths: list[str], spec: SegmentSpec
) -> tuple[list[FilePlan | None], dict[int, tuple[str, str]]]:
    """Probe every file's header; ``(plans, errors)`` with ``None`` plans for bad files."""
    plans: list[FilePlan | None] = []
    errors: dict[int, tuple[str, str]] = {}
    for i, path in enumerate(paths):
        try:
            plans.append(probe_file(path, spec))
        except AudioFileError as exc:
            plans.append(None)
            errors[i] = (path, exc.reason)
    return plans, errors


def _validate_paths(X: Any) -> list[str]:
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


def _format_listing(lines: list[str]) -> str:
    """Indented lines, the first ``MAX_LISTED`` of them and a count of the rest."""
    shown = [f"  {line}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"  ... and {len(lines) - MAX_LISTED} more")
    return "\n".join(shown)


def _warn_short(short: list[tuple[str, int]], n_segments: int) -> None:
    listing = _format_listing(
        [f"{path}: {n_filled} of {n_segments} segments filled" for path, n_filled in short]
    )
    warnings.warn(
        f"{len(short)} file(s) are shorter than the requested window; "
        f"their unfilled segments are NaN:\n{listing}",
        UserWarning,
        stacklevel=3,
    )
