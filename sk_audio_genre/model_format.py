"""A model format that loads without unpickling: JSON and plain arrays.

:func:`save_pipeline` writes a fitted estimator built from the parts this module has a
codec for (this library's transformers and classifiers, scikit-learn's ``Pipeline``,
``FeatureUnion``, ``StandardScaler``, ``LogisticRegression`` and soft ``VotingClassifier``)
to a folder holding

``pipeline.json``
    The format name and version, the estimator tree (each node's class, JSON-able
    parameters and fitted state), the arrays file's name and SHA-256 (``files``), optional
    metadata (``trained_on``: each training file's track id and SHA-256), and ``sha256``:
    the digest of all of that.
``arrays-<SHA-256>.npz``
    The fitted arrays (coefficients, means, the genre networks' weights without optimizer
    state), uncompressed, named by the SHA-256 of its bytes (format version 2, which the
    shipped model uses, called it ``arrays.npz``).

Saving never destroys the previous model: a save holds an exclusive lock on the folder
(``fcntl.flock``, so saves into one folder take turns), writes the arrays file under a
temporary name, flushes it to disk and renames it to its digest's name, then does the same
with ``pipeline.json``.  That last rename is the single moment the model changes: before it
the folder's ``pipeline.json`` names the old arrays file, after it the new one, and a save
killed at any moment leaves one or the other complete.  Only then are files no model
references removed: older arrays files, version 2's ``arrays.npz``, version 1's
``*.weights.h5``, and the ``.saving-*`` temporaries of killed saves.  A load reads
``pipeline.json`` once, then opens the arrays file it names once, checking and parsing
what it read from that open file; if a concurrent save removed that file in between, it
reads the new ``pipeline.json`` and starts again.  A save refused before it writes (a part
the format does not know, metadata that is not JSON or not a training record, settings that
loading would refuse) leaves the folder as it was.

:func:`load_pipeline` checks everything before it builds anything:

* the JSON (size, depth, and every field's type and consistency: classes against
  coefficient rows and against an ensemble's members, array shapes against the recorded
  sizes, adjacent steps' feature counts, the Keras settings a saved network may hold, the
  training record);
* the arrays file's SHA-256 against ``pipeline.json``, and ``pipeline.json`` against its
  own recorded digest, so a changed, truncated, swapped or hand-edited file is refused;
* the arrays file's structure before any array is read: at most ``MAX_ARRAYS`` (4,096)
  members, each an uncompressed ``.npy`` of plain numbers or booleans whose header's shape
  and dtype account exactly for its bytes, 1 GiB in all;
* with ``sha256=`` (see :func:`model_digest`), that the whole model is exactly the one
  expected, as ``pip --require-hashes`` pins a package;
* ``pipeline.json`` and the arrays file must be plain files inside the folder once links
  are followed (links out of it, devices and pipes are refused).

Format version 2 loads as it is; :func:`upgrade_pipeline` (``python -m
sk_audio_genre.model_format upgrade OLD [NEW]``) rewrites it as version 3.  Version 1, whose
networks were Keras HDF5 files, is refused with what to do instead.  Why this format is not
built on skops.io is measured, point by point, in the documentation's "What the library
refuses and why".

Every failure but a missing ``pipeline.json`` (``FileNotFoundError``) is a ``ValueError``
naming the file and the field.  Only classes of the
registry can be named; nothing in the folder is code, and nothing in it chooses resources:
``n_jobs`` and ``verbose`` are never saved, so a loaded model runs with the defaults or what
the caller sets.  What is *not* protected without a pinned digest: someone who rewrites
``pipeline.json`` consistently (recomputing its digest) can make a different model; pin
the digest to rule that out.

The lock and the checks on opened files use POSIX calls (``fcntl``, ``O_NOFOLLOW``).

One module, one concept: the sections below are the JSON nodes (:class:`Node`, the field
checks), one :class:`Codec` per class (``CODECS``, found by class name: a folder can name no
other class; a codec's ``dump`` gives the estimator's JSON node and hands its arrays to the
writer, its ``load`` checks every field and the consistency between fields before it
builds the fitted estimator), then saving, loading and the arrays file.  The codecs and
the file checks were three modules before; they changed together with every format change
and had no user but this one, so they live here.  The persistence layer imports the
estimators it saves; they never import it (the Keras classifiers only lazily, to label
their state).  Parameters that choose resources (``n_jobs``, ``verbose``) are never
written: a loaded model runs with the defaults.
"""

from __future__ import annotations

import contextlib
import inspect
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import stat
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from ._limits import MAX_ENSEMBLE_MEMBERS, MAX_NETWORK_WEIGHTS
from .embedder import MusicnnEmbedder
from .ensemble import GenreVotingClassifier
from .open_set import OpenSetClassifier
from .preprocessing import SegmentScaler, SegmentStatistics
from .segment_classifier import SegmentClassifier
from .segmenter import MFCCSegmenter


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "arrays_file_name",
    "load_pipeline",
    "model_digest",
    "model_metadata",
    "save_pipeline",
    "sha256_file",
    "training_record",
    "upgrade_pipeline",
]

#: Value of the ``"format"`` field of ``pipeline.json``.
FORMAT_NAME = "sk_audio_genre.pipeline"
#: Version of the format this module writes.
FORMAT_VERSION = 3
#: Versions it reads: 2 (the arrays file is ``arrays.npz``; the shipped model) and 3.
READ_VERSIONS = (2, 3)
#: What this version does with the folders of the formats it no longer reads: version 1
#: (and version 2 as first written, until 2026-11-29) kept each genre network's weights as
#: a Keras HDF5 file, ``*.weights.h5``.
HDF5_UPGRADE = (
    "its genre networks' weights are Keras HDF5 files (*.weights.h5), which this "
    "sk_audio_genre does not read: HDF5 is a format of its own, whose parser the bounds on "
    "the arrays file do not cover. Retrain the model and save it again (sk-audio-genre train); "
    "the model shipped in that format is replaced by load_pretrained()'s"
)
#: Name of the JSON file inside a saved model folder.
JSON_NAME = "pipeline.json"
#: Name of the arrays file in format version 2.
VERSION_2_ARRAYS_NAME = "arrays.npz"
#: Prefix of the files a save writes before renaming them (and of version 2's staging folders).
TEMPORARY_PREFIX = ".saving-"
#: Limits that keep a crafted folder from exhausting memory or time before any check.
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 64
MAX_ARRAYS_FILE_BYTES = 2**30
#: The most members an arrays file may have.  A model references a handful of arrays per
#: scaler or linear model and one per weight tensor of each network (a CNN with batch
#: normalisation has 22, the original course's MLP 8, its LSTM 10): an ensemble of 100 networks of
#: 40 weight tensors each, with its scalers, stays below this bound.  Checked from the
#: archive's end record before its directory is parsed (100,000 members took 27 s to load).
MAX_ARRAYS = 4096
#: Bytes of the archive's central directory per member, at most: 46 bytes of fixed fields
#: and the member's name (np.savez writes nothing else there), which leaves 466 for names.
MAX_DIRECTORY_ENTRY_BYTES = 512
#: How often a load starts again because a concurrent save replaced the model meanwhile.
MAX_LOAD_ATTEMPTS = 5

#: Parameters that are the caller's business, never the model file's.
RUNTIME_PARAMS = frozenset({"n_jobs", "verbose"})

_ARRAYS_NAME_PATTERN = re.compile(r"arrays-[0-9a-f]{64}\.npz")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
#: The zip end record: signature, disk numbers, member counts, directory size and offset,
#: comment length.
_END_RECORD = struct.Struct("<4s4H2LH")
#: dtype kinds an arrays file may hold: booleans, signed and unsigned integers, floats.
_PLAIN_KINDS = "biuf"
_READ_CHUNK = 16 * 2**20


