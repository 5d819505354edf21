"""The shipped pretrained model, and a model format that loads without unpickling.

:func:`save_pipeline` writes a fitted :class:`~sklearn.pipeline.Pipeline` of this library's
estimators (:class:`~sk_audio_genre.MFCCSegmenter`, optionally
:class:`~sk_audio_genre.SegmentScaler`, and one genre classifier or a soft-voting
:class:`~sklearn.ensemble.VotingClassifier` of them) to a folder holding

``pipeline.json``
    The format name and version, each step's class and JSON-able ``get_params()``, the
    scaler's ``mean_``/``scale_``, the classifier's ``classes_`` and segment shape, and the
    SHA-256 of every weights file.
``<step>.weights.h5``
    The Keras weights of each classifier step (HDF5 arrays, no code, no pickle); an
    ensemble has one ``<step>__<member>.weights.h5`` per member.

:func:`load_pipeline` reads it back: it checks the format and version, rebuilds each step from
its class name (only this library's classes are accepted) and verifies each weights file's
SHA-256 before loading it, so a tampered, truncated or swapped file gives a ``ValueError`` naming
the file instead of a wrong model.  Unlike ``joblib.load``, nothing in the folder can run code.

:func:`load_pretrained` loads the model that ships in ``sk_audio_genre/data/pretrained``; see
``docs/model_card.rst`` for how it was trained and how well it does.

Importing this module does not import TensorFlow; loading a model does.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_pipeline", "load_pretrained", "save_pipeline"]

#: Value of the ``"format"`` field of ``pipeline.json``.
FORMAT_NAME = "sk_audio_genre.pipeline"
#: Version of the format this module writes and reads.
FORMAT_VERSION = 1
#: Name of the JSON file inside a saved model folder.
JSON_NAME = "pipeline.json"

_PACKAGE = __package__ or "sk_audio_genre"
_CLASSIFIERS = ("MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier")
_TRANSFORMERS = ("MFCCSegmenter", "SegmentScaler")
#: scikit-learn's soft-voting ensemble, accepted as the last step when its members are
#: this library's genre classifiers (see :func:`sk_audio_genre.ensemble.seed_ensemble`).
_VOTING = "VotingClassifier"


def pretrained_dir() -> Path:
    """The folder of the shipped pretrained model (inside the installed package)."""
    return Path(str(resources.files(_PACKAGE).joinpath("data", "pretrained")))


def load_pretrained(*, offset: float | str = "center", on_error: str = "raise"):
    """The pretrained genre classifier that ships with the package, ready to predict.

    A fitted :class:`~sklearn.pipeline.Pipeline` of :class:`~sk_audio_genre.MFCCSegmenter`,
    :class:`~sk_audio_genre.SegmentScaler` and a soft-voting ensemble of three
    :class:`~sk_audio_genre.CNNGenreClassifier` (6 s segments, their 3 s halves and
    overlapping 6 s windows), trained on the 77 GTZAN tracks of the development subset that
    are outside the fault-filtered test list.  It takes
    a list of audio file paths (any format libsndfile reads) and predicts one of GTZAN's 10
    genres for each.  See ``docs/model_card.rst`` for its accuracy and limits.

    Parameters
    ----------
    offset : float or "center", default="center"
        Segmenter ``offset``: where in each file the analysed window (``n_segments *
        segment_duration`` seconds) starts; ``"center"`` takes the middle of long songs.
    on_error : {"raise", "nan"}, default="raise"
        Segmenter ``on_error``: ``"nan"`` makes unreadable files give NaN probabilities
        instead of an error.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline; ``pipeline.classes_`` are the genres.

    See Also
    --------
    load_pipeline : Load any model saved with :func:`save_pipeline`.

    Examples
    --------
    >>> from sk_audio_genre.pretrained import load_pretrained
    >>> model = load_pretrained()                                   # doctest: +SKIP
    >>> model.predict(["song.mp3"])                                 # doctest: +SKIP
    array(['rock'], dtype='<U9')
    """
    pipe = load_pipeline(pretrained_dir())
    pipe.steps[0][1].set_params(offset=offset, on_error=on_error)
    return pipe


# --------------------------------------------------------------------------- saving


def save_pipeline(pipeline, directory: str | os.PathLike) -> Path:
    """Save a fitted pipeline as JSON plus Keras weights, loadable without unpickling.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline whose steps are :class:`~sk_audio_genre.MFCCSegmenter`,
        :class:`~sk_audio_genre.SegmentScaler` and, last, one of the genre classifiers or
        a soft-voting :class:`~sklearn.ensemble.VotingClassifier` of them (as
        :func:`~sk_audio_genre.ensemble.seed_ensemble` builds).
    directory : str or path-like
        Folder to write ``pipeline.json`` and ``<step>.weights.h5`` into; created if
        missing.  Files of the same names are overwritten.

    Returns
    -------
    directory : pathlib.Path
        The folder written.

    Raises
    ------
    TypeError
        If a step is not one of this library's estimators (save such pipelines with
        ``joblib.dump``).
    sklearn.exceptions.NotFittedError
        If a step is not fitted.

    Warns
    -----
    UserWarning
        Naming classifier parameters that cannot be written as JSON (callbacks, optimizer
        instances, ...); the loaded model has their defaults.  They only matter for
        training again, not for predicting.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"save_pipeline needs a sklearn Pipeline, got {type(pipeline).__name__}.")
    directory = Path(directory)
    names = [type(step).__name__ for _, step in pipeline.steps]
    for index, (name, step) in enumerate(pipeline.steps):
        last = index == len(pipeline.steps) - 1
        if not (_is_ours(step, _TRANSFORMERS) or (last and _is_final_step(step))):
            raise TypeError(
                f"save_pipeline saves pipelines of MFCCSegmenter, SegmentScaler and one genre "
                f"classifier or a soft-voting VotingClassifier of genre classifiers (last); "
                f"step {name!r} is a {type(step).__name__} (steps: {names}). "
                "Use joblib.dump for other pipelines."
            )
    for _, step in pipeline.steps:
        check_is_fitted(step)
    directory.mkdir(parents=True, exist_ok=True)
    steps = []
    for name, step in pipeline.steps:
        kind = type(step).__name__
        if kind == _VOTING:  # its members are saved below, one by one
            weights = None if step.weights is None else [float(w) for w in step.weights]
            entry = {"name": name, "class": kind, "params": {
                "voting": "soft", "weights": weights,
                "flatten_transform": bool(step.flatten_transform)}}
        else:
            entry = _params_record(name, step)
        if kind == "SegmentScaler":
            entry["state"] = {
                "mean_": step.mean_.tolist(),
                "scale_": step.scale_.tolist(),
                "n_features_in_": int(step.n_features_in_),
            }
        elif kind in _CLASSIFIERS:
            entry.update(_classifier_record(step, directory, _safe(name)))
        elif kind == _VOTING:
            entry["state"] = {"classes_": step.classes_.tolist()}
            entry["members"] = [
                {**_params_record(f"{name}/{member_name}", member, name=member_name),
                 **_classifier_record(member, directory, f"{_safe(name)}__{_safe(member_name)}")}
                for member_name, member in step.named_estimators_.items()
            ]
        steps.append(entry)
    from . import __version__

    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sk_audio_genre_version": __version__,
        "steps": steps,
    }
    with open(directory / JSON_NAME, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1)
        fh.write("\n")
    return directory


