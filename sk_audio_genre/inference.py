"""Predicting many files with any saved model, each file's outcome kept: the command line's engine.

:func:`load_model` resolves a model name (the shipped model, a saved folder, or, only when
asked for by name, a pickle) and :func:`check_audio_model` says whether it reads audio
files; :func:`predict_files` classifies files in batches and yields one
:class:`FilePrediction` per file, with the probabilities or the reason there are none;
:func:`transform_with_report` runs a model's feature step (any transformer with
``transform_with_report``, a ``Pipeline`` starting with one, or a ``FeatureUnion`` of
them) and merges the per-file reports.

One file never costs the others their answer: a file whose features the model refuses
(the batch is then classified file by file) or whose probabilities are not finite fails
alone, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline

from ._segments import OVERFLOW_REASON
from .model_format import load_pipeline
from .open_set import OpenSetClassifier
from .pretrained import load_pretrained
from .reading import FileReport, merge_reports

__all__ = [
    "FileEmbedding",
    "FilePrediction",
    "check_audio_model",
    "embed_files",
    "load_model",
    "predict_files",
    "transform_with_report",
]

#: Files whose features are computed together.
BATCH_SIZE = 16
#: Suffixes of pickled models, which load only with ``trust_pickle=True``.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
#: Why a file whose probabilities are not finite has no answer.
NOT_FINITE = f"the model's output is not finite: {OVERFLOW_REASON}"


@dataclass(frozen=True)
class FilePrediction:
    """One file's prediction: ``proba`` over the model's classes, or None and why.

    ``novelty`` is the :meth:`~sk_audio_genre.open_set.OpenSetClassifier.novelty_score` of
    a model ending in an ``OpenSetClassifier`` (above 1: the file is unlike the training
    music, and the model answers its ``unknown_label``); None for other models.
    """

    path: str
    proba: np.ndarray | None
    report: FileReport
    novelty: float | None = None


@dataclass(frozen=True)
class FileEmbedding:
    """One file's output row of a transformer (:func:`embed_files`), or None and why.

    ``embedding`` is the file's features flattened to one row (the mean taggram of
    ``MusicnnEmbedder(layer="taggram")``, for example); None when the file gave none, and
    ``report`` says why.
    """

    path: str
    embedding: np.ndarray | None
    report: FileReport


def load_model(spec: str, *, trust_pickle: bool = False) -> Any:
    """The model a user names: ``"pretrained"``, a saved model folder, or a pickle.

    Parameters
    ----------
    spec : str
        ``"pretrained"`` is always the shipped model (never a file of that name); a
        folder (or its ``pipeline.json``) is loaded with
        :func:`~sk_audio_genre.model_format.load_pipeline`; a ``.joblib``/``.pkl`` file is
        unpickled only with ``trust_pickle=True``.
    trust_pickle : bool, default=False
        Unpickling runs any code the file holds; only for files you made or trust.

    Raises
    ------
    ValueError
        If the model cannot be found or loaded, or is a pickle without ``trust_pickle``.
    """
    if spec == "pretrained":
        return load_pretrained()
    path = Path(spec)
    if path.is_dir() or path.suffix == ".json":
        return load_pipeline(path)
    if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file():
        if not trust_pickle:
            raise ValueError(
                f"model {spec!r} is a pickle, and unpickling runs whatever code the file "
                "holds; load it only if you made it or trust its source, with "
                "--trust-pickle (trust_pickle=True). Folders saved by 'train' or "
                "save_pipeline need no trust."
            )
        try:
            return joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - unpickling can fail in any way
            raise ValueError(f"{spec} could not be unpickled ({exc}).") from None
    if path.exists():
        raise ValueError(
            f"model {spec!r} is neither a saved model folder nor a {'/'.join(PICKLE_SUFFIXES)} "
            "pickle."
        )
    raise ValueError(f"model {spec!r} not found: give 'pretrained', a saved model folder, or "
                     "a .joblib file (with --trust-pickle).")


def check_audio_model(model: Any) -> None:
    """Refuse a model that cannot classify audio files.

    Raises
    ------
    ValueError
        If ``model`` is not a ``Pipeline`` whose first step reads audio files (a
        transformer with ``transform_with_report``, or a ``Pipeline`` or ``FeatureUnion``
        of them), saying what it is instead.
    """
    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        raise ValueError(f"it is a {type(model).__name__}, not a fitted Pipeline that reads "
                         "audio files and classifies them.")
    problem = _not_a_reader(model.steps[0][1])
    if problem:
        raise ValueError(problem)


def _not_a_reader(step: Any) -> str:
    """Why ``step`` cannot start a model that reads audio files; "" if it can."""
    if hasattr(step, "transform_with_report"):
        return ""
    if isinstance(step, Pipeline):
        return _not_a_reader(step.steps[0][1])
    if isinstance(step, FeatureUnion):
        return next(filter(None, (_not_a_reader(part) for _, part in step.transformer_list)), "")
    return (f"its first step is a {type(step).__name__}, which does not read audio files; it "
            "must be MFCCSegmenter, MusicnnEmbedder, or a Pipeline or FeatureUnion of them.")


def transform_with_report(step: Any, paths: Sequence[str]) -> tuple[np.ndarray, list[FileReport]]:
    """A feature step's output for ``paths`` and one merged report per file.

    Raises
    ------
    TypeError
        If ``step`` does not read audio files (see :func:`check_audio_model`).
    """
    if hasattr(step, "transform_with_report"):
        return step.transform_with_report(list(paths))
    if isinstance(step, Pipeline):
        features, reports = transform_with_report(step.steps[0][1], paths)
        return (step[1:].transform(features) if len(step.steps) > 1 else features), reports
    if isinstance(step, FeatureUnion):
        parts = [transform_with_report(part, paths) for _, part in step.transformer_list]
        features = np.hstack([f.reshape(len(f), -1) for f, _ in parts])
        return features, [merge_reports(reports) for reports in zip(*(r for _, r in parts))]
    raise TypeError(f"the model cannot read audio files: {_not_a_reader(step)}")


def predict_files(
    model: Any, paths: Sequence[str], *, batch_size: int = BATCH_SIZE
) -> Iterator[FilePrediction]:
    """Classify files in batches; one :class:`FilePrediction` per path, in order.

    A file that gives no usable features, whose features the model refuses, or whose
    probabilities (or novelty) are not finite gets ``proba=None`` and its report says why;
    the others are still classified (its batch is not lost).  The model's feature step
    should have ``on_error="nan"`` so that bad files do not raise.
    """
    novelty = novelty_scorer(model)
    if novelty is None:
        return (FilePrediction(path, proba, report) for path, proba, report
                in _in_batches(model.steps[0][1], model[1:].predict_proba, paths, batch_size))

    def head(features: np.ndarray) -> np.ndarray:  # the novelty as a last column
        return np.column_stack([model[1:].predict_proba(features), novelty(features)])

    return (FilePrediction(path, output[:-1], report, float(output[-1])) if output is not None
            else FilePrediction(path, None, report)
            for path, output, report in _in_batches(model.steps[0][1], head, paths, batch_size))


def novelty_scorer(model: Any) -> Any:
    """For a Pipeline ending in an :class:`~sk_audio_genre.open_set.OpenSetClassifier`, the
    function from its first step's output to each file's novelty score; else None."""
    last = model.steps[-1][1]
    if not isinstance(last, OpenSetClassifier):
        return None
    middle = model[1:-1] if len(model.steps) > 2 else None
    return lambda features: last.novelty_score(
        features if middle is None else middle.transform(features))


def embed_files(
    transformer: Any, paths: Sequence[str], *, batch_size: int = BATCH_SIZE
) -> Iterator[FileEmbedding]:
    """Run a transformer on files in batches; one :class:`FileEmbedding` per path, in order.

    As :func:`predict_files` does for a model: a file that gives no usable features, or
    features that are not finite, gets ``embedding=None`` and its report says why.
    """
    return (FileEmbedding(path, row, report) for path, row, report
            in _in_batches(transformer, lambda features: features, paths, batch_size))


def _in_batches(
    feature_step: Any, head: Any, paths: Sequence[str], batch_size: int
) -> Iterator[tuple[str, np.ndarray | None, FileReport]]:
    """Each file's path, ``head``'s output row for its features (None if there is none),
    and its report (``"failed"``, with the reason, exactly when the row is None)."""
    for start in range(0, len(paths), batch_size):
        batch = [os.fspath(p) for p in paths[start : start + batch_size]]
        features, reports = transform_with_report(feature_step, batch)
        flat = features.reshape(len(batch), -1)
        usable = np.array([r.status != "failed" for r in reports]) & ~np.isnan(flat).all(axis=1)
        outputs = iter(_head_outputs(head, features[usable]))
        for path, report, ok in zip(batch, reports, usable, strict=True):
            output, reason = next(outputs) if ok else (None, "no features could be computed")
            if output is None and report.status != "failed":
                report = replace(report, status="failed", reason=reason)
            yield path, output, report


def _head_outputs(head, features: np.ndarray) -> list[tuple[np.ndarray | None, str]]:
    """``head``'s output row for each row of ``features``, or None and why there is none.

    The rows go through ``head`` together; if it raises, one by one, so that only the
    rows it refuses fail.  A row of output that is not finite is no answer.
    """
    if len(features) == 0:
        return []
    try:
        outputs = [(row, "") for row in head(features)]
    except Exception:  # noqa: BLE001 - which rows it refuses is found out one by one
        outputs = [_one_row(head, row) for row in features]
    return [(None, NOT_FINITE) if proba is not None and not np.isfinite(proba).all()
            else (proba, reason) for proba, reason in outputs]


def _one_row(head, features: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``head``'s output for one file's features, or None and why it refused them."""
    try:
        return head(features[np.newaxis])[0], ""
    except Exception as exc:  # noqa: BLE001 - any refusal is this file's failure
        lines = str(exc).strip().splitlines()
        return None, f"the model refused its features ({type(exc).__name__}" + (
            f": {lines[0]})" if lines else ")")
