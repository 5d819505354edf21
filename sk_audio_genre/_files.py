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

An *extractor* is a small picklable object (it travels to joblib and Dask workers) that
follows the :class:`Extractor` protocol: it plans a file's window from its header, gives
the shape of one file's features, and decodes and computes them as an :class:`Extraction`.

Results that cannot be trusted are not passed off as answers: a file that is silent
throughout (digital silence, or nothing above :data:`QUIET_PEAK_DBFS`) fails ("nothing to
classify"), as does one whose features are not finite or whose analysis raised; silent
parts, a sample rate far below ``sr``, samples beyond full scale and a window the file
fills only partly are named in the file's report (:attr:`FileReport.notes`) and in one
warning.  One bad file never costs the others their features.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from ._decode import FilePlan
from ._header import AudioFileError

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


class Extractor(Protocol):
    """What :func:`extract_files` needs of a feature extractor (``MFCCSegmenter``'s
    :class:`~sk_audio_genre._audio.SegmentSpec`, ``MusicnnEmbedder``'s
    :class:`~sk_audio_genre._patches.PatchSpec`).  It must pickle: it travels to joblib
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

    A subclass defines ``_spec()`` (its validated :class:`Extractor`) and documents
    ``transform``/``transform_with_report``, which return ``self._extract(X)``.
    """

    def set_params(self, **params: Any) -> AudioFilesTransformer:
        """Set the parameters, and check them as ``fit`` does.

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
            self._spec()
        except Exception:
            super().set_params(**previous)
            raise
        return self

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
