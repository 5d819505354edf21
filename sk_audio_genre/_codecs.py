"""How each estimator the model format knows becomes JSON and arrays, and comes back.

One :class:`Codec` per class, found by class name in :func:`codecs`; a model folder can
name no other class.  A codec's ``dump`` returns the estimator's JSON node (its
parameters, its fitted state, and the keys of its arrays, which the writer stores in the
model's arrays file); its ``load`` rebuilds a fitted estimator from that node after checking
every field's type and the consistency between fields.  Errors raise :class:`SchemaError`
naming the field's path (``model.steps[2].estimator.state.classes_``), whatever the
estimator's own checks raised.

Parameters that choose resources (``n_jobs``, ``verbose``) are never written: a loaded
model runs with the defaults.
"""

from __future__ import annotations

import functools
import json
import warnings
from typing import Any

import numpy as np

#: Parameters that are the caller's business, never the model file's.
RUNTIME_PARAMS = frozenset({"n_jobs", "verbose"})


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
    codec = codecs().get(type(estimator).__name__)
    if codec is None or not codec.owns(estimator):
        raise TypeError(
            f"{where} is a {type(estimator).__name__}, which the no-pickle model format "
            f"cannot save; it knows {sorted(codecs())}. Use joblib.dump for other models."
        )
    from sklearn.utils.validation import check_is_fitted

    if codec.fitted:
        check_is_fitted(estimator)
    return {"class": type(estimator).__name__, **codec.dump(estimator, writer, where)}


def load_estimator(node: Node, reader: Any) -> Any:
    """The fitted estimator of a JSON node, after checking it."""
    name = node.get("class", str)
    codec = codecs().get(name)
    if codec is None:
        raise SchemaError(f"{node.where}.class is {name!r}, not one of {sorted(codecs())}.")
    return codec.load(node, reader)


# --------------------------------------------------------------------------- parameters


def dump_params(estimator: Any, where: str, *, skip: frozenset[str] = frozenset()) -> dict:
    """``get_params(deep=False)`` as JSON values, without runtime settings; warns on others."""
    params, unsaved = {}, []
    for key, value in sorted(estimator.get_params(deep=False).items()):
        if key.rsplit("__", 1)[-1] in RUNTIME_PARAMS or key in skip:
            continue
        value = list(value) if isinstance(value, tuple) else value
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            unsaved.append(key)
            continue
        params[key] = value
    if unsaved:
        warnings.warn(
            f"{where}: parameters {unsaved} cannot be saved as JSON; the loaded model "
            "has their default values.",
            UserWarning,
            stacklevel=4,
        )
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
        if key.rsplit("__", 1)[-1] in RUNTIME_PARAMS:
            continue  # never taken from a file, routed (fit__verbose) or not
        if key not in defaults and not key.startswith(routed or ("\0",)):
            raise SchemaError(f"{params.where} has unknown parameter {key!r} for {cls.__name__}.")
        if isinstance(value, list) and isinstance(defaults.get(key), tuple):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
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


def positive_int(node: Node, key: str) -> int:
    value = node.get(key, int)
    if value < 1:
        raise SchemaError(f"{node.where}.{key} must be a positive integer, got {value}.")
    return value


def count_array(node: Node, key: str, dtype: type) -> np.ndarray:
    """A list of counts (``n_iter_``, ``n_samples_seen_``) as the integer array fit makes."""
    values = node.get(key, list)
    largest = np.iinfo(dtype).max
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= largest
               for v in values):
        raise SchemaError(f"{node.where}.{key} must be a list of integers from 0 to {largest}.")
    return np.asarray(values, dtype=dtype)


def saved_labels(labels: Any, where: str) -> list:
    """Class labels as JSON, refusing kinds the loader would not take back (floats, bools)."""
    values = np.asarray(labels).tolist()
    if not (all(isinstance(c, str) for c in values)
            or all(isinstance(c, int) and not isinstance(c, bool) for c in values)):
        raise TypeError(f"{where}: class labels {values[:5]} cannot be saved; the no-pickle "
                        "format keeps strings or integers (map other labels to those).")
    return values


def class_labels(node: Node, key: str = "classes_") -> np.ndarray:
    """Class labels: a list of 2 or more distinct strings (or integers)."""
    labels = node.get(key, list)
    if len(labels) < 2 or not (all(isinstance(c, str) for c in labels)
                               or all(isinstance(c, int) and not isinstance(c, bool)
                                      for c in labels)):
        raise SchemaError(f"{node.where}.{key} must list 2 or more strings or integers.")
    if len(set(labels)) != len(labels) or list(labels) != sorted(labels):
        raise SchemaError(f"{node.where}.{key} must be distinct and sorted, as fit makes them.")
    return np.asarray(labels)


def feature_count(estimator: Any) -> tuple[int | None, int | None]:
    """``(values in, values out)`` along the last axis where known, for chain checks."""
    codec = codecs().get(type(estimator).__name__)
    return codec.sizes(estimator) if codec is not None else (None, None)


class Codec:
    """Turns one class's fitted state into JSON and arrays, and back."""

    #: Whether the class must be fitted to be saved.
    fitted = True

    def owns(self, estimator: Any) -> bool:
        """True when ``estimator`` is the class this codec was written for."""
        return True

    def dump(self, estimator: Any, writer: Any, where: str) -> dict[str, Any]:
        raise NotImplementedError

    def load(self, node: Node, reader: Any) -> Any:
        raise NotImplementedError

    def sizes(self, estimator: Any) -> tuple[int | None, int | None]:
        return None, None


@functools.lru_cache(maxsize=1)
def codecs() -> dict[str, Codec]:
    """Class name -> codec, built on first use (the codec modules import this one)."""
    from ._codecs_library import LIBRARY_CODECS
    from ._codecs_sklearn import SKLEARN_CODECS

    return {**SKLEARN_CODECS, **LIBRARY_CODECS}