def arrays_file_name(digest: str) -> str:
    """The name of a saved model's arrays file: ``arrays-<its SHA-256>.npz``.

    A save never overwrites the arrays file the folder's current ``pipeline.json`` names
    (unless it has the same bytes), so the model changes only when ``pipeline.json`` does.

    Examples
    --------
    >>> arrays_file_name("ab" * 32)
    'arrays-abababababababababababababababababababababababababababababababab.npz'
    """
    return f"arrays-{digest}.npz"


# --------------------------------------------------------------------------- codecs: JSON nodes


class SchemaError(Exception):
    """A model file field that is missing, of the wrong type, or inconsistent."""


class Node:
    """A JSON object with the path that led to it, for error messages."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise SchemaError(f"{where} must be a JSON object, got {type(data).__name__}.")
        self.data, self.where = data, where

    def get(self, key: str, kind: type | tuple[type, ...], *, default: Any = ...) -> Any:
        if key not in self.data:
            if default is not ...:
                return default
            raise SchemaError(f"{self.where} has no {key!r} field.")
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:  # JSON true is not a number
            raise SchemaError(f"{self.where}.{key} must be {_names(kinds)}, got {value!r}.")
        if not isinstance(value, kinds):
            raise SchemaError(
                f"{self.where}.{key} must be {_names(kinds)}, got {type(value).__name__}."
            )
        return value

    def child(self, key: str) -> Node:
        return Node(self.get(key, dict), f"{self.where}.{key}")

    def children(self, key: str) -> list[Node]:
        items = self.get(key, list)
        return [Node(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(items)]


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join({"dict": "an object", "list": "a list", "str": "a string",
                        "int": "an integer", "float": "a number", "NoneType": "null",
                        "bool": "true or false"}.get(k.__name__, k.__name__) for k in kinds)


# --------------------------------------------------------------------------- dispatch


def dump_estimator(estimator: Any, writer: Any, where: str) -> dict[str, Any]:
    """The JSON node of ``estimator``; its arrays and files go to ``writer``."""
    codec = CODECS.get(type(estimator).__name__)
    if codec is None or not codec.owns(estimator):
        raise TypeError(
            f"{where} is a {type(estimator).__name__}, which the no-pickle model format "
            f"cannot save; it knows {sorted(CODECS)}. Use joblib.dump for other models."
        )
    from sklearn.utils.validation import check_is_fitted

    if codec.fitted:
        check_is_fitted(estimator)
    return {"class": type(estimator).__name__, **codec.dump(estimator, writer, where)}


def load_estimator(node: Node, reader: Any) -> Any:
    """The fitted estimator of a JSON node, after checking it."""
    name = node.get("class", str)
    codec = CODECS.get(name)
    if codec is None:
        raise SchemaError(f"{node.where}.class is {name!r}, not one of {sorted(CODECS)}.")
    return codec.load(node, reader)


# --------------------------------------------------------------------------- parameters


def is_runtime_param(key: str) -> bool:
    """Whether ``key`` sets a runtime setting, routed or not (``n_jobs``, ``fit__verbose``).

    Examples
    --------
    >>> is_runtime_param("fit__verbose"), is_runtime_param("verbosity")
    (True, False)
    """
    return key.rsplit("__", 1)[-1] in RUNTIME_PARAMS


def dump_params(estimator: Any, writer: Any, where: str, *,
                skip: frozenset[str] = frozenset()) -> dict:
    """``get_params(deep=False)`` as JSON values, without runtime settings; the names of
    the others (callbacks, optimizer instances, NaN, ...) go to ``writer.unsaved``."""
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        if is_runtime_param(key) or key in skip:
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            writer.unsaved.append(f"{where}.{key}")
            continue
        params[key] = value
    return params


def build_with_params(cls: type, node: Node, **fixed: Any) -> Any:
    """``cls(**params)`` from the node's ``params``, validated as ``fit`` would.

    Whatever constructing or validating raises (``InvalidParameterError``, a ``TypeError``
    for a value of the wrong kind, an ``OverflowError`` for ``10**400``, ...) becomes a
    :class:`SchemaError` naming the parameters' field.
    """
    params = node.child("params")
    defaults = cls().get_params(deep=False)
    given = {}
    routed = tuple(f"{prefix}__" for prefix in getattr(cls, "_routing_prefixes", ()))
    for key, value in params.data.items():
        if is_runtime_param(key):
            continue  # never taken from a file, routed (fit__verbose) or not
        if key not in defaults and not (routed and key.startswith(routed)):
            raise SchemaError(f"{params.where} has unknown parameter {key!r} for {cls.__name__}.")
        if isinstance(value, list) and isinstance(defaults.get(key), tuple):
            value = tuple(value)  # JSON has lists: filters=(32, 64, 128) as the class has it
        if key not in defaults or defaults[key] != value:
            given[key] = value
    try:
        estimator = cls(**given, **fixed)
        if hasattr(estimator, "_validate_params"):
            estimator._validate_params()
    except Exception as exc:  # the values are the file's: any failure is the file's
        raise SchemaError(f"{params.where}: {exc}") from None
    return estimator


# --------------------------------------------------------------------------- state helpers


def array(node: Node, reader: Any, key: str, *, ndim: int, kind: str = "f",
          length: int | None = None, finite: bool = True) -> np.ndarray:
    """An array named in the node's ``arrays``, checked for type, rank, length, finiteness."""
    arrays = node.child("arrays")
    value = reader.array(arrays.get(key, str), f"{arrays.where}.{key}")
    where = f"{arrays.where}.{key}"
    if value.dtype.kind not in kind or value.ndim != ndim:
        raise SchemaError(f"{where} must be a {ndim}-D array of kind {kind!r}, got "
                          f"{value.dtype} with shape {value.shape}.")
    if length is not None and value.shape[0] != length:
        raise SchemaError(f"{where} has {value.shape[0]} entries, expected {length}.")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        raise SchemaError(f"{where} holds NaN or infinite values.")
    return value


def _is_int(value: Any) -> bool:
    """A JSON integer (``true`` and ``false`` are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A JSON number (``true`` and ``false`` are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain_labels(values: list) -> bool:
    """All strings or all integers: the labels a model file keeps."""
    return all(isinstance(c, str) for c in values) or all(_is_int(c) for c in values)


def positive_int(node: Node, key: str) -> int:
    value = node.get(key, int)
    if value < 1:
        raise SchemaError(f"{node.where}.{key} must be a positive integer, got {value}.")
    return value


def count_array(node: Node, key: str, dtype: type) -> np.ndarray:
    """A list of counts (``n_iter_``, ``n_samples_seen_``) as the array fit makes.

    Counts are integers, as ints or, for a float ``dtype``, as whole floats: a
    StandardScaler fitted on data with missing values counts each feature's samples in
    float64.
    """
    values = node.get(key, list)
    if np.issubdtype(dtype, np.floating):
        largest = 2**53  # every integer up to it is a float64

        def whole(v: Any) -> bool:
            return _is_number(v) and float(v).is_integer()
    else:
        largest, whole = np.iinfo(dtype).max, _is_int
    if not all(whole(v) and 0 <= v <= largest for v in values):
        raise SchemaError(f"{node.where}.{key} must be a list of integers from 0 to {largest}.")
    return np.asarray(values, dtype=dtype)


def _scales(node: Node, reader: Any, n: int) -> np.ndarray:
    """A scaler's ``scale_``: ``n`` positive, finite numbers (they divide)."""
    scale = array(node, reader, "scale_", ndim=1, length=n)
    if not (scale > 0).all():
        raise SchemaError(f"{node.where}.arrays.scale_ must be positive.")
    return scale


