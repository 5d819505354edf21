"""A model format that loads without unpickling: JSON and plain arrays.

:func:`save_pipeline` writes a fitted estimator built from the parts
:mod:`sk_audio_genre._codecs` knows (this library's transformers and classifiers,
scikit-learn's ``Pipeline``, ``StandardScaler``, ``LogisticRegression`` and soft
``VotingClassifier``) to a folder holding

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

Every failure but a missing ``pipeline.json`` (``FileNotFoundError``) is a ``ValueError``
naming the file and the field.  Only classes of the
registry can be named; nothing in the folder is code, and nothing in it chooses resources:
``n_jobs`` and ``verbose`` are never saved, so a loaded model runs with the defaults or what
the caller sets.  What is *not* protected without a pinned digest: someone who rewrites
``pipeline.json`` consistently (recomputing its digest) can make a different model; pin
the digest to rule that out.

The lock and the checks on opened files use POSIX calls (``fcntl``, ``O_NOFOLLOW``).
"""

from __future__ import annotations

import contextlib
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
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from ._codecs import Node, SchemaError, dump_estimator, load_estimator

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
]

#: Value of the ``"format"`` field of ``pipeline.json``.
FORMAT_NAME = "sk_audio_genre.pipeline"
#: Version of the format this module writes.
FORMAT_VERSION = 3
#: Versions it reads: 2 (the arrays file is ``arrays.npz``; the shipped model) and 3.
READ_VERSIONS = (2, 3)
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
#: normalisation has 22, the seed's MLP 8, its LSTM 10): an ensemble of 100 networks of
#: 40 weight tensors each, with its scalers, stays below this bound.  Checked from the
#: archive's end record before its directory is parsed (100,000 members took 27 s to load).
MAX_ARRAYS = 4096
#: Bytes of the archive's central directory per member, at most: 46 bytes of fixed fields
#: and the member's name (np.savez writes nothing else there), which leaves 466 for names.
MAX_DIRECTORY_ENTRY_BYTES = 512
#: How often a load starts again because a concurrent save replaced the model meanwhile.
MAX_LOAD_ATTEMPTS = 5

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


# --------------------------------------------------------------------------- saving


class _Writer:
    """Collects the arrays of a model being saved (the codecs call :meth:`array`)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

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
    _canonical({"metadata": metadata})  # refuses metadata that is not JSON, before any work
    try:
        _check_metadata(Node(metadata, "metadata"))
    except SchemaError as exc:
        raise ValueError(str(exc)) from None
    writer = _Writer()
    tree = dump_estimator(pipeline, writer, "model")
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
    try:
        with open(path, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
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
    if version not in READ_VERSIONS:
        raise SchemaError(
            f"'format_version' is {version}; this sk_audio_genre reads versions "
            f"{READ_VERSIONS[0]} to {FORMAT_VERSION} (re-save the model with the "
            "sk_audio_genre that can load it)."
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
    _check_metadata(root.child("metadata"))
    reader = _Reader(json_path, _arrays_file(root.get("files", dict), version))
    return load_estimator(root.child("model"), reader)


def _arrays_file(files: dict[str, Any], version: int) -> dict[str, str]:
    """``files``, checked to list at most the arrays file, under its version's name."""
    name_of = arrays_file_name if version >= 3 else lambda digest: VERSION_2_ARRAYS_NAME
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
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        fh.close()
        raise ValueError(f"Model file {path}{named} is not a plain file; refused.")
    return fh


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
        if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype:
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