def _params_record(label: str, step, *, name: str | None = None) -> dict[str, Any]:
    """``{"name", "class", "params"}`` of a step; warns about parameters JSON cannot hold."""
    params, skipped = _json_params(step)
    if skipped:
        warnings.warn(
            f"{label}: parameters {skipped} cannot be saved as JSON; the loaded model "
            "has their default values.",
            UserWarning,
            stacklevel=3,
        )
    return {"name": label if name is None else name, "class": type(step).__name__,
            "params": params}


def _is_ours(step, kinds: tuple[str, ...]) -> bool:
    return type(step).__module__.split(".")[0] == _PACKAGE and type(step).__name__ in kinds


def _is_final_step(step) -> bool:
    """One of this library's classifiers, or a soft VotingClassifier of them."""
    if _is_ours(step, _CLASSIFIERS):
        return True
    from sklearn.ensemble import VotingClassifier

    return (
        type(step) is VotingClassifier
        and step.voting == "soft"
        and all(_is_ours(member, _CLASSIFIERS) for _, member in step.estimators)
        and (step.weights is None or len(step.weights) == len(step.estimators))
    )


def _classifier_record(clf, directory: Path, stem: str) -> dict[str, Any]:
    """Write ``clf``'s weights to ``<stem>.weights.h5``; its state and weights entry."""
    weights_name = f"{stem}.weights.h5"
    weights_path = directory / weights_name
    _save_weights(clf, weights_path)
    return {
        "state": {
            "classes_": clf.classes_.tolist(),
            "segment_shape_": [int(n) for n in clf.segment_shape_],
            "n_segments_in_": int(clf.n_segments_in_),
            "n_features_in_": int(clf.n_features_in_),
            "n_iter_": int(clf.n_iter_),
            "history_": {key: [float(v) for v in values] for key, values in clf.history_.items()},
        },
        "weights": {"file": weights_name, "sha256": _sha256(weights_path)},
    }