def saved_labels(labels: Any, where: str) -> list:
    """Class labels as JSON, refusing kinds the loader would not take back (floats, bools)."""
    values = np.asarray(labels).tolist()
    if not _plain_labels(values):
        raise TypeError(f"{where}: class labels {values[:5]} cannot be saved; the no-pickle "
                        "format keeps strings or integers (map other labels to those).")
    return values


def class_labels(node: Node, key: str = "classes_") -> np.ndarray:
    """Class labels: a list of 2 or more distinct strings (or integers)."""
    labels = node.get(key, list)
    if len(labels) < 2 or not _plain_labels(labels):
        raise SchemaError(f"{node.where}.{key} must list 2 or more strings or integers.")
    if len(set(labels)) != len(labels) or list(labels) != sorted(labels):
        raise SchemaError(f"{node.where}.{key} must be distinct and sorted, as fit makes them.")
    return np.asarray(labels)


def feature_count(estimator: Any) -> tuple[int | None, int | None]:
    """``(values in, values out)`` along the last axis where known, for chain checks."""
    codec = CODECS.get(type(estimator).__name__)
    return codec.sizes(estimator) if codec is not None else (None, None)


class Codec:
    """Turns one class's fitted state into JSON and arrays, and back."""

    #: The class this codec was written for (subclasses are not: they may hold more state).
    cls: type
    #: Whether the class must be fitted to be saved.
    fitted = True

    def owns(self, estimator: Any) -> bool:
        """True when ``estimator`` is the class this codec was written for."""
        return type(estimator) is self.cls

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, node: Node, reader: Any) -> Any:
        raise NotImplementedError

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        return None, None


# --------------------------------------------------------------------------- codecs: scikit-learn


def _dump_named(parts: list[tuple[str, Any]], writer: Any, where: str) -> list[dict]:
    """``[{"name", "estimator"}, ...]`` for a Pipeline's steps or a FeatureUnion's parts."""
    return [{"name": name, "estimator": dump_estimator(part, writer, f"{where}.{name}")}
            for name, part in parts]


def _load_named(node: Node, key: str, reader: Any) -> list[tuple[str, Any]]:
    """The ``(name, estimator)`` list of ``node[key]``: names non-empty, unique, free of
    ``__`` (scikit-learn's parameter separator), and at least one part."""
    parts: list[tuple[str, Any]] = []
    for entry in node.children(key):
        name = entry.get("name", str)
        if not name or "__" in name or name in {n for n, _ in parts}:
            raise SchemaError(f"{entry.where}.name {name!r} must be non-empty, unique and "
                              "free of '__'.")
        parts.append((name, load_estimator(entry.child("estimator"), reader)))
    if not parts:
        raise SchemaError(f"{node.where}.{key} must not be empty.")
    return parts


class PipelineCodec(Codec):
    """Steps in order; adjacent steps must agree on how many values pass between them."""

    cls = Pipeline
    fitted = False  # a Pipeline is fitted when its steps are; each step checks itself

    def dump(self, estimator: Pipeline, writer: Any, where: str) -> dict[str, Any]:
        return {"steps": _dump_named(estimator.steps, writer, where)}

    def load(self, node: Node, reader: Any) -> Pipeline:
        steps = _load_named(node, "steps", reader)
        for (first_name, first), (second_name, second) in zip(steps, steps[1:]):
            out, into = feature_count(first)[1], feature_count(second)[0]
            if out is not None and into is not None and out != into:
                raise SchemaError(
                    f"{node.where}: step {first_name!r} gives {out} values per frame or track "
                    f"but step {second_name!r} expects {into}."
                )
        return Pipeline(steps)

    def sizes(self, estimator: Pipeline) -> tuple[int | None, int | None]:
        return feature_count(estimator.steps[0][1])[0], feature_count(estimator.steps[-1][1])[1]


class FeatureUnionCodec(Codec):
    """Transformers side by side; their outputs are concatenated."""

    cls = FeatureUnion
    fitted = False

    def owns(self, estimator: Any) -> bool:
        return super().owns(estimator) and estimator.transformer_weights is None

    def dump(self, estimator: FeatureUnion, writer: Any, where: str) -> dict[str, Any]:
        return {"transformers": _dump_named(estimator.transformer_list, writer, where)}

    def load(self, node: Node, reader: Any) -> FeatureUnion:
        return FeatureUnion(_load_named(node, "transformers", reader))

    def sizes(self, estimator: FeatureUnion) -> tuple[int | None, int | None]:
        outputs = [feature_count(part)[1] for _, part in estimator.transformer_list]
        return None, None if None in outputs else sum(outputs)


class StandardScalerCodec(Codec):
    cls = StandardScaler

    def dump(self, estimator: StandardScaler, writer: Any, where: str) -> dict[str, Any]:
        arrays = {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                  for key in ("mean_", "var_", "scale_") if getattr(estimator, key) is not None}
        seen = np.asarray(estimator.n_samples_seen_)
        return {
            "params": dump_params(estimator, writer, where),
            "state": {"n_features_in_": int(estimator.n_features_in_),
                      "n_samples_seen_": int(seen) if seen.ndim == 0 else seen.tolist()},
            "arrays": arrays,
        }

    def load(self, node: Node, reader: Any) -> StandardScaler:
        scaler = build_with_params(StandardScaler, node)
        state = node.child("state")
        n = positive_int(state, "n_features_in_")
        scaler.n_features_in_ = n
        seen = state.get("n_samples_seen_", (int, list))
        if isinstance(seen, list):  # one count per feature: fit saw missing values
            seen = count_array(state, "n_samples_seen_", np.float64)
            if len(seen) != n:
                raise SchemaError(f"{state.where}.n_samples_seen_ has {len(seen)} entries, "
                                  f"expected {n}.")
        scaler.n_samples_seen_ = seen
        keys = node.child("arrays").data
        scaler.mean_ = array(node, reader, "mean_", ndim=1, length=n) if "mean_" in keys else None
        scaler.var_ = array(node, reader, "var_", ndim=1, length=n) if "var_" in keys else None
        scaler.scale_ = None
        if scaler.with_std:
            scaler.scale_ = _scales(node, reader, n)
        if scaler.with_mean and scaler.mean_ is None:
            raise SchemaError(f"{node.where}.arrays has no mean_ but with_mean is true.")
        return scaler

    def sizes(self, estimator: StandardScaler) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, estimator.n_features_in_


class LogisticRegressionCodec(Codec):
    cls = LogisticRegression

    def dump(self, estimator: LogisticRegression, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": dump_params(estimator, writer, where),
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "n_features_in_": int(estimator.n_features_in_),
                      "n_iter_": np.asarray(estimator.n_iter_).tolist()},
            "arrays": {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                       for key in ("coef_", "intercept_")},
        }

    def load(self, node: Node, reader: Any) -> LogisticRegression:
        model = build_with_params(LogisticRegression, node)
        state = node.child("state")
        classes = class_labels(state)
        n_features = positive_int(state, "n_features_in_")
        rows = 1 if len(classes) == 2 else len(classes)
        coef = array(node, reader, "coef_", ndim=2, length=rows)
        if coef.shape[1] != n_features:
            raise SchemaError(f"{node.where}.arrays.coef_ has {coef.shape[1]} columns, but "
                              f"n_features_in_ is {n_features}.")
        model.coef_ = coef
        model.intercept_ = array(node, reader, "intercept_", ndim=1, length=rows)
        model.classes_ = classes
        model.n_features_in_ = n_features
        model.n_iter_ = count_array(state, "n_iter_", np.int32)
        return model

    def sizes(self, estimator: LogisticRegression) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, None


def _member_count(n_members: int, where: str) -> None:
    """Refuse an ensemble of more members than ``seeded_ensemble`` makes (its bound)."""
    if n_members > MAX_ENSEMBLE_MEMBERS:
        raise SchemaError(f"{where} has {n_members} members, more than "
                          f"{MAX_ENSEMBLE_MEMBERS}: the bound of seeded_ensemble.")


