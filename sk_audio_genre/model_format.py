"""A model format that loads without unpickling: JSON and plain arrays.

:func:`save_pipeline` writes a fitted estimator built from the parts
:mod:`sk_audio_genre._codecs` knows (this library's transformers and classifiers,
scikit-learn's ``Pipeline``, ``StandardScaler``, ``LogisticRegression`` and soft
``VotingClassifier``) to a folder holding

``pipeline.json``
    The format name and version, the estimator tree (each node's class, JSON-able
    parameters and fitted state), the SHA-256 of every other file, optional metadata
    (what the model was trained on), and ``sha256``: the digest of all of that.
``arrays.npz``
    The fitted arrays (coefficients, means, the genre networks' weights without optimizer
    state), uncompressed, read with ``allow_pickle=False``.

:func:`load_pipeline` reads it back, checking everything before it builds anything:

* the JSON (size, depth, and every field's type and consistency: classes against
  coefficient rows and against an ensemble's members, array shapes against the recorded
  sizes, adjacent steps' feature counts);
* every file's SHA-256 against ``pipeline.json``, and ``pipeline.json`` against its own
  recorded digest, so a changed, truncated, swapped or hand-edited file is refused;
* with ``sha256=`` (see :func:`model_digest`), that the whole model is exactly the one
  expected, as ``pip --require-hashes`` pins a package;
* files must be plain files inside the folder (symbolic links out of it are refused);
* a save that fails (an unsavable part, metadata that is not JSON) leaves the folder's
  previous model as it was: the files are written aside and moved in at the end.

Only classes of the registry can be named; nothing in the folder is code, and nothing in
it chooses resources: ``n_jobs`` and ``verbose`` are never saved, so a loaded model runs
with the defaults or what the caller sets.  What is *not* protected without a pinned
digest: someone who rewrites ``pipeline.json`` consistently (recomputing its digest) can
make a different model; pin the digest to rule that out.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._codecs import Node, SchemaError, dump_estimator, load_estimator

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "load_pipeline",
    "model_digest",
    "model_metadata",
    "save_pipeline",
    "sha256_file",
    "training_record",
]

#: Value of the ``"format"`` field of ``pipeline.json``.
FORMAT_NAME = "sk_audio_genre.pipeline"
#: Version of the format this module writes and reads.
FORMAT_VERSION = 2
#: Name of the JSON file inside a saved model folder, and of the arrays file.
JSON_NAME = "pipeline.json"
ARRAYS_NAME = "arrays.npz"
#: Limits that keep a crafted folder from exhausting memory before any check.
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 64
MAX_ARRAY_BYTES = 2**30


# --------------------------------------------------------------------------- saving


class _Writer:
    """Collects the arrays and weights files of a model being saved."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.arrays: dict[str, np.ndarray] = {}
        self.files: dict[str, str] = {}

    def array(self, key: str, value: np.ndarray) -> str:
        key = _unique(key, self.arrays)
        self.arrays[key] = np.ascontiguousarray(value)
        return key

    def close(self) -> dict[str, str]:
        if self.arrays:
            np.savez(self.directory / ARRAYS_NAME, **self.arrays)
            self.files[ARRAYS_NAME] = ""
        return {name: sha256_file(self.directory / name) for name in sorted(self.files)}


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
        Folder to write into; created if missing.  Files of the same names are replaced
        (and ``*.weights.h5`` files of the older format removed), only once the new model
        is completely written.
    metadata : mapping, default=None
        JSON-able facts to keep with the model, such as ``{"trained_on": [...]}``; they
        are covered by the model's digest.

    Returns
    -------
    directory : pathlib.Path

    Raises
    ------
    TypeError
        If a part is not one the format knows (save such models with ``joblib.dump``).
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
    _canonical({"metadata": metadata})  # refuses metadata that is not JSON, before any work
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory))
    try:
        writer = _Writer(staging)
        tree = dump_estimator(pipeline, writer, "model")
        from . import __version__

        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "sk_audio_genre_version": __version__,
            "model": tree,
            "files": writer.close(),
            "metadata": metadata,
        }
        document["sha256"] = _content_digest(document)
        with open(staging / JSON_NAME, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1, sort_keys=True)
            fh.write("\n")
        # Only now is the folder's previous model replaced, pipeline.json last.
        for stale in [*directory.glob("*.weights.h5"), directory / ARRAYS_NAME]:
            stale.unlink(missing_ok=True)
        for name in [*document["files"], JSON_NAME]:
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


# --------------------------------------------------------------------------- loading