def _save_weights(clf, path: Path) -> None:
    """Save the network's weights only, from an uncompiled copy: no optimizer state."""
    network = clf._build_network(tuple(clf.model_.input_shape[1:]), len(clf.classes_))
    network.set_weights(clf.model_.get_weights())
    network.save_weights(path)


def _json_params(step) -> tuple[dict[str, Any], list[str]]:
    """``step.get_params(deep=False)`` as JSON values, and the names that are not JSON-able."""
    params, skipped = {}, []
    for key, value in sorted(step.get_params(deep=False).items()):
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            skipped.append(key)
            continue
        params[key] = value
    return params, skipped


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "step"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- loading


def load_pipeline(directory: str | os.PathLike):
    """Load a pipeline written by :func:`save_pipeline`; nothing is unpickled.

    Parameters
    ----------
    directory : str or path-like
        The folder holding ``pipeline.json`` and the weights files (or the path of
        ``pipeline.json`` itself).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline, predicting as the saved one did.

    Raises
    ------
    FileNotFoundError
        If the folder or ``pipeline.json`` does not exist.
    ValueError
        Naming the file, if ``pipeline.json`` is not valid JSON, is not this format or
        version, names a class this library does not have, misses a field, or if a
        weights file is missing or its SHA-256 differs from the recorded one (tampered,
        truncated or swapped).
    """
    path = Path(directory)
    json_path = path if path.suffix == ".json" else path / JSON_NAME
    if not json_path.is_file():
        raise FileNotFoundError(
            f"No saved model at {path}: {json_path} does not exist "
            f"(a saved model is a folder holding {JSON_NAME} and *.weights.h5)."
        )
    try:
        with open(json_path, encoding="utf-8") as fh:
            document = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{json_path} is not a valid model file: not JSON ({exc}).") from None
    try:
        return _build(document, json_path)
    except _SchemaError as exc:
        raise ValueError(f"{json_path} is not a valid model file: {exc}") from None


class _SchemaError(Exception):
    pass


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _SchemaError(message)