class VotingClassifierCodec(Codec):
    """A soft-voting ensemble (loaded as :class:`~sk_audio_genre.ensemble.GenreVotingClassifier`).

    ``VotingClassifier`` fits its members on label-encoded targets, so every member's classes
    must be ``0 .. n_classes - 1``."""

    def owns(self, estimator: Any) -> bool:
        return isinstance(estimator, VotingClassifier) and estimator.voting == "soft"

    def dump(self, estimator: VotingClassifier, writer: Any, where: str) -> dict[str, Any]:
        weights = None if estimator.weights is None else [float(w) for w in estimator.weights]
        params = {"voting": "soft", "weights": weights,
                  "flatten_transform": bool(estimator.flatten_transform)}
        try:  # what loading would refuse is refused now, while the folder is unchanged
            _member_count(len(estimator.estimators_), where)
            _voting_weights(Node(params, f"{where}.params"), len(estimator.estimators_))
        except SchemaError as exc:
            raise ValueError(f"{exc} (a saved model could not be loaded with them)") from None
        return {
            "params": params,
            "state": {"classes_": saved_labels(estimator.classes_, where)},
            "members": _dump_named(list(estimator.named_estimators_.items()), writer, where),
        }

    def load(self, node: Node, reader: Any) -> VotingClassifier:
        params = node.child("params")
        if params.get("voting", str) != "soft":
            raise SchemaError(f"{params.where}.voting must be 'soft'.")
        classes = class_labels(node.child("state"))
        _member_count(len(node.get("members", list)), node.where)  # before building any
        weights = _voting_weights(params, len(node.get("members", list)))
        members = _load_named(node, "members", reader)
        for i, (_, member) in enumerate(members):
            if np.asarray(member.classes_).tolist() != list(range(len(classes))):
                raise SchemaError(
                    f"{node.where}.members[{i}]: member classes "
                    f"{np.asarray(member.classes_).tolist()} are not the ensemble's "
                    f"{len(classes)} encoded classes 0..{len(classes) - 1}.")
        ensemble = GenreVotingClassifier.from_fitted(
            members, classes, weights=weights,
            flatten_transform=params.get("flatten_transform", bool))
        return ensemble

    def sizes(self, estimator: VotingClassifier) -> tuple[int | None, int | None]:
        return feature_count(estimator.estimators_[0])[0], None


def _voting_weights(params: Node, n_members: int) -> list[int | float] | None:
    """Soft-voting weights: null, or one finite, non-negative number per member whose sum is
    a positive, finite, normal float.  ``np.average`` divides by that sum: zero raised
    ZeroDivisionError, ``1e308 + 1e308`` overflowed to NaN probabilities, and a subnormal
    sum would round the averaged probabilities to a few digits."""
    weights = params.get("weights", (list, type(None)))
    if weights is None:
        return None
    where = f"{params.where}.weights"
    if len(weights) != n_members or not all(
            _is_number(w) for w in weights):
        raise SchemaError(f"{where} must be null or one number per member ({n_members}).")
    largest = np.finfo(np.float64).max
    if not all(0 <= w <= largest for w in weights):
        raise SchemaError(f"{where} must be finite and non-negative, got {weights}.")
    with np.errstate(over="ignore"):
        total = float(np.asarray(weights, dtype=np.float64).sum())
    if not np.finfo(np.float64).smallest_normal <= total <= largest:
        raise SchemaError(f"{where} sum to {total!r}; the members' probabilities are averaged "
                          "with these weights, which needs a positive, finite sum (and one "
                          "no smaller than 2.2e-308).")
    return weights


# --------------------------------------------------------------------------- codecs: this library


class StatelessTransformerCodec(Codec):
    """A transformer whose ``fit`` only checks its parameters: it is saved as them."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        return {"params": dump_params(estimator, writer, where)}

    def load(self, node: Node, reader: Any) -> Any:
        estimator = build_with_params(self.cls, node)
        try:
            # what fit does, without paths: scikit-learn's parameter constraints, then the
            # bounds and the fitted sizes of the reader's plan
            estimator._validate_params()
            estimator._set_fitted(estimator._spec())
            return estimator
        except Exception as exc:  # the parameters are the file's: any failure is the file's
            raise SchemaError(f"{node.where}.params: {exc}") from None

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        if isinstance(estimator, MusicnnEmbedder):
            return None, estimator.n_features_out_
        return None, estimator.n_mfcc


class SegmentScalerCodec(Codec):
    cls = SegmentScaler

    def dump(self, estimator: SegmentScaler, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": dump_params(estimator, writer, where),
            "state": {"n_features_in_": int(estimator.n_features_in_)},
            "arrays": {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                       for key in ("mean_", "scale_")},
        }

    def load(self, node: Node, reader: Any) -> SegmentScaler:
        scaler = build_with_params(SegmentScaler, node)
        n = positive_int(node.child("state"), "n_features_in_")
        scaler.n_features_in_ = n
        scaler.mean_ = array(node, reader, "mean_", ndim=1, length=n)
        scaler.scale_ = _scales(node, reader, n)
        return scaler

    def sizes(self, estimator: SegmentScaler) -> tuple[int | None, int | None]:
        return estimator.n_features_in_, estimator.n_features_in_


class SegmentStatisticsCodec(Codec):
    cls = SegmentStatistics

    def dump(self, estimator: SegmentStatistics, writer: Any, where: str) -> dict[str, Any]:
        return {"params": {}, "state": {"n_features_in_": int(estimator.n_features_in_),
                                        "n_coefficients_": int(estimator.n_coefficients_)}}

    def load(self, node: Node, reader: Any) -> SegmentStatistics:
        statistics = build_with_params(SegmentStatistics, node)
        state = node.child("state")
        statistics.n_features_in_ = positive_int(state, "n_features_in_")
        statistics.n_coefficients_ = positive_int(state, "n_coefficients_")
        return statistics

    def sizes(self, estimator: SegmentStatistics) -> tuple[int | None, int | None]:
        return estimator.n_coefficients_, 2 * estimator.n_coefficients_


def _wrapper(cls: type, node: Node, reader: Any) -> tuple[Any, Any, np.ndarray]:
    """A classifier that wraps a saved one: ``(cls(estimator=inner), inner, classes)``, its
    ``state.classes_`` checked to be the inner classifier's."""
    inner = load_estimator(node.child("estimator"), reader)
    classifier = build_with_params(cls, node, estimator=inner)
    classes = class_labels(node.child("state"))
    if not np.array_equal(np.asarray(inner.classes_), classes):
        raise SchemaError(f"{node.where}.state.classes_ differ from its estimator's.")
    return classifier, inner, classes


class SegmentClassifierCodec(Codec):
    cls = SegmentClassifier

    def dump(self, estimator: SegmentClassifier, writer: Any, where: str) -> dict[str, Any]:
        return {
            "params": {"aggregate": estimator.aggregate},
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "segment_shape_": [int(n) for n in estimator.segment_shape_],
                      "n_features_in_": int(estimator.n_features_in_)},
            "estimator": dump_estimator(estimator.estimator_, writer, f"{where}.estimator"),
        }

    def load(self, node: Node, reader: Any) -> SegmentClassifier:
        classifier, inner, classes = _wrapper(SegmentClassifier, node, reader)
        state = node.child("state")
        shape = _shape(state, "segment_shape_")
        inner_in = feature_count(inner)[0]
        if inner_in is not None and inner_in != shape[0] * shape[1]:
            raise SchemaError(f"{node.where}: segments of {shape} give {shape[0] * shape[1]} "
                              f"values, but its estimator expects {inner_in}.")
        classifier.estimator_ = inner
        classifier.classes_ = classes
        classifier.segment_shape_ = shape
        classifier.n_features_in_ = positive_int(state, "n_features_in_")
        return classifier

    def sizes(self, estimator: SegmentClassifier) -> tuple[int | None, int | None]:
        return estimator.segment_shape_[-1], None