class _Reader:
    """The verified files of a model folder."""

    def __init__(self, directory: Path, files: dict[str, str], where: str) -> None:
        self.directory, self.files, self.where = directory, files, where
        self._arrays: dict[str, np.ndarray] | None = None

    def path(self, name: str, field: str) -> Path:
        """The checked path of a listed file: inside the folder, unchanged since saving."""
        if name not in self.files:
            raise SchemaError(f"{field}: file {name!r} is not listed in 'files'.")
        path = self.directory / name
        if Path(name).name != name or not path.is_file():
            raise ValueError(f"Model file {path} (named in {self.where}) does not exist.")
        if not path.resolve().is_relative_to(self.directory.resolve()):
            raise ValueError(
                f"Model file {path} (named in {self.where}) resolves to {path.resolve()}, "
                "outside the model folder; refused."
            )
        digest = sha256_file(path)
        if digest != self.files[name]:
            raise ValueError(
                f"Model file {path} does not match {self.where}: its SHA-256 is {digest}, the "
                f"model file records {self.files[name]}. The file was changed, truncated or "
                "replaced; re-download or re-save the model."
            )
        return path

    def array(self, key: str, field: str) -> np.ndarray:
        if self._arrays is None:
            self._arrays = _read_arrays(self.path(ARRAYS_NAME, field))
        if key not in self._arrays:
            raise SchemaError(f"{field}: array {key!r} is not in {ARRAYS_NAME}.")
        return self._arrays[key]


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
        are the defaults (``n_jobs=None``); set them with ``set_params``.

    Raises
    ------
    FileNotFoundError
        If there is no ``pipeline.json``.
    ValueError
        Naming the file and field, for anything that is not a model this version wrote
        unchanged: not JSON, too large or deep, another format or version, an unknown
        class or parameter, a field of the wrong type or inconsistent with another, a
        missing, changed, or outside file, or a digest other than ``sha256``.
    """
    path = Path(directory)
    json_path = path if path.suffix == ".json" else path / JSON_NAME
    if not json_path.is_file():
        raise FileNotFoundError(
            f"No saved model at {path}: {json_path} does not exist (a saved model is a "
            f"folder holding {JSON_NAME})."
        )
    document = _read_json(json_path)
    try:
        return _build(document, json_path, sha256)
    except SchemaError as exc:
        raise ValueError(f"{json_path} is not a valid model file: {exc}") from None


def training_record(track_ids, paths) -> list[dict[str, str]]:
    """The ``trained_on`` metadata of a model: each training file's track id and SHA-256,
    so that evaluating on those files can be recognised (``sk-audio-genre evaluate``)."""
    return [{"track": str(t), "sha256": sha256_file(p)} for t, p in zip(track_ids, paths,
                                                                          strict=True)]


def model_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` a model was saved with (such as what it was trained on)."""
    path = Path(directory)
    document = _read_json(path if path.suffix == ".json" else path / JSON_NAME)
    metadata = document.get("metadata", {}) if isinstance(document, dict) else {}
    return metadata if isinstance(metadata, dict) else {}


def model_digest(directory: str | os.PathLike) -> str:
    """The SHA-256 that identifies a saved model (pass it to ``load_pipeline(sha256=...)``).

    It covers the estimator tree, the metadata and every file's digest.
    """
    path = Path(directory)
    json_path = path if path.suffix == ".json" else path / JSON_NAME
    document = _read_json(json_path)
    if not isinstance(document, dict) or not isinstance(document.get("sha256"), str):
        raise ValueError(f"{json_path} is not a valid model file: it records no digest.")
    return document["sha256"]


def _build(document: Any, json_path: Path, expected: str | None) -> Any:
    root = Node(document, "pipeline.json")
    fmt = root.get("format", str)
    if fmt != FORMAT_NAME:
        raise SchemaError(f"'format' is {fmt!r}, expected {FORMAT_NAME!r}.")
    version = root.get("format_version", int)
    if version != FORMAT_VERSION:
        raise SchemaError(
            f"'format_version' is {version}; this sk_audio_genre reads version "
            f"{FORMAT_VERSION} (re-save the model with the sk_audio_genre that can load it)."
        )
    recorded = root.get("sha256", str)
    if expected is not None and recorded != expected:
        raise ValueError(
            f"{json_path} is not the expected model: its digest is {recorded}, expected "
            f"{expected}."
        )
    try:
        actual = _content_digest(document)
    except TypeError as exc:
        raise SchemaError(str(exc)) from None
    if actual != recorded:
        raise ValueError(
            f"{json_path} was changed after it was saved (its content digest is {actual}, "
            f"it records {recorded}); re-save or re-download the model."
        )
    files = root.get("files", dict)
    for name, digest in files.items():
        if not (isinstance(digest, str) and len(digest) == 64):
            raise SchemaError(f"'files'[{name!r}] must be a SHA-256 hex digest.")
    root.get("metadata", dict)
    reader = _Reader(json_path.parent, files, str(json_path))
    return load_estimator(root.child("model"), reader)


def _read_json(json_path: Path) -> Any:
    size = json_path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{json_path} is {size:,} bytes, more than a model file can be.")
    try:
        with open(json_path, encoding="utf-8") as fh:
            document = json.load(fh, parse_constant=_refuse_constant, parse_float=_finite_float)
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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz``, after checking its members' sizes."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if any(m.compress_type != zipfile.ZIP_STORED for m in members) or (
                sum(m.file_size for m in members) > MAX_ARRAY_BYTES
            ):
                raise ValueError("compressed or too large")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a valid arrays file: {exc}") from None


def _canonical(document: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON (no NaN): {exc}") from None


def _content_digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in document.items() if k != "sha256"})).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unique(name: str, taken) -> str:
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate
