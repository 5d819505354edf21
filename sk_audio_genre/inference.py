"""Predicting many files with any saved model, each file's outcome kept: the command line's engine.

:func:`load_model` resolves a model name (the shipped model, a saved folder, or, only when
asked for by name, a pickle); :func:`predict_files` classifies files in batches and yields
one :class:`FilePrediction` per file, with the probabilities or the reason there are
none; :func:`transform_with_report` runs a model's feature step (any transformer with
``transform_with_report``, a ``Pipeline`` starting with one, or a ``FeatureUnion`` of
them) and merges the per-file reports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._files import FileReport

__all__ = [
    "FilePrediction",
    "embed_files",
    "load_model",
    "predict_files",
    "transform_with_report",
]

#: Files whose features are computed together.
BATCH_SIZE = 16
#: Suffixes of pickled models, which load only with ``trust_pickle=True``.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


@dataclass(frozen=True)
class FilePrediction:
    """One file's prediction: ``proba`` over the model's classes, or None and why."""

    path: str
    proba: np.ndarray | None
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
    from .model_format import load_pipeline
    from .pretrained import load_pretrained

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
        import joblib

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


def transform_with_report(step: Any, paths: Sequence[str]) -> tuple[np.ndarray, list[FileReport]]:
    """A feature step's output for ``paths`` and one merged report per file."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    if hasattr(step, "transform_with_report"):
        return step.transform_with_report(list(paths))
    if isinstance(step, Pipeline):
        features, reports = transform_with_report(step.steps[0][1], paths)
        return (step[1:].transform(features) if len(step.steps) > 1 else features), reports
    if isinstance(step, FeatureUnion):
        parts = [transform_with_report(part, paths) for _, part in step.transformer_list]
        features = np.hstack([f.reshape(len(f), -1) for f, _ in parts])
        return features, [_merge(reports) for reports in zip(*(r for _, r in parts))]
    raise TypeError(
        f"the model's first step is a {type(step).__name__}, which does not read audio files; "
        "it must be MFCCSegmenter, MusicnnEmbedder, or a Pipeline or FeatureUnion of them."
    )


def _merge(reports: Sequence[FileReport]) -> FileReport:
    """One file's reports from several feature extractors, as one: the worst status, the
    first extractor's account of it (a failure's distinct reasons all), every note."""
    notes = tuple(dict.fromkeys(n for r in reports for n in r.notes))
    for status in ("failed", "partial", "ok"):
        matching = [r for r in reports if r.status == status]
        if matching:
            first = matching[0]
            reason = ("; ".join(dict.fromkeys(r.reason for r in matching))
                      if status == "failed" else first.reason)
            return FileReport(first.path, status, reason, first.n_filled, first.n_expected,
                              notes)
    raise ValueError("no reports to merge")


def predict_files(
    model: Any, paths: Sequence[str], *, batch_size: int = BATCH_SIZE
) -> Iterator[FilePrediction]:
    """Classify files in batches; one :class:`FilePrediction` per path, in order.

    A file that gives no usable features gets ``proba=None`` and its report says why;
    the others are still classified (its batch is not lost).  The model's feature step
    should have ``on_error="nan"`` so that bad files do not raise.
    """
    return _in_batches(model.steps[0][1], model[1:].predict_proba, paths, batch_size)


def embed_files(
    transformer: Any, paths: Sequence[str], *, batch_size: int = BATCH_SIZE
) -> Iterator[FilePrediction]:
    """:func:`predict_files` for a transformer alone: ``proba`` is the file's output row
    (the mean taggram of ``MusicnnEmbedder(layer="taggram")``, for example)."""
    return _in_batches(transformer, lambda features: features, paths, batch_size)


def _in_batches(feature_step, head, paths, batch_size) -> Iterator[FilePrediction]:
    for start in range(0, len(paths), batch_size):
        batch = [os.fspath(p) for p in paths[start : start + batch_size]]
        features, reports = transform_with_report(feature_step, batch)
        flat = features.reshape(len(batch), -1)
        usable = np.array([r.status != "failed" for r in reports]) & ~np.isnan(flat).all(axis=1)
        proba = head(features[usable]) if usable.any() else None
        rows = iter(proba if proba is not None else [])
        for path, report, ok in zip(batch, reports, usable, strict=True):
            if not ok and report.status != "failed":
                report = FileReport(path, "failed", "no features could be computed")
            yield FilePrediction(path, next(rows) if ok else None, report)