class OpenSetClassifierCodec(Codec):
    """The wrapped classifier (nested), the class means and shared precision matrix the
    novelty is measured with, the threshold and its calibration distances."""

    cls = OpenSetClassifier

    def dump(self, estimator: OpenSetClassifier, writer: Any, where: str) -> dict[str, Any]:
        arrays = {key: writer.array(f"{where}.{key}", getattr(estimator, key))
                  for key in ("means_", "precision_", "held_out_distances_")}
        return {
            "params": dump_params(estimator, writer, where, skip=frozenset({"estimator"})),
            "state": {"classes_": saved_labels(estimator.classes_, where),
                      "threshold_": float(estimator.threshold_),
                      "n_features_in_": int(estimator.n_features_in_)},
            "arrays": arrays,
            "estimator": dump_estimator(estimator.estimator_, writer, f"{where}.estimator"),
        }

    def load(self, node: Node, reader: Any) -> OpenSetClassifier:
        classifier, inner, classes = _wrapper(OpenSetClassifier, node, reader)
        state = node.child("state")
        if classifier.unknown_label in set(classes.tolist()):
            raise SchemaError(f"{node.where}.params.unknown_label is one of the classes.")
        means = array(node, reader, "means_", ndim=2, length=len(classes))
        width = means.shape[1]
        precision = array(node, reader, "precision_", ndim=2, length=width)
        if precision.shape != (width, width):
            raise SchemaError(f"{node.where}.arrays.precision_ must be {width} x {width}, like "
                              f"the class means' {width} features; got {precision.shape}.")
        threshold = state.get("threshold_", (int, float))
        if not threshold > 0:
            raise SchemaError(f"{node.where}.state.threshold_ must be positive.")
        classifier.estimator_ = inner
        classifier.classes_ = classes
        classifier.means_, classifier.precision_ = means, precision
        classifier.threshold_ = float(threshold)
        classifier.held_out_distances_ = array(node, reader, "held_out_distances_", ndim=1)
        classifier.n_features_in_ = positive_int(state, "n_features_in_")
        return classifier

    def sizes(self, estimator: OpenSetClassifier) -> tuple[int | None, int | None]:
        return feature_count(estimator.estimator_)[0], None