def _build(document: Any, json_path: Path):
    from sklearn.pipeline import Pipeline

    _require(isinstance(document, dict), "the top level must be a JSON object.")
    _require(
        document.get("format") == FORMAT_NAME,
        f"'format' is {document.get('format')!r}, expected {FORMAT_NAME!r}.",
    )
    version = document.get("format_version")
    _require(
        version == FORMAT_VERSION,
        f"'format_version' is {version!r}; this sk_audio_genre reads version {FORMAT_VERSION} "
        "(a model saved by a newer sk_audio_genre needs that version to load).",
    )
    steps = document.get("steps")
    _require(isinstance(steps, list) and len(steps) >= 1, "'steps' must be a non-empty list.")
    built = []
    for index, entry in enumerate(steps):
        _require(isinstance(entry, dict), f"step {index} must be a JSON object.")
        for field in ("name", "class", "params"):
            _require(field in entry, f"step {index} has no {field!r} field.")
        kind, name = entry["class"], entry["name"]
        last = index == len(steps) - 1
        allowed = (*_CLASSIFIERS, _VOTING) if last else _TRANSFORMERS
        _require(
            kind in allowed,
            f"step {index} ({name!r}) has class {kind!r}; expected one of {list(allowed)}.",
        )
        if kind == _VOTING:
            estimator = _build_voting(entry, json_path)
        else:
            estimator = _build_estimator(entry, json_path)
        built.append((name, estimator))
    return Pipeline(built)


def _build_estimator(entry: dict, json_path: Path):
    """One of this library's estimators from its JSON entry, fitted state restored."""
    kind, name, params = entry["class"], entry["name"], entry["params"]
    _require(isinstance(params, dict), f"step {name!r}: 'params' must be a JSON object.")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        cls = _estimator_class(kind)
        defaults = cls().get_params(deep=False)
        unknown = sorted(k for k in params if k not in defaults and "__" not in k)
        if unknown:
            raise TypeError(f"unknown parameters {unknown}")
        # Only what differs from the defaults, so the loaded estimator looks as built.
        estimator = cls(
            **{k: v for k, v in params.items() if k not in defaults or defaults[k] != v}
        )
    except TypeError as exc:
        raise _SchemaError(f"step {name!r}: bad parameters for {kind}: {exc}") from None
    state = entry.get("state", {})
    _require(isinstance(state, dict), f"step {name!r}: 'state' must be a JSON object.")
    try:
        if kind == "MFCCSegmenter":
            estimator.fit(["placeholder.wav"])  # stateless: only checks the parameters
        elif kind == "SegmentScaler":
            estimator.mean_ = np.asarray(state["mean_"], dtype=np.float64)
            estimator.scale_ = np.asarray(state["scale_"], dtype=np.float64)
            estimator.n_features_in_ = int(state["n_features_in_"])
            _require(
                estimator.mean_.shape == estimator.scale_.shape == (estimator.n_features_in_,),
                f"step {name!r}: mean_ and scale_ must have n_features_in_ entries.",
            )
        else:
            _restore_classifier(estimator, entry, json_path)
    except KeyError as exc:
        raise _SchemaError(f"step {name!r}: 'state' has no {exc.args[0]!r} field.") from None
    return estimator


def _build_voting(entry: dict, json_path: Path):
    """A fitted soft VotingClassifier whose members are this library's classifiers."""
    from sklearn.base import clone
    from sklearn.ensemble import VotingClassifier
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    name, params = entry["name"], entry["params"]
    members = entry.get("members")
    _require(
        isinstance(members, list) and len(members) >= 1,
        f"step {name!r}: 'members' must be a non-empty list.",
    )
    _require(isinstance(params, dict), f"step {name!r}: 'params' must be a JSON object.")
    _require(params.get("voting") == "soft", f"step {name!r}: only voting='soft' is supported.")
    fitted = []
    for index, member in enumerate(members):
        _require(isinstance(member, dict), f"step {name!r}: member {index} must be an object.")
        for field in ("name", "class", "params"):
            _require(field in member, f"step {name!r}: member {index} has no {field!r} field.")
        _require(
            member["class"] in _CLASSIFIERS,
            f"step {name!r}: member {member['name']!r} has class {member['class']!r}; "
            f"expected one of {list(_CLASSIFIERS)}.",
        )
        fitted.append((member["name"], _build_estimator(member, json_path)))
    weights = params.get("weights")
    _require(
        weights is None or (isinstance(weights, list) and len(weights) == len(fitted)),
        f"step {name!r}: 'weights' must be null or one number per member.",
    )
    try:
        classes = np.asarray(entry["state"]["classes_"])
    except (KeyError, TypeError):
        raise _SchemaError(f"step {name!r}: 'state' has no 'classes_' field.") from None
    voting = VotingClassifier(
        [(member_name, clone(est)) for member_name, est in fitted],
        voting="soft",
        weights=weights,
        flatten_transform=bool(params.get("flatten_transform", True)),
    )
    voting.le_ = LabelEncoder().fit(classes)
    voting.classes_ = voting.le_.classes_
    voting.estimators_ = [est for _, est in fitted]
    voting.named_estimators_ = Bunch(**dict(fitted))
    return voting


