"""Many audio files through one feature extractor, with each file's outcome kept as data.

:class:`~sk_audio_genre.MFCCSegmenter` and :class:`~sk_audio_genre.MusicnnEmbedder` differ
only in what they compute from one file; the work around it is the same and lives here:

1. every path is checked from its header first (``extractor.plan``), so a batch reports
   all its bad files together before any feature is computed;
2. the good files are extracted (``extractor.extract``), in parallel with joblib when asked,
   each result written into the preallocated output as it arrives;
3. every file gets a :class:`FileReport` (``"ok"``, ``"partial"`` or ``"failed"`` with the
   reason), which callers read as data: a command line needs no warning text to learn
   which file failed.

An *extractor* is a small picklable object (it travels to joblib and Dask workers) with

``plan(path) -> plan``
    Reads the header only; raises :class:`~sk_audio_genre._audio.AudioFileError`.
``shape(plans) -> tuple``
    The shape of one file's features, given every good file's plan.
``extract(plan) -> (features, n_filled, n_silent)``
    Decodes and computes; ``features`` may be shorter than ``shape`` along its first axis
    (the rest stays NaN); ``n_silent`` of the ``n_filled`` units are digital silence.
    Raises ``AudioFileError``.
``expected(plan) -> int``
    How many units (segments, patches) a complete analysis of the file gives.
``sr``
    The sample rate the features are computed at.

Results that cannot be trusted are not passed off as answers: a file that is digital
silence throughout fails ("nothing to classify"); silent parts, a sample rate far below
``sr`` and a window the file fills only partly are named in the file's report and in one
warning.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from ._header import AudioFileError

#: How many files an error or warning message lists before it only counts the rest.
MAX_LISTED = 20


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
    notes : tuple of str
        What else makes the features less trustworthy: silent units, a low sample rate.
    """

    path: str
    status: str
    reason: str = ""
    n_filled: int = 0
    n_expected: int = 0
    notes: tuple[str, ...] = ()


def extract_files(
    paths: list[str],
    extractor: Any,
    *,
    n_jobs: int | None,
    verbose: int,
    on_error: str,
    units: str,
    stacklevel: int = 2,
) -> tuple[np.ndarray, list[FileReport]]:
    """Features of every file, NaN rows for failed ones, and one report per file.

    ``on_error="raise"`` raises one ``ValueError`` listing every bad file: after the header
    checks when any header is bad (nothing has been computed yet), else after decoding.
    ``on_error="nan"`` warns once per stage instead.  Files with fewer ``units``
    (segments, patches) than asked for get one ``UserWarning`` listing them.  Warnings
    name the line ``stacklevel`` frames up (2: the caller of this function).
    """
    plans: list[Any] = []
    reports: list[FileReport | None] = []
    for path in paths:
        try:
            plans.append(extractor.plan(path))
            reports.append(None)
        except AudioFileError as exc:
            plans.append(None)
            reports.append(FileReport(path, "failed", exc.reason))
    _handle_failures(reports, on_error, stage="checking the files", stacklevel=stacklevel + 1)

    good = [i for i, plan in enumerate(plans) if plan is not None]
    shape = extractor.shape([plans[i] for i in good])
    out = np.full((len(paths), *shape), np.nan, dtype=np.float32)
    results = _parallel(n_jobs, verbose)(
        delayed(extract_or_reason)(extractor, plans[i]) for i in good
    )
    decode_failed: list[FileReport | None] = [None] * len(paths)
    for i, (features, n_filled, n_silent, reason) in zip(good, results, strict=True):
        expected = extractor.expected(plans[i])
        if features is None or n_silent == n_filled:
            reason = reason or f"digital silence throughout ({n_filled} of {n_filled} {units})"
            reports[i] = decode_failed[i] = FileReport(paths[i], "failed", reason, 0, expected)
            continue
        out[i, : features.shape[0]] = features
        status = "ok" if n_filled >= expected else "partial"
        why = "" if status == "ok" else f"{n_filled} of {expected} {units} filled"
        notes = _notes(plans[i].samplerate, extractor.sr, n_silent, n_filled, units)
        reports[i] = FileReport(paths[i], status, why, n_filled, expected, notes)
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


#: A file recorded below this fraction of the analysis rate lacks much of its spectrum.
LOW_RATE_FRACTION = 0.75


def _notes(samplerate: int, sr: int, n_silent: int, n_filled: int, units: str) -> tuple:
    notes = []
    if n_silent:
        notes.append(f"{n_silent} of {n_filled} {units} are digital silence")
    if samplerate < LOW_RATE_FRACTION * sr:
        notes.append(f"recorded at {samplerate} Hz, far below the {sr} Hz the features are "
                     f"computed at: its top {(sr - samplerate) / 2000:.1f} kHz are missing")
    return tuple(notes)


class AudioFilesTransformer(TransformerMixin, BaseEstimator):
    """Shared base of the transformers that read audio files (``MFCCSegmenter``,
    ``MusicnnEmbedder``): their work through :func:`extract_files`, and their tags.

    A subclass defines ``_spec()`` (its validated extractor), ``_units`` (what a file is
    cut into, for messages), and documents ``transform``/``transform_with_report``,
    which return ``self._extract(X)``.
    """

    _units = "units"

    def _extract(self, X: Any) -> tuple[np.ndarray, list[FileReport]]:
        """The work of ``transform`` and ``transform_with_report``; their warnings name
        the line that called them (three frames up from here)."""
        check_is_fitted(self)
        self._validate_params()
        paths = validate_paths(X)
        return extract_files(
            paths, self._spec(), n_jobs=self.n_jobs, verbose=self.verbose,
            on_error=self.on_error, units=self._units, stacklevel=4,
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


def extract_or_reason(extractor: Any, plan: Any) -> tuple[np.ndarray | None, int, int, str]:
    """``extractor.extract(plan)`` for a parallel worker: errors come back as a reason."""
    try:
        features, n_filled, n_silent = extractor.extract(plan)
    except AudioFileError as exc:
        return None, 0, 0, exc.reason
    return features, n_filled, n_silent, ""


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