class GenreNetworkCodec(Codec):
    """A Keras genre classifier: parameters, fitted facts, and its weights as arrays.

    The class is imported (and TensorFlow with it) only when such a model is met.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def cls(self) -> type:  # type: ignore[override]
        from . import classifiers

        return getattr(classifiers, self.name)

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        params = dump_params(estimator, writer, where)
        try:  # what loading would refuse is refused now, while the folder is unchanged
            _check_keras_params(Node(params, f"{where}.params"),
                                self.cls().get_params(deep=False))
        except SchemaError as exc:
            raise ValueError(f"{exc} (a saved model could not be loaded with it)") from None
        keys = [writer.array(f"{where}.weights.{i}", w)
                for i, w in enumerate(estimator.network_weights())]
        state = estimator.fitted_state()
        saved_labels(state["classes_"], where)  # refuses labels the loader would not take
        return {"params": params, "state": state, "weights": keys}

    def load(self, node: Node, reader: Any) -> Any:
        _check_keras_params(node.child("params"), self.cls().get_params(deep=False))
        classifier = build_with_params(self.cls, node)
        state = node.child("state")
        restored = {
            "classes_": class_labels(state).tolist(),
            "segment_shape_": list(_shape(state, "segment_shape_")),
            "n_segments_in_": positive_int(state, "n_segments_in_"),
            "n_features_in_": positive_int(state, "n_features_in_"),
            "n_iter_": state.get("n_iter_", int),
            "history_": _history(state),
        }
        keys = node.get("weights", list)
        if not all(isinstance(k, str) for k in keys):
            raise SchemaError(f"{node.where}.weights must list array names.")
        weights = [reader.array(k, f"{node.where}.weights[{i}]") for i, k in enumerate(keys)]
        if sum(w.size for w in weights) > MAX_NETWORK_WEIGHTS:
            raise SchemaError(f"{node.where}: more than {MAX_NETWORK_WEIGHTS:,} weights.")
        if any(w.dtype.kind != "f" or not np.isfinite(w).all() for w in weights):
            raise SchemaError(f"{node.where}.weights must be finite floating-point arrays.")
        try:
            classifier.restore(restored, weights)  # builds and compiles the network
        except Exception as exc:  # from the file's settings: any failure is the file's
            raise SchemaError(f"{node.where}: {exc}") from None
        return classifier

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        return estimator.segment_shape_[-1], None


#: Parameters that would make Keras run code or use objects: never saved (they are not
#: JSON), so never taken from a file.
_CODE_PARAMS = ("model", "build_fn", "callbacks")
#: Keywords of ``keras.Model.fit``/``compile`` that take data, objects or callbacks: scikeras
#: and this library pass them, a routed parameter never does.
_DATA_KEYWORDS = frozenset({"self", "x", "y", "sample_weight", "class_weight",
                            "validation_data", "callbacks"})
#: Metric names scikeras passes to Keras as they are, which Keras matches to the loss.
_KERAS_MATCHED_METRICS = frozenset({"acc", "accuracy", "ce", "crossentropy"})


def _check_keras_params(params: Node, defaults: dict[str, Any]) -> None:
    """Refuse the Keras settings of a genre network that a saved model cannot hold.

    A saved network's settings are names Keras resolves, never code or objects:
    ``optimizer`` and ``loss`` are names (``"adam"``), ``metrics`` is null or a list of
    names, ``model``, ``build_fn`` and ``callbacks`` are null.  Routed parameters are
    ``optimizer__KEY`` for keys of that optimizer's ``get_config()`` (which must build it),
    and ``fit__KEY``/``compile__KEY`` for keywords of ``keras.Model.fit``/``compile`` that
    are not the class's own parameters (``defaults``: those have one home, checked by the
    estimator) nor data or callbacks; each value is a JSON number, string, boolean or null.
    Imports Keras (TensorFlow is imported already: the classifier's class is).

    Raises
    ------
    SchemaError
        Naming the parameter.
    """
    import keras

    data, where = params.data, params.where
    for key in _CODE_PARAMS:
        if data.get(key) is not None:
            raise SchemaError(f"{where}.{key} must be null: a saved model holds no code or "
                              "objects.")
    optimizer = _keras_object(data.get("optimizer", defaults["optimizer"]),
                              f"{where}.optimizer", keras.optimizers)
    _keras_object(data.get("loss", defaults["loss"]), f"{where}.loss", keras.losses)
    metrics = data.get("metrics", defaults["metrics"])
    if not isinstance(metrics, (list, type(None))):
        raise SchemaError(f"{where}.metrics must be null or a list of metric names.")
    for i, name in enumerate(metrics or []):
        if not (isinstance(name, str) and name in _KERAS_MATCHED_METRICS):
            _keras_object(name, f"{where}.metrics[{i}]", keras.metrics)
    allowed = {"optimizer": set(optimizer.get_config()),
               "fit": _keywords(keras.Model.fit) - set(defaults),
               "compile": _keywords(keras.Model.compile) - set(defaults)}
    routed_to_optimizer = {}
    for key, value in data.items():
        prefix, routed, name = key.partition("__")
        if not routed or is_runtime_param(key):
            continue  # build_with_params ignores runtime settings
        if prefix not in allowed:
            raise SchemaError(f"{where}.{key}: a saved model routes only optimizer__, fit__ "
                              "and compile__ parameters.")
        if name not in allowed[prefix]:
            raise SchemaError(f"{where}.{key}: {name!r} is not one of "
                              f"{sorted(allowed[prefix])}, the {prefix}__ parameters a saved "
                              "model may hold.")
        if isinstance(value, (list, dict)):
            raise SchemaError(f"{where}.{key} must be a number, string, true, false or null, "
                              f"got {type(value).__name__}.")
        if prefix == "optimizer":
            routed_to_optimizer[name] = value
    try:  # as scikeras builds it
        type(optimizer)(**routed_to_optimizer)
    except Exception as exc:
        given = ", ".join(f"optimizer__{key}={value!r}"
                          for key, value in routed_to_optimizer.items())
        raise SchemaError(f"{where}: {given} cannot configure the {type(optimizer).__name__} "
                          f"optimizer: {exc}") from None


def _keras_object(value: Any, field: str, kind: ModuleType) -> Any:
    """What ``kind.get`` resolves the name ``value`` to, if it is one of Keras' own.

    ``kind`` is ``keras.optimizers``, ``keras.losses`` or ``keras.metrics``.
    """
    kinds = "keras." + kind.__name__.rsplit(".", 1)[-1]
    if not isinstance(value, str):
        raise SchemaError(f"{field} must be a name from {kinds}, got {type(value).__name__}.")
    try:
        resolved = kind.get(value)
    except Exception:
        resolved = None
    # Keras' own class, function or instance, not one that other code registered
    if not str(getattr(resolved, "__module__", "")).startswith("keras."):
        raise SchemaError(f"{field} is {value!r}, which is not a name from {kinds}.")
    return resolved


def _keywords(function: Callable) -> set[str]:
    """The keyword parameters of ``function`` a routed parameter may set."""
    return {name for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            } - _DATA_KEYWORDS


def _shape(node: Node, key: str) -> tuple[int, int]:
    shape = node.get(key, list)
    if len(shape) != 2 or not all(_is_int(n) and n >= 1 for n in shape):
        raise SchemaError(f"{node.where}.{key} must be two positive integers.")
    return tuple(shape)


def _history(state: Node) -> dict[str, list]:
    history = state.child("history_")
    for key, values in history.data.items():
        if not (isinstance(values, list) and all(v is None or _is_number(v) for v in values)):
            raise SchemaError(f"{history.where}.{key} must be a list of numbers.")
    return history.data


#: Class name -> codec: the only classes a model folder can name.
CODECS: dict[str, Codec] = {
    "Pipeline": PipelineCodec(),
    "FeatureUnion": FeatureUnionCodec(),
    "StandardScaler": StandardScalerCodec(),
    "LogisticRegression": LogisticRegressionCodec(),
    "VotingClassifier": VotingClassifierCodec(),  # loads as GenreVotingClassifier
    "MFCCSegmenter": StatelessTransformerCodec(MFCCSegmenter),
    "MusicnnEmbedder": StatelessTransformerCodec(MusicnnEmbedder),
    "SegmentScaler": SegmentScalerCodec(),
    "SegmentStatistics": SegmentStatisticsCodec(),
    "SegmentClassifier": SegmentClassifierCodec(),
    "OpenSetClassifier": OpenSetClassifierCodec(),
    "GenreVotingClassifier": VotingClassifierCodec(),  # loads as it saves
    **{name: GenreNetworkCodec(name)
       for name in ("MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier")},
}


# --------------------------------------------------------------------------- saving


class _Writer:
    """Collects the arrays of a model being saved (the codecs call :meth:`array`)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        #: Parameters not saved, as ``model.step.name``: the loaded model has their defaults.
        self.unsaved: list[str] = []

    def array(self, key: str, value: np.ndarray) -> str:
        key = _unique(key, self.arrays)
        self.arrays[key] = np.ascontiguousarray(value)
        return key


def save_pipeline(
    pipeline: Any, directory: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save a fitted model as JSON and plain arrays, loadable without unpickling.

    Parameters
    ----------
    pipeline : estimator
        A fitted ``Pipeline`` (or single estimator) of parts the format knows, for example
        ``make_pipeline(MusicnnEmbedder(), StandardScaler(), LogisticRegression())`` or
        ``make_pipeline(MFCCSegmenter(), SegmentScaler(), CNNGenreClassifier())``.
    directory : str or path-like
        Folder to write into; created if missing.  A model already there is replaced in
        one atomic step once the new one is completely written (a save killed at any
        moment leaves the old model or the new one, and concurrent loads get one of
        them); the files only an older model or a killed save used are then removed.
    metadata : mapping, default=None
        JSON-able facts to keep with the model, such as ``{"trained_on": [...]}``
        (:func:`training_record`); they are covered by the model's digest.

    Returns
    -------
    directory : pathlib.Path

    Raises
    ------
    TypeError
        If a part is not one the format knows (save such models with ``joblib.dump``),
        or ``metadata`` is not JSON.
    ValueError
        If ``metadata["trained_on"]`` is not a training record, or a part holds what
        :func:`load_pipeline` would refuse (a genre network's Keras settings, an ensemble's
        weights).
    sklearn.exceptions.NotFittedError
        If a part is not fitted.

    Warns
    -----
    UserWarning
        Naming parameters that cannot be written as JSON (callbacks, optimizer
        instances, ...); the loaded model has their defaults.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sk_audio_genre.model_format import load_pipeline, save_pipeline
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)), np.array([0, 1] * 10)
    >>> model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     loaded = load_pipeline(save_pipeline(model, folder))
    >>> bool(np.array_equal(loaded.predict_proba(X), model.predict_proba(X)))
    True
    """
    directory = Path(directory)
    metadata = dict(metadata or {})
    _canonical(metadata)  # refuses metadata that is not JSON, before any work
    try:
        _check_metadata(Node(metadata, "metadata"))
    except SchemaError as exc:
        raise ValueError(str(exc)) from None
    writer = _Writer()
    tree = dump_estimator(pipeline, writer, "model")
    if writer.unsaved:
        warnings.warn(f"parameters {writer.unsaved} cannot be saved as JSON; the loaded "
                      "model has their default values.", stacklevel=2)
    from ._version import __version__

    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory) as directory_fd:
        files = {}
        if writer.arrays:
            written = _write_aside(directory, lambda fh: np.savez(fh, **writer.arrays))
            digest = sha256_file(written)
            files[arrays_file_name(digest)] = digest
            _rename(written, directory / arrays_file_name(digest), directory_fd)
        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "sk_audio_genre_version": __version__,
            "model": tree,
            "files": files,
            "metadata": metadata,
        }
        document["sha256"] = _content_digest(document)
        text = (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()
        # the one step that replaces the folder's model
        _rename(_write_aside(directory, lambda fh: fh.write(text)), directory / JSON_NAME,
                directory_fd)
        _remove_unreferenced(directory, keep=set(files))
    return directory


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[int]:
    """The folder's descriptor, holding its exclusive lock: saves into it take turns."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock, as the end of a killed process does


def _write_aside(directory: Path, write: Callable[[BinaryIO], Any]) -> Path:
    """A new file under a temporary name, written by ``write`` and flushed to disk."""
    path = directory / f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}"
    fh = open(path, "xb")  # a name already taken is refused, and is not ours to remove
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink()  # ours: the folder's lock keeps other saves from removing it
        raise
    return path


def _rename(source: Path, target: Path, directory_fd: int) -> None:
    """Give ``source`` the name ``target`` atomically, and make the rename durable."""
    os.replace(source, target)
    os.fsync(directory_fd)


def _remove_unreferenced(directory: Path, *, keep: set[str]) -> None:
    """Remove what no model references: older arrays files, version 2's ``arrays.npz``,
    version 1's ``*.weights.h5``, and temporaries of killed saves (the lock is held, so no
    save is writing them)."""
    for entry in os.scandir(directory):
        name = entry.name
        if name in keep or not (name.startswith(TEMPORARY_PREFIX)
                                or _ARRAYS_NAME_PATTERN.fullmatch(name)
                                or name == VERSION_2_ARRAYS_NAME
                                or name.endswith(".weights.h5")):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            Path(entry.path).unlink(missing_ok=True)