def _estimator_class(kind: str) -> type:
    from . import preprocessing, segmenter

    if kind == "MFCCSegmenter":
        return segmenter.MFCCSegmenter
    if kind == "SegmentScaler":
        return preprocessing.SegmentScaler
    from . import classifiers

    return getattr(classifiers, kind)


def _restore_classifier(clf, entry: dict, json_path: Path) -> None:
    """Build ``clf``'s network for the saved shape and load its verified weights."""
    from scikeras.wrappers import KerasClassifier

    state, weights = entry["state"], entry.get("weights")
    _require(
        isinstance(weights, dict) and "file" in weights and "sha256" in weights,
        f"step {entry['name']!r} has no 'weights' entry with 'file' and 'sha256'.",
    )
    file_name = weights["file"]
    _require(
        isinstance(file_name, str) and Path(file_name).name == file_name,
        f"step {entry['name']!r}: weights 'file' must be a file name in the model folder.",
    )
    weights_path = json_path.parent / file_name
    if not weights_path.is_file():
        raise ValueError(f"Weights file {weights_path} (named in {json_path}) does not exist.")
    digest = _sha256(weights_path)
    if digest != weights["sha256"]:
        raise ValueError(
            f"Weights file {weights_path} does not match {json_path}: its SHA-256 is "
            f"{digest}, the model file records {weights['sha256']}. The file was changed, "
            "truncated or replaced; re-download or re-save the model."
        )
    classes = np.asarray(state["classes_"])
    segment_shape = tuple(int(n) for n in state["segment_shape_"])
    _require(len(classes) >= 2, f"step {entry['name']!r}: 'classes_' needs 2 or more genres.")
    _require(len(segment_shape) == 2, f"step {entry['name']!r}: 'segment_shape_' must be 2 ints.")
    n_segments = int(state["n_segments_in_"])
    # The network sees segment_window windows when that is set, not the segments.
    try:
        windows = clf._windows(np.zeros((1, n_segments, *segment_shape), dtype=np.float32))
    except ValueError as exc:
        raise _SchemaError(f"step {entry['name']!r}: {exc}") from None
    dummy = np.zeros((len(classes), *windows.shape[2:]), dtype=np.float32)
    # scikeras' own initialize: builds and compiles the network and fits the label encoder
    # without training; the weights are then loaded into it.
    try:
        KerasClassifier.initialize(clf, clf._network_input(dummy), classes)
    except (TypeError, ValueError) as exc:
        raise _SchemaError(f"step {entry['name']!r}: cannot build the network: {exc}") from None
    try:
        with warnings.catch_warnings():
            # The file holds no optimizer state (see _save_weights); Keras says so.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            clf.model_.load_weights(weights_path)
    except Exception as exc:  # noqa: BLE001 - h5py/keras raise many types
        raise ValueError(
            f"Weights file {weights_path} does not fit the network described in {json_path}: "
            f"{exc}"
        ) from None
    clf.classes_ = classes
    clf.segment_shape_ = segment_shape
    clf.n_segments_in_ = n_segments
    clf.n_features_in_ = int(state["n_features_in_"])
    clf.n_iter_ = int(state.get("n_iter_", 0))
    clf.history_ = {k: list(v) for k, v in state.get("history_", {}).items()}