# --------------------------------------------------------------------------- loading


class _Vanished(Exception):
    """A file ``pipeline.json`` names is gone: a concurrent save may have replaced it."""


class _Reader:
    """The arrays file of a model folder, read once, when a codec first asks for an array."""

    def __init__(self, json_path: Path, files: dict[str, str]) -> None:
        self.json_path = json_path
        self.name, self.digest = next(iter(files.items()), (None, None))
        self._arrays: dict[str, np.ndarray] | None = None

    def array(self, key: str, field: str) -> np.ndarray:
        if self.name is None:
            raise SchemaError(f"{field}: 'files' lists no arrays file.")
        if self._arrays is None:
            self._arrays = self._read()
        if key not in self._arrays:
            raise SchemaError(f"{field}: array {key!r} is not in {self.name}.")
        return self._arrays[key]

    def _read(self) -> dict[str, np.ndarray]:
        """The arrays, hashed and parsed from one open file (checked is what is used)."""
        path = self.json_path.parent / self.name
        with _open_in_folder(path, named_in=self.json_path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_ARRAYS_FILE_BYTES:
                raise ValueError(f"{path} is {size:,} bytes, more than the "
                                 f"{MAX_ARRAYS_FILE_BYTES:,} an arrays file may have.")
            digest = _sha256(fh)
            if digest != self.digest:
                raise ValueError(
                    f"Model file {path} does not match {self.json_path}: its SHA-256 is "
                    f"{digest}, the model file records {self.digest}. The file was changed, "
                    "truncated or replaced; re-download or re-save the model."
                )
            fh.seek(0)
            return _read_arrays(fh, size, path)


def load_pipeline(directory: str | os.PathLike, *, sha256: str | None = None) -> Any:
    """Load a model written by :func:`save_pipeline`; nothing is unpickled.

    Parameters
    ----------
    directory : str or path-like
        The model folder (or the path of its ``pipeline.json``).
    sha256 : str, default=None
        The expected :func:`model_digest`; when given, any other model is refused.

    Returns
    -------
    estimator
        The fitted model, predicting as the saved one did.  Parallelism and verbosity
        are the defaults (``n_jobs=None``); set them with ``set_params``.  While another
        process saves into the folder, it is the model before or after that save.

    Raises
    ------
    FileNotFoundError
        If there is no ``pipeline.json``.
    ValueError
        Naming the file and field, for anything that is not a model this version wrote
        unchanged: not JSON, too large or deep, another format or version, an unknown
        class or parameter, a field of the wrong type or inconsistent with another, a
        missing, changed, malformed or outside file, or a digest other than ``sha256``.
    """
    json_path = _json_path(directory)
    seen, vanished = None, None
    for _ in range(MAX_LOAD_ATTEMPTS):
        text = _read_json_bytes(json_path)
        if text == seen:  # the folder's model still names the missing file
            raise ValueError(str(vanished))
        seen = text
        try:
            return _build(_parse_json(text, json_path), json_path, sha256)
        except SchemaError as exc:
            raise ValueError(f"{json_path} is not a valid model file: {exc}") from None
        except _Vanished as exc:
            vanished = exc
    raise ValueError(f"{json_path} was replaced {MAX_LOAD_ATTEMPTS} times while it was "
                     "being loaded; load it again once the saves into its folder are done.")


def upgrade_pipeline(source: str | os.PathLike, target: str | os.PathLike | None = None,
                     *, sha256: str | None = None) -> Path:
    """Rewrite a model saved in an older format version in the current one.

    The model is loaded with every check :func:`load_pipeline` makes (and the pin
    ``sha256``, if given), then saved with :func:`save_pipeline`, so it predicts exactly as
    before; its metadata is kept.  Version 2 folders (the arrays file is ``arrays.npz``)
    also load as they are; upgrading gives them version 3's digest-named arrays file.  The
    model's digest changes (it covers the format version): pin the new one.  The same from
    a shell::

        python -m sk_audio_genre.model_format upgrade SOURCE [TARGET]

    Parameters
    ----------
    source : str or path-like
        The model folder to read.
    target : str or path-like, default=None
        The folder to write; ``None`` rewrites ``source`` in place (atomically, as any save).
    sha256 : str, default=None
        The expected :func:`model_digest` of ``source``.

    Returns
    -------
    target : pathlib.Path

    Raises
    ------
    ValueError
        As :func:`load_pipeline` does; for versions before 2 it names the version and why
        it cannot be converted.

    Examples
    --------
    >>> import json, numpy as np, tempfile
    >>> from pathlib import Path
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)), np.array([0, 1] * 10)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = upgrade_pipeline(save_pipeline(LogisticRegression().fit(X, y), folder))
    ...     json.loads((Path(target) / JSON_NAME).read_text())["format_version"]
    3
    """
    model = load_pipeline(source, sha256=sha256)
    metadata = model_metadata(source)
    return save_pipeline(model, _json_path(target if target is not None else source).parent,
                         metadata=metadata)


def main(argv: list[str] | None = None) -> int:
    """``python -m sk_audio_genre.model_format upgrade SOURCE [TARGET]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sk_audio_genre.model_format",
        description="Rewrite a saved model in the current format version.")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help=upgrade_pipeline.__doc__.splitlines()[0])
    upgrade.add_argument("source", help="the model folder to read")
    upgrade.add_argument("target", nargs="?", help="the folder to write (default: SOURCE)")
    upgrade.add_argument("--sha256", help="the expected digest of SOURCE")
    args = parser.parse_args(argv)
    try:
        target = upgrade_pipeline(args.source, args.target, sha256=args.sha256)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{target}: format version {FORMAT_VERSION}, digest {model_digest(target)}")
    return 0


def training_record(track_ids, paths) -> list[dict[str, str]]:
    """The ``trained_on`` metadata of a model: each training file's track id and SHA-256,
    so that evaluating on those files can be recognised (``sk-audio-genre evaluate``)."""
    return [{"track": str(t), "sha256": sha256_file(p)} for t, p in zip(track_ids, paths,
                                                                          strict=True)]


def model_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` a model was saved with (such as what it was trained on).

    Raises
    ------
    ValueError
        Naming the file and field, if ``pipeline.json`` is not a model file or its
        ``trained_on`` is not a training record (:func:`training_record`).
    """
    json_path = _json_path(directory)
    try:
        root = Node(_parse_json(_read_json_bytes(json_path), json_path), JSON_NAME)
        metadata = Node(root.get("metadata", dict, default={}), f"{JSON_NAME}.metadata")
        _check_metadata(metadata)
    except SchemaError as exc:
        raise ValueError(f"{json_path} is not a valid model file: {exc}") from None
    return metadata.data


def model_digest(directory: str | os.PathLike) -> str:
    """The SHA-256 that identifies a saved model (pass it to ``load_pipeline(sha256=...)``).

    It covers the estimator tree, the metadata and every file's digest.
    """
    json_path = _json_path(directory)
    document = _parse_json(_read_json_bytes(json_path), json_path)
    if not isinstance(document, dict) or not isinstance(document.get("sha256"), str):
        raise ValueError(f"{json_path} is not a valid model file: it records no digest.")
    return document["sha256"]


def _build(document: Any, json_path: Path, expected: str | None) -> Any:
    root = Node(document, JSON_NAME)
    fmt = root.get("format", str)
    if fmt != FORMAT_NAME:
        raise SchemaError(f"'format' is {fmt!r}, expected {FORMAT_NAME!r}.")
    version = root.get("format_version", int)
    if version > FORMAT_VERSION:
        raise SchemaError(
            f"'format_version' is {version}; this sk_audio_genre reads versions "
            f"{READ_VERSIONS[0]} to {FORMAT_VERSION}: the model was saved by a newer "
            "sk_audio_genre; upgrade sk_audio_genre to load it."
        )
    if version not in READ_VERSIONS:
        raise SchemaError(f"'format_version' is {version}: {HDF5_UPGRADE}.")
    recorded = root.get("sha256", str)
    if expected is not None and recorded != expected:
        raise ValueError(
            f"{json_path} is not the expected model: its digest is {recorded}, expected "
            f"{expected}."
        )
    actual = _content_digest(document)  # parsed JSON: no value _canonical refuses
    if actual != recorded:
        raise ValueError(
            f"{json_path} was changed after it was saved (its content digest is {actual}, "
            f"it records {recorded}); re-save or re-download the model."
        )
    _check_metadata(root.child("metadata"))
    reader = _Reader(json_path, _arrays_file(root.get("files", dict), version))
    return load_estimator(root.child("model"), reader)


def _arrays_file(files: dict[str, Any], version: int) -> dict[str, str]:
    """``files``, checked to list at most the arrays file, under its version's name."""
    name_of = arrays_file_name if version >= 3 else lambda digest: VERSION_2_ARRAYS_NAME
    for name in files:
        if name.endswith(".weights.h5"):
            raise SchemaError(f"'files' lists {name!r}: {HDF5_UPGRADE}.")
    for name, digest in files.items():
        if not _is_sha256(digest):
            raise SchemaError(f"'files'[{name!r}] must be a SHA-256 hex digest.")
        if len(files) > 1 or name != name_of(digest):
            raise SchemaError(
                f"'files' may list only the arrays file, named {name_of('<its SHA-256>')!r} "
                f"in format version {version}; it lists {sorted(files)}."
            )
    return files


def _check_metadata(metadata: Node) -> None:
    """Refuse a ``trained_on`` that is not a list of ``{"track": str, "sha256": digest}``."""
    if "trained_on" not in metadata.data:
        return
    metadata.get("trained_on", list)
    for entry in metadata.children("trained_on"):
        if set(entry.data) != {"track", "sha256"}:
            raise SchemaError(f"{entry.where} must hold exactly 'track' and 'sha256', got "
                              f"{sorted(entry.data)}.")
        entry.get("track", str)
        if not _is_sha256(entry.get("sha256", str)):
            raise SchemaError(f"{entry.where}.sha256 must be 64 lowercase hexadecimal digits "
                              f"(a file's SHA-256), got {entry.data['sha256']!r}.")


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and _SHA256_PATTERN.fullmatch(value) is not None


def _json_path(directory: str | os.PathLike) -> Path:
    path = Path(directory)
    return path if path.suffix == ".json" else path / JSON_NAME


def _open_in_folder(path: Path, *, named_in: Path | None = None) -> BinaryIO:
    """``path`` opened for reading, if it is a plain file inside its folder once links are
    followed; the caller checks and parses what it reads from this one open file."""
    named = f" (named in {named_in})" if named_in else ""
    real = path.resolve()
    if not real.is_relative_to(path.parent.resolve()):
        raise ValueError(f"Model file {path}{named} resolves to {real}, outside the model "
                         "folder; refused.")
    try:  # never follows a link put there since, never waits on a pipe
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _Vanished(f"Model file {path}{named} does not exist.") from None
    except OSError as exc:
        raise ValueError(f"Model file {path}{named} cannot be opened: {exc.strerror}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a directory
        os.close(fd)
        raise ValueError(f"Model file {path}{named} is not a plain file; refused.")
    return os.fdopen(fd, "rb")


def _read_json_bytes(json_path: Path) -> bytes:
    try:
        fh = _open_in_folder(json_path)
    except _Vanished:
        raise FileNotFoundError(
            f"No saved model at {json_path.parent}: {json_path} does not exist (a saved "
            f"model is a folder holding {JSON_NAME})."
        ) from None
    with fh:
        text = fh.read(MAX_JSON_BYTES + 1)
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"{json_path} has over {MAX_JSON_BYTES:,} bytes, more than a model file "
                         "can be.")
    return text


def _parse_json(text: bytes, json_path: Path) -> Any:
    try:
        document = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant,
                              parse_float=_finite_float)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{json_path} is not a valid model file: not JSON ({exc}).") from None
    except RecursionError:
        raise ValueError(f"{json_path} is not a valid model file: nested too deeply.") from None
    if _depth(document) > MAX_JSON_DEPTH:
        raise ValueError(f"{json_path} is not a valid model file: nested too deeply.")
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a model file may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return depth
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item)]
    return depth


def _read_arrays(fh: BinaryIO, size: int, path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` as ``np.savez`` writes it, each member's
    size, header and dtype checked before its data is read."""
    try:
        fh.seek(max(size - _END_RECORD.size, 0))
        tail = fh.read(_END_RECORD.size)
        if len(tail) != _END_RECORD.size or not tail.startswith(b"PK\x05\x06"):
            raise ValueError("not a zip archive as np.savez writes it (no end record at its "
                             "end)")
        *_, n_members, directory_size, _, _ = _END_RECORD.unpack(tail)
        if (n_members > MAX_ARRAYS
                or directory_size > MAX_ARRAYS * MAX_DIRECTORY_ENTRY_BYTES):
            raise ValueError(f"it has more members than the {MAX_ARRAYS:,} a model can "
                             "reference")
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARRAYS:
                raise ValueError(f"it has more members than the {MAX_ARRAYS:,} a model can "
                                 "reference")
            arrays, total = {}, 0
            for info in members:
                name = info.filename
                if not name.endswith(".npy"):
                    raise ValueError(f"{name!r} is not a .npy member")
                if name[:-4] in arrays:
                    raise ValueError(f"it holds {name!r} twice")
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise ValueError(f"{name} is compressed or encrypted (save_pipeline "
                                     "stores arrays as they are)")
                total += info.file_size
                if total > size:
                    raise ValueError("its members claim more bytes than the file holds")
                arrays[name[:-4]] = _read_member(archive, info)
            return arrays
    except Exception as exc:  # anything a crafted archive makes zipfile or numpy raise
        raise ValueError(f"{path} is not a valid arrays file: {exc}") from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, read only once its header accounts for its bytes."""
    name = info.filename
    with archive.open(info) as member:
        try:
            version = npy_format.read_magic(member)
            read_header = {(1, 0): npy_format.read_array_header_1_0,
                           (2, 0): npy_format.read_array_header_2_0}[version]
            shape, fortran_order, dtype = read_header(member)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{name}: not a NumPy .npy array ({exc})") from None
        if dtype.kind not in _PLAIN_KINDS:  # structured and subarray dtypes are kind "V"
            raise ValueError(f"{name}: dtype {dtype} (a saved model holds plain numbers and "
                             "booleans only)")
        count = math.prod(shape)
        claimed, held = count * dtype.itemsize, info.file_size - member.tell()
        if claimed != held:
            raise ValueError(f"{name}: its header claims shape {shape} of {dtype} "
                             f"({claimed:,} bytes) but it holds {held:,}")
        array = np.empty(count, dtype)
        buffer = memoryview(array.view(np.uint8))
        for start in range(0, claimed, _READ_CHUNK):
            chunk = buffer[start:start + _READ_CHUNK]
            if member.readinto(chunk) != len(chunk):
                raise ValueError(f"{name}: ends before its data")
    return array.reshape(shape, order="F" if fortran_order else "C")


def _canonical(document: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON (no NaN): {exc}") from None


def _content_digest(document: Mapping[str, Any]) -> str:
    content = {key: value for key, value in document.items() if key != "sha256"}
    return hashlib.sha256(_canonical(content)).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MB blocks."""
    with open(path, "rb") as fh:
        return _sha256(fh)


def _sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _unique(name: str, taken) -> str:
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


if __name__ == "__main__":
    sys.exit(main())
