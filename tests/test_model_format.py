"""The no-pickle model format: round trips, digests, and the refusal of changed folders.

Probabilities are compared exactly only where the code guarantees it: a model and its save
and load, predicting with the same settings in the same process.  Across thread counts or
CPUs, FFT and BLAS results differ in the last bits (see the round-trip test).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import shutil
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder, SegmentClassifier, SegmentScaler
from sk_audio_genre.model_format import (
    FORMAT_VERSION,
    JSON_NAME,
    MAX_ARRAYS_FILE_BYTES,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    READ_VERSIONS,
    _content_digest,
    arrays_file_name,
    load_pipeline,
    model_digest,
    model_metadata,
    save_pipeline,
    sha256_file,
    training_record,
    upgrade_pipeline,
)
from sk_audio_genre.open_set import OpenSetClassifier
from sk_audio_genre.recipes import musicnn_recipe

from conftest import tone

SR = 22050
FLOAT = np.finfo(np.float64)


# --------------------------------------------------------------------------- helpers


def rewrite(folder: Path, edit) -> None:
    """Apply ``edit`` to pipeline.json and record its new digest, as a careful forger would."""
    path = folder / JSON_NAME
    document = json.loads(path.read_text())
    edit(document)
    document["sha256"] = _content_digest(document)
    path.write_text(json.dumps(document))


def saved_files(folder: Path) -> list[Path]:
    """The files ``pipeline.json`` lists (a saved model's arrays file), as paths."""
    return [folder / name for name in json.loads((folder / JSON_NAME).read_text())["files"]]


def replace_arrays_file(folder: Path, data: bytes) -> Path:
    """Make ``data`` the model's arrays file and record its digest, as a careful forger would."""
    digest = hashlib.sha256(data).hexdigest()
    name = arrays_file_name(digest)
    for old in saved_files(folder):
        old.unlink()
    (folder / name).write_bytes(data)
    rewrite(folder, lambda document: document.update(files={name: digest}))
    return folder / name


def saved_arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(saved_files(folder)[0], allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def npz_bytes(arrays: dict[str, np.ndarray], save=np.savez) -> bytes:
    buffer = io.BytesIO()
    save(buffer, **arrays)
    return buffer.getvalue()


def change_array(folder: Path, index: int, name: str, change) -> np.ndarray:
    """Give step ``index``'s array ``name`` the value ``change(array)``, re-digested, as a
    careful forger would; returns the array as it was."""
    member = step(json.loads((folder / JSON_NAME).read_text()), index)["arrays"][name]
    arrays = saved_arrays(folder)
    before = arrays[member]
    arrays[member] = change(before)
    replace_arrays_file(folder, npz_bytes(arrays))
    return before


def step(document: dict, *names: int | str) -> dict:
    """The estimator node reached by step indices or member/transformer names."""
    node = document["model"]
    for name in names:
        if isinstance(name, int):
            node = node["steps"][name]["estimator"]
        else:
            entries = node.get("members", node.get("transformers", []))
            node = next(e["estimator"] for e in entries if e["name"] == name)
    return node


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(all_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(all_keys(v) for v in value))
    return set()


def tiny_cnn():
    from sk_audio_genre import CNNGenreClassifier

    return CNNGenreClassifier(filters=(4, 4, 4), dense_units=8, batch_norm=True, epochs=2,
                              learning_rate=1e-2, random_state=0)


def fitted(model, X, y) -> SimpleNamespace:
    """A fitted model with its inputs and its probabilities before any save."""
    model.fit(X, y)
    return SimpleNamespace(model=model, X=X, proba=model.predict_proba(X))


# --------------------------------------------------------------------------- fitted models
# Session scope: a run that interleaves these tests with other modules' (mutmut runs them
# fastest first) would otherwise fit and save every model again at each switch of module.

@pytest.fixture(scope="session")
def numbers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return X, X[:, 0] + 0.3 * rng.normal(size=40)


@pytest.fixture(scope="session")
def lr_binary_model(numbers):
    X, score = numbers
    return fitted(make_pipeline(StandardScaler(), LogisticRegression()), X, (score > 0).astype(int))


@pytest.fixture(scope="session")
def lr_multiclass_model(numbers):
    X, score = numbers
    y = np.array(["a", "b", "c"])[np.digitize(score, [-0.5, 0.5])]
    return fitted(make_pipeline(StandardScaler(), LogisticRegression()), X, y)


@pytest.fixture(scope="session")
def union_model(numbers):
    """Parts side by side without audio: the musicnn recipe's FeatureUnion costs minutes."""
    X, score = numbers
    union = FeatureUnion([("centred", StandardScaler()),
                          ("scaled", StandardScaler(with_mean=False))])
    return fitted(make_pipeline(union, LogisticRegression()), X, (score > 0).astype(int))


@pytest.fixture(scope="session")
def segment_tracks():
    """40 tracks of 2 segments of 4 frames x 3 coefficients, without audio."""
    return np.random.default_rng(1).normal(size=(40, 2, 4, 3))


def write_tones(folder: Path, seconds: float, genres: dict[str, float]) -> tuple[list, np.ndarray]:
    paths, labels = [], []
    for i in range(6):
        genre = list(genres)[i % len(genres)]
        path = folder / f"{genre}{i}.wav"
        sf.write(path, tone(seconds, freq=genres[genre] + 20 * i, noise=0.1 * (i % 3), seed=i), SR)
        paths.append(str(path))
        labels.append(genre)
    return paths, np.array(labels)


@pytest.fixture(scope="session")
def short_files(tmp_path_factory):
    """Six 2 s files of two genres: low tones and high tones."""
    return write_tones(tmp_path_factory.mktemp("short"), 2.0, {"low": 220.0, "high": 3000.0})


@pytest.fixture(scope="session")
def long_files(tmp_path_factory):
    """Six 6 s files of three genres (musicnn reads 3 s patches)."""
    return write_tones(tmp_path_factory.mktemp("long"), 6.0,
                       {"low": 220.0, "mid": 880.0, "high": 3000.0})


@pytest.fixture(scope="session")
def recipe_model(long_files):
    recipe = musicnn_recipe(n_jobs=2).set_params(
        features__musicnn__duration=3.0, features__musicnn__verbose=1,
        features__mfcc__segments__n_segments=1, features__mfcc__segments__verbose=1,
    )  # fmt: skip
    return fitted(recipe, *long_files)


@pytest.fixture(scope="session")
def cnn_model(short_files):
    pipe = make_pipeline(MFCCSegmenter(n_segments=2, segment_duration=1.0), SegmentScaler(),
                         tiny_cnn())
    return fitted(pipe, *short_files)


@pytest.fixture(scope="session")
def segments_model(long_files):
    pipe = make_pipeline(MusicnnEmbedder(pooling="none", duration=6.0),
                         SegmentClassifier(make_pipeline(StandardScaler(), LogisticRegression())))
    return fitted(pipe, *long_files)


@pytest.fixture(scope="session")
def ensemble_model(short_files):
    """Members are fitted on encoded labels (0, 1), the ensemble on the genres' names."""
    from sk_audio_genre.ensemble import seeded_ensemble as seed_ensemble

    pipe = make_pipeline(MFCCSegmenter(n_segments=2, segment_duration=1.0), SegmentScaler(),
                         seed_ensemble(tiny_cnn(), n_members=2))
    return fitted(pipe, *short_files)


@pytest.fixture(scope="session")
def saved(request, tmp_path_factory):
    """``saved(name)``: the folder of ``<name>_model``, saved once; copy it to change it."""
    folders = {}

    def _saved(name: str) -> Path:
        if name not in folders:
            case = request.getfixturevalue(f"{name}_model")
            folders[name] = save_pipeline(case.model, tmp_path_factory.mktemp(name))
        return folders[name]

    return _saved


def case_of(request, name: str) -> SimpleNamespace:
    return request.getfixturevalue(f"{name}_model")


def parallelism_of(model) -> dict:
    """The ``n_jobs`` settings of every step of ``model``, to give a loaded copy the same."""
    return {key: value for key, value in model.get_params(deep=True).items()
            if key.rsplit("__", 1)[-1] == "n_jobs"}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "name", ["lr_binary", "lr_multiclass", "union", "recipe", "cnn", "segments", "ensemble"]
)
def test_round_trip_predicts_identical_probabilities(request, saved, name):
    case = case_of(request, name)
    loaded = load_pipeline(saved(name)).set_params(**parallelism_of(case.model))
    # Bit for bit, because the loaded model is the saved one predicting with the same
    # settings on the same machine: n_jobs decides where features are computed (the recipe's
    # n_jobs=2 runs them in worker processes whose BLAS has 1 thread, n_jobs=None here with
    # as many threads as cores), and FFT and BLAS results depend on thread counts and on the
    # CPU's instruction set (3.4e-8 apart on an AMD EPYC without AVX-512).
    np.testing.assert_array_equal(loaded.predict_proba(case.X), case.proba)
    np.testing.assert_array_equal(loaded.classes_, case.model.classes_)


@pytest.mark.parametrize("name", ["lr_multiclass", "union", "cnn", "ensemble"])
def test_loaded_model_saves_again_and_reloads_identically(request, saved, tmp_path, name):
    case = case_of(request, name)
    assert set(parallelism_of(case.model).values()) == {None}  # same settings: exact, as above
    again = save_pipeline(load_pipeline(saved(name) / JSON_NAME), tmp_path / "again")
    np.testing.assert_array_equal(load_pipeline(again).predict_proba(case.X), case.proba)


@pytest.mark.parametrize("name", ["lr_multiclass", "recipe", "cnn"])
def test_saving_the_same_model_twice_gives_the_same_digest(request, tmp_path, name):
    model = case_of(request, name).model
    first = model_digest(save_pipeline(model, tmp_path / "first"))
    second = model_digest(save_pipeline(model, tmp_path / "second"))
    assert len(first) == 64
    assert first == second


def test_digest_changes_when_a_fitted_array_changes(lr_multiclass_model, saved, tmp_path):
    changed = copy.deepcopy(lr_multiclass_model.model)
    changed[-1].intercept_ = np.nextafter(changed[-1].intercept_, np.inf)
    folder = save_pipeline(changed, tmp_path / "changed")
    assert model_digest(folder) != model_digest(saved("lr_multiclass"))


# --------------------------------------------------------------------------- folder contents


def test_a_save_creates_missing_parent_folders(lr_binary_model, tmp_path):
    folder = save_pipeline(lr_binary_model.model, tmp_path / "models" / "2026" / "lr")
    np.testing.assert_array_equal(load_pipeline(folder).predict_proba(lr_binary_model.X),
                                  lr_binary_model.proba)


def test_the_json_file_is_sorted_one_value_a_line_and_names_the_library_version(saved):
    """Two saved models compare line by line with diff; the version that wrote a model
    is in its file for whoever debugs it."""
    from sk_audio_genre._version import __version__

    text = (saved("lr_binary") / JSON_NAME).read_text()
    document = json.loads(text)
    assert text == json.dumps(document, indent=1, sort_keys=True) + "\n"
    assert document["sk_audio_genre_version"] == __version__


@pytest.mark.parametrize("name, n_networks", [("recipe", 0), ("cnn", 1), ("ensemble", 2)])
def test_folder_holds_json_and_arrays_only(saved, name, n_networks):
    folder = saved(name)
    [arrays_file] = saved_files(folder)
    assert {p.name for p in folder.iterdir()} == {JSON_NAME, arrays_file.name}
    assert arrays_file.name == arrays_file_name(sha256_file(arrays_file))  # named by content
    arrays = saved_arrays(folder)
    assert all(value.dtype.kind in "fiu" for value in arrays.values())
    weights = [key for key in arrays if ".weights." in key]
    # each network's weights, no optimizer state: a tiny CNN has 22 arrays with batch norm
    assert len(weights) == 22 * n_networks


def test_saving_into_a_used_folder_removes_stale_files(saved, lr_binary_model, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)  # another model, and a stale file:
    (folder / "old.weights.h5").write_bytes(b"stale")
    save_pipeline(lr_binary_model.model, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [JSON_NAME, *(path.name for path in saved_files(folder))])
    loaded = load_pipeline(folder)
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(lr_binary_model.X), lr_binary_model.proba)


# --------------------------------------------------------------------------- runtime settings


def test_runtime_settings_are_not_saved(recipe_model, saved):
    assert recipe_model.model.get_params()["features__musicnn__n_jobs"] == 2
    document = json.loads((saved("recipe") / JSON_NAME).read_text())
    assert not all_keys(document) & {"n_jobs", "verbose"}
    params = load_pipeline(saved("recipe")).get_params()
    for where in ("features__musicnn__", "features__mfcc__segments__"):
        assert params[where + "n_jobs"] is None
        assert params[where + "verbose"] == 0


def test_runtime_settings_written_into_the_file_are_ignored(saved, tmp_path):
    folder = copy_of(saved("recipe"), tmp_path)

    def add_settings(document):
        for node in (step(document, 0, "musicnn"), step(document, 0, "mfcc", 0)):
            node["params"].update(n_jobs=10000, verbose=5)

    rewrite(folder, add_settings)
    params = load_pipeline(folder).get_params()
    for where in ("features__musicnn__", "features__mfcc__segments__"):
        assert params[where + "n_jobs"] is None
        assert params[where + "verbose"] == 0


def test_n_jobs_and_verbose_routed_in_a_network_file_are_ignored(saved, tmp_path):
    folder = copy_of(saved("cnn"), tmp_path)
    # at any depth of routing, as build_with_params ignores them
    written = {"fit__verbose": 2, "fit__a__b__verbose": 1, "optimizer__x__n_jobs": 4}
    rewrite(folder, lambda d: step(d, 2)["params"].update(written))
    assert not set(written) & set(load_pipeline(folder)[-1].get_params())


def test_a_runtime_setting_first_in_a_file_hides_none_of_the_parameters_after_it(
        cnn_model, saved, tmp_path):
    folder = copy_of(saved("cnn"), tmp_path)

    def put_verbose_first(document):
        node = step(document, 2)
        node["params"] = {"verbose": 1, **node["params"]}

    rewrite(folder, put_verbose_first)
    network = load_pipeline(folder)[-1]
    assert network.get_params() == cnn_model.model[-1].get_params()


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("change, message", [
    (flip_a_byte, "Model file {path} does not match {json}: its SHA-256 is [0-9a-f]{{64}}, the "
                  "model file records [0-9a-f]{{64}}. The file was changed, truncated or "
                  "replaced; re-download or re-save the model."),
    (Path.unlink, "Model file {path} \\(named in {json}\\) does not exist\\."),
], ids=["arrays-byte", "arrays-deleted"])  # fmt: skip
def test_changed_or_missing_file_is_refused(saved, tmp_path, change, message):
    folder = copy_of(saved("cnn"), tmp_path)
    [path] = saved_files(folder)
    change(path)
    with pytest.raises(ValueError, match=message.format(
            path=re.escape(str(path)), json=re.escape(str(folder / JSON_NAME)))):
        load_pipeline(folder)


@pytest.mark.parametrize("files, message", [
    (lambda name, digest: {}, r"steps\[0\]\.estimator\.arrays\.\w+: 'files' lists no arrays "
                              r"file\."),
    (lambda name, digest: {name: digest[:-1]}, r"'files'\['arrays-[0-9a-f]{64}\.npz'\] must be "
                                               r"a SHA-256 hex digest\."),
    (lambda name, digest: {name: digest, arrays_file_name("0" * 64): "0" * 64},
     r"'files' may list only the arrays file, named 'arrays-<its SHA-256>\.npz' in format "
     r"version 3; it lists \['arrays-0{64}\.npz', 'arrays-[0-9a-f]{64}\.npz'\]\."),
], ids=["none", "not-a-digest", "two"])  # fmt: skip
def test_files_must_list_the_arrays_file_alone(saved, tmp_path, files, message):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: d.update(files=files(*next(iter(d["files"].items())))))
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


def test_an_array_the_arrays_file_does_not_hold_is_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: step(d, 1)["arrays"].update(coef_="nope"))
    [path] = saved_files(folder)
    with pytest.raises(ValueError, match=rf"steps\[1\]\.estimator\.arrays\.coef_: array 'nope' "
                                         rf"is not in {re.escape(path.name)}\."):
        load_pipeline(folder)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.astype(np.int64), r"must be a 2-D array of kind 'f', got int64 with shape "
                                   r"\(3, 3\)\."),
    (np.ravel, r"must be a 2-D array of kind 'f', got float64 with shape \(9,\)\."),
    (lambda a: np.where(np.eye(3, dtype=bool), np.nan, a), r"holds NaN or infinite values\."),
], ids=["kind", "rank", "nan"])  # fmt: skip
def test_an_array_of_another_kind_rank_or_with_nan_is_refused(saved, tmp_path, change,
                                                              message):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    change_array(folder, 1, "coef_", change)
    with pytest.raises(ValueError, match=r"steps\[1\]\.estimator\.arrays\.coef_ " + message):
        load_pipeline(folder)


@pytest.mark.parametrize("n_iter", [[0], [2**31 - 1]], ids=["zero", "int32-max"])
def test_counts_at_their_bounds_load_as_the_integers_fit_makes(saved, tmp_path, n_iter):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: step(d, 1)["state"].update(n_iter_=n_iter))
    loaded = load_pipeline(folder)[-1].n_iter_
    assert loaded.dtype == np.int32  # as LogisticRegression.fit makes it
    assert loaded.tolist() == n_iter


def test_a_folder_replaced_at_every_attempt_is_refused_after_the_last(saved, tmp_path,
                                                                      monkeypatch):
    from sk_audio_genre import model_format

    folder = copy_of(saved("lr_multiclass"), tmp_path)
    saved_files(folder)[0].unlink()  # each attempt finds the arrays file gone ...
    attempts = iter(range(100))
    read = model_format._read_json_bytes  # ... and a new pipeline.json when it looks again
    monkeypatch.setattr(model_format, "_read_json_bytes",
                        lambda path: read(path) + b" " * next(attempts))
    with pytest.raises(ValueError, match=re.escape(
            f"{folder / JSON_NAME} was replaced {model_format.MAX_LOAD_ATTEMPTS} times while "
            "it was being loaded; load it again once the saves into its folder are done.")):
        load_pipeline(folder)
    assert next(attempts) == model_format.MAX_LOAD_ATTEMPTS


def test_a_model_of_one_feature_round_trips(numbers, tmp_path):
    X, score = numbers
    case = fitted(make_pipeline(StandardScaler(), LogisticRegression()), X[:, :1],
                  (score > 0).astype(int))
    loaded = load_pipeline(save_pipeline(case.model, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(case.X), case.proba)


@pytest.mark.parametrize("name, edit, message", [
    ("lr_multiclass", lambda d: step(d, 0)["state"].update(n_features_in_=0),
     r"steps\[0\]\.estimator\.state\.n_features_in_ must be a positive integer, got 0\."),
    ("lr_multiclass", lambda d: step(d, 1)["state"].update(classes_=["a"]),
     r"steps\[1\]\.estimator\.state\.classes_ must list 2 or more strings or integers\."),
    ("cnn", lambda d: step(d, 2)["state"].update(segment_shape_=[43, 13, 1]),
     r"steps\[2\]\.estimator\.state\.segment_shape_ must be two positive integers\."),
    ("cnn", lambda d: step(d, 2)["state"].update(segment_shape_=[43.5, 13]),
     r"steps\[2\]\.estimator\.state\.segment_shape_ must be two positive integers\."),
], ids=["no-features", "one-class", "three-axes", "fraction"])  # fmt: skip
def test_sizes_and_classes_that_fit_cannot_make_are_refused(saved, tmp_path, name, edit,
                                                              message):
    folder = copy_of(saved(name), tmp_path)
    rewrite(folder, edit)
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


@pytest.mark.parametrize("history, message", [
    ({"loss": [0.5, None]}, None),  # a NaN loss is saved as null
    ({"loss": "0.5"}, r"history_\.loss must be a list of numbers\."),
    ({"loss": [0.5, "0.4"]}, r"history_\.loss must be a list of numbers\."),
], ids=["null", "string", "string-item"])  # fmt: skip
def test_a_networks_training_history_holds_numbers_or_nulls(saved, tmp_path, history,
                                                             message):
    folder = copy_of(saved("cnn"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["state"].update(history_=history))
    if message is None:  # null loads as NaN again
        np.testing.assert_array_equal(load_pipeline(folder)[-1].history_["loss"], [0.5, np.nan])
    else:
        with pytest.raises(ValueError, match=r"steps\[2\]\.estimator\.state\." + message):
            load_pipeline(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["model"]["steps"][1].update(name=""), r"steps\[1\]\.name '' must be non-empty"),
    (lambda d: d["model"]["steps"][1].update(name="a__b"), r"steps\[1\]\.name 'a__b' must be "),
    (lambda d: d["model"]["steps"][1].update(name=d["model"]["steps"][0]["name"]),
     r"steps\[1\]\.name 'standardscaler' must be non-empty, unique and free of '__'\."),
    (lambda d: d["model"].update(steps=[]), r"model\.steps must not be empty\."),
], ids=["empty", "separator", "twice", "no-steps"])  # fmt: skip
def test_step_names_scikit_learn_cannot_take_are_refused(saved, tmp_path, edit, message):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, edit)
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda d, arrays: step(d, 2).update(weights=[1]), r"weights must list array names\."),
    (lambda d, arrays: step(d, 2)["weights"].__setitem__(0, "nope"),
     r"weights\[0\]: array 'nope' is not in arrays-"),
    (lambda d, arrays: arrays.update({step(d, 2)["weights"][0]: np.zeros((3, 3, 1, 4), int)}),
     r"weights must be finite floating-point arrays\."),
    (lambda d, arrays: arrays.update({step(d, 2)["weights"][0]: np.full((3, 3, 1, 4), np.nan)}),
     r"weights must be finite floating-point arrays\."),
], ids=["not-names", "missing", "integers", "nan"])  # fmt: skip
def test_network_weights_that_are_not_finite_float_arrays_are_refused(saved, tmp_path, edit,
                                                                      message):
    folder = copy_of(saved("cnn"), tmp_path)
    arrays = saved_arrays(folder)
    rewrite(folder, lambda d: edit(d, arrays))
    replace_arrays_file(folder, npz_bytes(arrays))
    with pytest.raises(ValueError, match=r"steps\[2\]\.estimator\." + message):
        load_pipeline(folder)


def test_a_network_of_the_most_weights_loads_and_one_more_is_refused(saved, monkeypatch):
    from sk_audio_genre import model_format

    folder = saved("cnn")
    arrays = saved_arrays(folder)
    keys = step(json.loads((folder / JSON_NAME).read_text()), 2)["weights"]
    n_weights = sum(arrays[key].size for key in keys)
    monkeypatch.setattr(model_format, "MAX_NETWORK_WEIGHTS", n_weights)
    load_pipeline(folder)
    monkeypatch.setattr(model_format, "MAX_NETWORK_WEIGHTS", n_weights - 1)
    with pytest.raises(ValueError, match=rf"steps\[2\]\.estimator: more than "
                                         rf"{n_weights - 1:,} weights\."):
        load_pipeline(folder)


@pytest.mark.parametrize("model, index, name", [
    ("lr_multiclass", 0, "scale_"), ("lr_multiclass", 0, "mean_"), ("lr_multiclass", 0, "var_"),
    ("lr_multiclass", 1, "intercept_"), ("cnn", 1, "mean_"), ("cnn", 1, "scale_"),
], ids=["scale", "mean", "var", "intercept", "segment-mean", "segment-scale"])  # fmt: skip
def test_an_array_of_another_length_is_refused(saved, tmp_path, model, index, name):
    folder = copy_of(saved(model), tmp_path)
    length = len(change_array(folder, index, name, lambda a: a[:2]))
    with pytest.raises(ValueError, match=rf"steps\[{index}\]\.estimator\.arrays\.{name} has "
                                         rf"2 entries, expected {length}\."):
        load_pipeline(folder)


@pytest.mark.parametrize("scaler, missing", [
    (StandardScaler(), True), (StandardScaler(with_mean=False, with_std=False), False)],
    ids=["counts-per-feature", "no-mean"])  # fmt: skip
def test_a_scalers_fitted_state_round_trips(numbers, tmp_path, scaler, missing):
    X = numbers[0].copy()
    if missing:
        X[0, 1] = np.nan  # then n_samples_seen_ counts each feature
    model = make_pipeline(scaler).fit(X)
    loaded = load_pipeline(save_pipeline(model, tmp_path / "m"))[0]
    for name in ("n_samples_seen_", "mean_", "var_", "scale_"):
        expected = getattr(model[0], name)
        np.testing.assert_array_equal(getattr(loaded, name), expected)
        assert np.asarray(getattr(loaded, name)).dtype == np.asarray(expected).dtype
    if missing:  # counts written as JSON integers still load as the float64 fit makes
        folder = save_pipeline(model, tmp_path / "ints")
        rewrite(folder, lambda d: step(d, 0)["state"].update(
            n_samples_seen_=[int(n) for n in model[0].n_samples_seen_]))
        assert load_pipeline(folder)[0].n_samples_seen_.dtype == np.float64


def test_steps_whose_sizes_do_not_chain_are_refused(short_files, tmp_path):
    from sk_audio_genre import SegmentStatistics

    pipe = make_pipeline(MFCCSegmenter(n_segments=1, segment_duration=1.0), SegmentStatistics(),
                         LogisticRegression())
    folder = save_pipeline(pipe.fit(*short_files), tmp_path / "m")
    rewrite(folder, lambda d: step(d, 0)["params"].update(n_mfcc=20))
    # the middle step takes 13 coefficients and gives 26 statistics
    with pytest.raises(ValueError, match=re.escape(
            "model: step 'mfccsegmenter' gives 20 values per frame or track but step "
            "'segmentstatistics' expects 13.")):
        load_pipeline(folder)
    # each parameter within its range, together not: the segmenter's own check, as fit makes it
    rewrite(folder, lambda d: step(d, 0)["params"].update(n_mfcc=13, hop_length=4096))
    with pytest.raises(ValueError, match=r"model\.steps\[0\]\.estimator\.params: "
                                         r"hop_length=4096 is longer than n_fft=2048"):
        load_pipeline(folder)


def test_the_widths_steps_pass_on_are_known_through_nesting(numbers, segment_tracks):
    """What the chain check compares: (values in, values out) of each kind of step,
    nested or not; a part of unknown width makes its union's unknown."""
    from sklearn.ensemble import VotingClassifier
    from sklearn.preprocessing import FunctionTransformer

    from sk_audio_genre import SegmentStatistics
    from sk_audio_genre.model_format import feature_count

    X, score = numbers
    y = (score > 0).astype(int)
    statistics = SegmentStatistics().fit(segment_tracks)  # 3 coefficients in, mean and std out
    six = np.hstack([X, X])

    def union():
        return FeatureUnion([("centred", StandardScaler()), ("scaled", StandardScaler())])

    assert feature_count(union().fit(X)) == (None, 6)
    assert feature_count(statistics) == (3, 6)
    assert feature_count(make_pipeline(statistics, StandardScaler().fit(six))) == (3, 6)
    assert feature_count(make_pipeline(statistics, StandardScaler().fit(six),
                                       union().fit(six))) == (3, 12)
    unknown = FeatureUnion([("scaled", StandardScaler()), ("f", FunctionTransformer())]).fit(X)
    assert feature_count(unknown) == (None, None)
    assert feature_count(OpenSetClassifier(LogisticRegression()).fit(X, y)) == (3, None)
    vote = VotingClassifier([("a", LogisticRegression()), ("b", LogisticRegression())],
                            voting="soft").fit(X, y)
    assert feature_count(vote) == (3, None)


def test_segment_statistics_keep_their_fitted_facts(numbers, segment_tracks, tmp_path):
    from sk_audio_genre import SegmentStatistics

    _, score = numbers
    model = make_pipeline(SegmentStatistics(), StandardScaler(), LogisticRegression())
    model.fit(segment_tracks, (score > 0).astype(int))
    loaded = load_pipeline(save_pipeline(model, tmp_path / "statistics"))
    # scikit-learn's n_features_in_ counts axis 1: segments per track
    assert (loaded[0].n_features_in_, loaded[0].n_coefficients_) == (2, 3)
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(segment_tracks),
                                  model.predict_proba(segment_tracks))


def test_steps_whose_array_names_collide_keep_their_own_arrays(numbers, tmp_path):
    """A step named ``a.x`` and part ``x`` of step ``a`` both give ``model.a.x.mean_``."""
    from sklearn.pipeline import Pipeline

    X, score = numbers
    model = Pipeline([("a.x", StandardScaler()),
                      ("a", FeatureUnion([("x", StandardScaler(with_std=False))])),
                      ("lr", LogisticRegression())]).fit(X * 3 + 1, (score > 0).astype(int))
    loaded = load_pipeline(save_pipeline(model, tmp_path / "collide"))
    np.testing.assert_array_equal(loaded[0].mean_, model[0].mean_)
    np.testing.assert_array_equal(loaded[1].transformer_list[0][1].mean_,
                                  model[1].transformer_list[0][1].mean_)


def test_a_feature_union_with_transformer_weights_is_refused_when_saving(numbers, tmp_path):
    X, _ = numbers
    union = FeatureUnion([("a", StandardScaler())], transformer_weights={"a": 2.0}).fit(X)
    with pytest.raises(TypeError, match=r"^model is a FeatureUnion, which the no-pickle"):
        save_pipeline(union, tmp_path / "weighted")


def test_a_missing_field_is_named(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: step(d, 1)["state"].pop("n_features_in_"))
    with pytest.raises(ValueError, match=r"steps\[1\]\.estimator\.state has no "
                                         r"'n_features_in_' field\."):
        load_pipeline(folder)


def test_an_arrays_file_over_the_bound_is_refused_unread(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    [path] = saved_files(folder)
    with open(path, "r+b") as fh:
        fh.truncate(MAX_ARRAYS_FILE_BYTES)  # sparse: no disk
    with pytest.raises(ValueError, match="does not match"):  # hashed: at the bound
        load_pipeline(folder)
    with open(path, "r+b") as fh:
        fh.truncate(MAX_ARRAYS_FILE_BYTES + 1)
    with pytest.raises(ValueError, match=re.escape(
            f"{path} is {MAX_ARRAYS_FILE_BYTES + 1:,} bytes, more than the "
            f"{MAX_ARRAYS_FILE_BYTES:,} an arrays file may have.")):
        load_pipeline(folder)


@pytest.mark.parametrize("edit", [
    lambda d: step(d, 2)["params"].update(epochs=3),
    lambda d: step(d, 1)["state"].update(n_features_in_=14),
    lambda d: d["metadata"].update(trained_on=["elsewhere"]),
], ids=["parameter", "state", "metadata"])  # fmt: skip
def test_json_edited_after_saving_is_refused(saved, tmp_path, edit):
    folder = copy_of(saved("cnn"), tmp_path)
    path = folder / JSON_NAME
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="was changed after it was saved") as info:
        load_pipeline(folder)
    assert str(path) in str(info.value)


def test_pinned_digest_accepts_only_that_model(lr_binary_model, saved):
    folder = saved("lr_binary")
    with pytest.raises(ValueError, match="not the expected model") as info:
        load_pipeline(folder, sha256="0" * 64)
    assert str(folder / JSON_NAME) in str(info.value)
    loaded = load_pipeline(folder, sha256=model_digest(folder))
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(lr_binary_model.X), lr_binary_model.proba)


# --------------------------------------------------------------------------- inconsistent edits


def reverse_classes(document):
    state = step(document, 1)["state"]
    state["classes_"] = state["classes_"][::-1]


@pytest.mark.parametrize("name, edit, message", [
    ("lr_multiclass", reverse_classes, r"classes_ must be distinct and sorted"),
    ("lr_multiclass", lambda d: step(d, 1)["state"].update(classes_=["a", "b"]),
     r"coef_ has 3 entries, expected 1"),
    ("lr_binary", lambda d: step(d, 1)["state"].update(classes_=[0, 1, 2]),
     r"coef_ has 1 entries, expected 3"),
    ("ensemble", lambda d: step(d, 2, "member0")["state"].update(classes_=[0, 2]),
     r"members\[0\]: member classes \[.*0.*2\]"),
    ("recipe", lambda d: step(d, 0, "musicnn")["params"].update(layer="taggram"),
     r"step 'features' gives 76 values .* but step 'scale' expects 226"),
    ("recipe", lambda d: step(d, 0, "mfcc", 0)["params"].update(n_mfcc=20),
     r"step 'segments' gives 20 values .* but step 'statistics' expects 13"),
    ("lr_multiclass", lambda d: step(d, 1).update({"class": "os.system"}),
     r"class is 'os.system', not one of"),
    ("lr_multiclass", lambda d: step(d, 0)["params"].update(nope=1),
     r"unknown parameter 'nope' for StandardScaler"),
    ("segments", lambda d: step(d, 1)["state"].update(segment_shape_=[1, 7]),
     r"segments of \(1, 7\) give 7 values, but its estimator expects"),
], ids=["classes-reversed", "classes-fewer-than-rows", "classes-more-than-rows",
        "ensemble-member-classes", "recipe-embedder-size", "recipe-segmenter-size",
        "unknown-class", "unknown-parameter", "segment-shape"])  # fmt: skip
def test_consistent_looking_but_inconsistent_edit_is_refused(saved, tmp_path, name, edit,
                                                             message):
    folder = copy_of(saved(name), tmp_path)
    rewrite(folder, edit)
    with pytest.raises(ValueError, match=message) as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)


def test_non_positive_scale_is_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    arrays = saved_arrays(folder)
    key = step(json.loads((folder / JSON_NAME).read_text()), 0)["arrays"]["scale_"]
    arrays[key][1] = 0.0
    replace_arrays_file(folder, npz_bytes(arrays))
    with pytest.raises(ValueError, match=r"steps\[0\].*scale_ must be positive"):
        load_pipeline(folder)


def test_network_shapes_are_checked_before_building(saved, tmp_path, monkeypatch):
    from sk_audio_genre import CNNGenreClassifier

    folder = copy_of(saved("cnn"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update(filters=[4, 4, 5]))
    built = []
    original = CNNGenreClassifier._build_network
    monkeypatch.setattr(CNNGenreClassifier, "_build_network",
                        lambda self, *a, **k: built.append(a) or original(self, *a, **k))
    with pytest.raises(ValueError, match=r"saved weights have shapes .*\(2, 2, 4, 4\)"
                                         r".* has .*\(2, 2, 4, 5\)") as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)
    assert built == []


# --------------------------------------------------------------------------- malformed JSON


def with_literal(literal: str):
    """pipeline.json with the LogisticRegression's C written as ``literal``."""

    def write(path: Path) -> None:
        document = json.loads(path.read_text())
        step(document, 1)["params"]["C"] = "@@"
        path.write_text(json.dumps(document).replace('"@@"', literal))

    return write


def edited(edit):
    return lambda path: rewrite(path.parent, edit)


def nested(depth: int):
    return {"deep": json.loads("[" * depth + "]" * depth)}


@pytest.mark.parametrize("write, message", [
    (lambda p: p.write_text("{not json"), r"not JSON"),
    (lambda p: p.write_text("[1, 2]"), r"must be a JSON object, got list"),
    (with_literal("NaN"), r"not JSON.*NaN is not a number"),
    (with_literal("Infinity"), r"not JSON.*Infinity is not a number"),
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), r"nested too deeply"),
    (edited(lambda d: d["metadata"].update(nested(100))), r"nested too deeply"),
    (lambda p: p.write_text(p.read_text() + " " * 17_000_000), r"bytes, more than"),
    (edited(lambda d: step(d, 0).update(state=None)), r"state must be an object, got NoneType"),
    (edited(lambda d: step(d, 0)["state"].update(n_features_in_="3")),
     r"n_features_in_ must be an integer, got str"),
    (edited(lambda d: step(d, 0)["state"].update(n_features_in_=True)),
     r"n_features_in_ must be an integer, got True"),
    (edited(lambda d: d.update(format_version=1)),
     r"'format_version' is 1: its genre networks' weights are Keras HDF5 files"),
    (edited(lambda d: d.update(format="other.format")), r"'format' is 'other.format'"),
    (edited(lambda d: step(d, 0)["params"].update(with_mean="yes")),
     r"steps\[0\]\.estimator\.params: The 'with_mean' parameter of StandardScaler must be an "
     r"instance of 'bool'"),
    (with_literal("1e400"), r"1e400|finite"),
    (edited(lambda d: step(d, 1)["state"].update(n_iter_=[None])), r"n_iter_"),
    (edited(lambda d: step(d, 0)["state"].update(n_samples_seen_=[40, 39.5, 40])),
     r"n_samples_seen_ must be a list of integers from 0 to 9007199254740992\."),
    (edited(lambda d: step(d, 0)["arrays"].pop("mean_")),
     r"steps\[0\]\.estimator\.arrays has no mean_ but with_mean is true\."),
    (edited(lambda d: step(d, 1)["state"].update(n_features_in_=4)),
     r"steps\[1\]\.estimator\.arrays\.coef_ has 3 columns, but n_features_in_ is 4\."),
    (edited(lambda d: step(d, 0)["state"].update(n_samples_seen_=[40, 40])),
     r"n_samples_seen_ has 2 entries, expected 3\."),
    (edited(lambda d: step(d, 1)["state"].update(n_iter_=[2**63])),
     r"n_iter_ must be a list of integers from 0 to 2147483647"),
], ids=["not-json", "list", "nan", "infinity", "deep-100000", "deep-100", "17MB", "null",
        "string-for-int", "true-for-int", "format-version", "format", "constraint", "1e400",
        "null-item", "fraction-of-a-count", "no-mean", "coef-columns", "counts-per-feature",
        "count-2**63"])  # fmt: skip
def test_malformed_json_is_a_value_error_naming_the_file(saved, tmp_path, write, message):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    path = folder / JSON_NAME
    write(path)
    with pytest.raises(ValueError, match=message) as info:
        load_pipeline(folder)
    assert str(path) in str(info.value)


def test_json_nested_to_the_limit_loads_and_one_level_more_is_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    # the document's object, "metadata"'s and MAX_JSON_DEPTH - 2 levels of lists
    rewrite(folder, lambda d: d["metadata"].update(nested(MAX_JSON_DEPTH - 2)))
    load_pipeline(folder)
    rewrite(folder, lambda d: d["metadata"].update(nested(MAX_JSON_DEPTH - 1)))
    with pytest.raises(ValueError, match="nested too deeply"):
        load_pipeline(folder)


def test_json_of_the_largest_size_loads_and_one_byte_more_is_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    path = folder / JSON_NAME
    text = path.read_bytes()
    path.write_bytes(text + b" " * (MAX_JSON_BYTES - len(text)))
    load_pipeline(folder)
    path.write_bytes(text + b" " * (MAX_JSON_BYTES + 1 - len(text)))
    with pytest.raises(ValueError, match=re.escape(
            f"{path} has over {MAX_JSON_BYTES:,} bytes, more than a model file can be.")):
        load_pipeline(folder)


def test_an_oversized_json_is_not_read_whole(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    with open(folder / JSON_NAME, "r+b") as fh:
        fh.truncate(8 * MAX_JSON_BYTES)  # a sparse file: 128 MiB of zeros on no disk
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than a model file can be"):
            load_pipeline(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_JSON_BYTES


def test_model_digest_of_a_list_names_the_file(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    (folder / JSON_NAME).write_text("[1, 2]")
    with pytest.raises(ValueError, match=str(folder / JSON_NAME)):
        model_digest(folder)


def test_metadata_and_digest_of_a_file_that_is_not_json_name_the_file(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    (folder / JSON_NAME).write_text("{not json")
    for read in (model_metadata, model_digest):
        with pytest.raises(ValueError, match=rf"{folder / JSON_NAME} is not a valid model "
                           r"file: not JSON"):
            read(folder)


def test_metadata_of_a_file_without_it_is_empty_and_of_another_kind_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: d.pop("metadata"))
    assert model_metadata(folder) == {}
    rewrite(folder, lambda d: d.update(metadata=[]))
    with pytest.raises(ValueError, match=r"pipeline\.json\.metadata must be an object, got list"):
        model_metadata(folder)


# --------------------------------------------------------------------------- outside files


def test_symlink_out_of_the_folder_is_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    [path] = saved_files(folder)
    outside = tmp_path / "elsewhere" / path.name
    outside.parent.mkdir()
    shutil.move(path, outside)
    path.symlink_to(outside)
    with pytest.raises(ValueError, match="outside the model folder") as info:
        load_pipeline(folder)
    assert str(path) in str(info.value)


def test_files_named_outside_the_folder_are_refused(saved, tmp_path):
    folder = copy_of(saved("cnn"), tmp_path)
    [path] = saved_files(folder)
    shutil.copy(path, tmp_path / path.name)

    def point_outside(document):
        document["files"] = {f"../{path.name}": document["files"][path.name]}

    rewrite(folder, point_outside)
    with pytest.raises(ValueError, match=r"'files' may list only") as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)


def test_compressed_arrays_are_refused(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    path = replace_arrays_file(folder, npz_bytes(saved_arrays(folder), np.savez_compressed))
    with pytest.raises(ValueError, match="is compressed") as info:
        load_pipeline(folder)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- saving


def test_unknown_estimator_is_refused(numbers, tmp_path):
    X, score = numbers
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2))
    forest.fit(X, score > 0)
    with pytest.raises(TypeError, match="is a RandomForestClassifier"):
        save_pipeline(forest, tmp_path / "forest")


def test_unfitted_pipeline_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        save_pipeline(make_pipeline(StandardScaler(), LogisticRegression()), tmp_path / "m")


def test_parameters_that_are_not_json_warn_and_the_model_saves(cnn_model, saved, tmp_path):
    import keras

    model = load_pipeline(saved("cnn"))
    model[-1].set_params(callbacks=[keras.callbacks.TerminateOnNaN()])
    with pytest.warns(UserWarning, match=r"parameters \['model.cnngenreclassifier.callbacks'\]"):
        folder = save_pipeline(model, tmp_path / "callbacks")
    loaded = load_pipeline(folder)
    assert loaded[-1].callbacks is None
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(cnn_model.X), cnn_model.proba)


def test_parameters_that_are_not_json_are_named_in_one_warning_at_the_callers_line(
        lr_binary_model, tmp_path):
    model = copy.deepcopy(lr_binary_model.model)
    model[-1].set_params(C=float("nan"), tol=float("inf"))  # JSON has no NaN or infinity
    with pytest.warns(UserWarning) as caught:
        folder = save_pipeline(model, tmp_path / "nan")
    [warning] = caught
    assert str(warning.message) == (
        "parameters ['model.logisticregression.C', 'model.logisticregression.tol'] cannot be "
        "saved as JSON; the loaded model has their default values.")
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add stack frames
        assert warning.filename == __file__  # the line that saved, however deep the step
    loaded = load_pipeline(folder)[-1]
    assert (loaded.C, loaded.tol) == (1.0, 1e-4)
    json.loads((folder / JSON_NAME).read_text(), parse_constant=pytest.fail)


@pytest.mark.parametrize("make, step_name, parameter", [
    (lambda X, y: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
     "standardscaler", "copy"),
    (lambda X, y: make_pipeline(SegmentScaler(), SegmentClassifier(LogisticRegression())).fit(
        X[:, np.newaxis, np.newaxis, :], y), "segmentscaler", "with_mean"),  # 1 segment, 1 x 3
    (lambda X, y: make_pipeline(OpenSetClassifier(LogisticRegression())).fit(X, y),
     "opensetclassifier", "false_rejection_rate"),
    (lambda X, y: make_pipeline(FeatureUnion([("centred", StandardScaler())]),
                                LogisticRegression()).fit(X, y),
     "featureunion", "centred__copy"),
    (lambda X, y: make_pipeline(  # fit checks parameters only, without reading the file
        MFCCSegmenter(n_mfcc=3).fit(["a.wav"]),
        *make_pipeline(SegmentScaler(), SegmentClassifier(LogisticRegression())).fit(
            X[:, np.newaxis, np.newaxis, :], y)), "mfccsegmenter", "offset"),
], ids=["standard-scaler", "segment-scaler", "open-set", "feature-union", "mfcc"])
def test_each_steps_unsaved_parameters_are_named_by_their_path(numbers, tmp_path, make,
                                                               step_name, parameter):
    X, score = numbers
    model = make(X, (score > 0).astype(int))
    target = model.named_steps[step_name]
    *parts, name = parameter.split("__")
    for part in parts:
        target = target.named_transformers[part]
    setattr(target, name, float("nan"))  # as set_params would, without its checks
    path = f"model.{step_name}.{parameter}".replace("__", ".")
    with pytest.warns(UserWarning, match=re.escape(f"['{path}']")):
        save_pipeline(model, tmp_path / "model")


def test_a_networks_keras_setting_that_loading_refuses_is_refused_when_saving(saved, tmp_path):
    model = load_pipeline(saved("cnn"))
    model[-1].loss = "no_such_loss"  # as set_params would, without its checks
    with pytest.raises(ValueError, match=re.escape(
            "model.cnngenreclassifier.params.loss is 'no_such_loss', which is not a name from "
            "keras.losses. (a saved model could not be loaded with it)")):
        save_pipeline(model, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_a_votes_settings_refusals_and_warnings_name_the_vote(numbers, tmp_path):
    """What loading would refuse is refused when saving, naming the step (and the folder
    is not written); the id avoids 'ensemble', which mutmut's run skips."""
    from sklearn.ensemble import VotingClassifier

    from sk_audio_genre._limits import MAX_ENSEMBLE_MEMBERS

    X, score = numbers

    def vote(n_members=2, y=(score > 0).astype(int), **params):
        members = [(f"m{i}", LogisticRegression()) for i in range(n_members)]
        params = {"voting": "soft", **params}
        return make_pipeline(StandardScaler(), VotingClassifier(members, **params)).fit(X, y)

    loaded = load_pipeline(save_pipeline(vote(), tmp_path / "defaults"))[-1]
    assert (loaded.weights, loaded.flatten_transform) == (None, True)
    with pytest.raises(TypeError, match=r"^model\.votingclassifier is a VotingClassifier, which"):
        save_pipeline(vote(voting="hard"), tmp_path / "hard")  # averages no probabilities
    refusals = [
        (vote(MAX_ENSEMBLE_MEMBERS + 1), ValueError,
         rf"model\.votingclassifier has {MAX_ENSEMBLE_MEMBERS + 1} members, more than"),
        (vote(weights=[0, 0]), ValueError,
         r"model\.votingclassifier\.params\.weights sum to 0\.0"),
        (vote(y=(score > 0) * 1.0), TypeError,
         r"model\.votingclassifier: class labels \[0\.0, 1\.0\] cannot be saved"),
    ]
    for model, error, message in refusals:
        with pytest.raises(error, match="^" + message):
            save_pipeline(model, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()
    model = vote()
    model[-1].estimators_[1].set_params(C=float("nan"))
    with pytest.warns(UserWarning, match=re.escape("['model.votingclassifier.m1.C']")):
        save_pipeline(model, tmp_path / "warned")


def test_refused_save_keeps_the_model_already_in_the_folder(saved, lr_multiclass_model,
                                                            numbers, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    X, score = numbers
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2))
    with pytest.raises(TypeError):
        save_pipeline(forest.fit(X, score > 0), folder)
    loaded = load_pipeline(folder)
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(lr_multiclass_model.X),
                                  lr_multiclass_model.proba)


def test_model_of_float_labels_is_refused_when_saved(numbers, tmp_path):
    """Class labels are kept as strings or integers; floats are refused by name, before
    anything is written (a float label would not come back as the same value)."""
    X, score = numbers
    y = np.digitize(score, np.quantile(score, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])) * 1.0
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match=r"logisticregression: class labels \[0\.0, 1\.0, 2\.0, "
                                        r"3\.0, 4\.0\] cannot be saved; the no-pickle format "
                                        r"keeps strings or integers"):  # the first 5 of 6
        save_pipeline(model, tmp_path / "floats")
    assert not (tmp_path / "floats").exists()


def test_a_network_of_float_labels_is_refused_when_saving_naming_the_step(saved, tmp_path):
    model = load_pipeline(saved("cnn"))
    model[-1].classes_ = np.array([0.0, 1.0])  # as fit on float labels makes it
    with pytest.raises(TypeError, match=r"^model\.cnngenreclassifier: class labels \[0\.0, 1\.0\] "
                                        r"cannot be saved"):
        save_pipeline(model, tmp_path / "floats")
    assert not (tmp_path / "floats").exists()


@pytest.mark.parametrize("wrapper", ["segmentclassifier", "opensetclassifier"])
def test_a_wrappers_refusals_name_the_path_to_what_cannot_be_saved(numbers, wrapper, tmp_path):
    from sk_audio_genre.open_set import OpenSetClassifier

    X, score = numbers
    wrap = {"segmentclassifier": SegmentClassifier,
            "opensetclassifier": OpenSetClassifier}[wrapper]
    if wrapper == "segmentclassifier":
        X = X[:, np.newaxis, np.newaxis, :]  # tracks of one segment of 1 x 3 values
    forest = make_pipeline(wrap(RandomForestClassifier(n_estimators=2)))
    forest.fit(X, (score > 0).astype(int))
    with pytest.raises(TypeError, match=rf"^model\.{wrapper}\.estimator is a RandomForestClass"):
        save_pipeline(forest, tmp_path / "forest")
    floats = make_pipeline(wrap(LogisticRegression())).fit(X, (score > 0) * 1.0)
    with pytest.raises(TypeError, match=rf"^model\.{wrapper}: class labels \[0\.0, 1\.0\] cannot"):
        save_pipeline(floats, tmp_path / "floats")


@pytest.mark.parametrize("key, message", [
    ("nope__x", r"params\.nope__x: a saved model routes only optimizer__, fit__ and compile__"),
    ("nope", r"params has unknown parameter 'nope' for CNNGenreClassifier\."),
])
def test_a_networks_unknown_parameter_routed_or_not_is_refused(saved, tmp_path, key, message):
    folder = copy_of(saved("cnn"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update({key: 1}))
    with pytest.raises(ValueError, match=message):
        load_pipeline(folder)


@pytest.mark.parametrize("params, message", [
    ({"optimizer": {"class_name": "Adam", "config": {}}},
     r"optimizer must be a name from keras\.optimizers, got dict\."),
    ({"optimizer": ["adam"]}, r"optimizer must be a name from keras\.optimizers, got list\."),
    ({"optimizer": "os.system"},
     r"optimizer is 'os.system', which is not a name from keras\.optimizers\."),
    ({"loss": "os.system"}, r"loss is 'os.system', which is not a name from keras\.losses\."),
    ({"loss": ["sparse_categorical_crossentropy"]},
     r"loss must be a name from keras\.losses, got list\."),
    ({"metrics": "accuracy"}, r"metrics must be null or a list of"),
    ({"metrics": ["accuracy", "os.system"]},
     r"metrics\[1\] is 'os.system', which is not a name from keras\.metrics\."),
    ({"model": "os.system"}, r"\.model must be null: a saved model holds no code or objects\."),
    ({"build_fn": "os.system"}, r"\.build_fn must be null"),
    ({"callbacks": ["EarlyStopping"]}, r"\.callbacks must be null"),
    ({"model__foo": 1}, r"model__foo: a saved model routes only optimizer__, fit__ and compile__"),
    ({"callbacks__patience": 1}, r"callbacks__patience: a saved model routes only"),
    ({"compile__bogus": 1}, r"compile__bogus: 'bogus' is not one of .*'jit_compile'.*\], the "
     r"compile__ parameters a saved model may hold\."),
    ({"compile__jit_compile__x": 1}, r"compile__jit_compile__x: 'jit_compile__x' is not one of"),
    ({"compile__optimizer": "sgd"}, r"compile__optimizer: 'optimizer' is not one of"),
    ({"fit__callbacks": "EarlyStopping"}, r"fit__callbacks: 'callbacks' is not one of"),
    ({"fit__epochs": 10**9}, r"fit__epochs: 'epochs' is not one of"),
    ({"optimizer__bogus": 1}, r"optimizer__bogus: 'bogus' is not one of .*'beta_1'"),
    ({"optimizer__learning_rate": {"class_name": "ExponentialDecay"}},
     r"optimizer__learning_rate must be a number, string, true, false or null, got dict\."),
    ({"optimizer__learning_rate": "fast", "optimizer__beta_1": 0.5},
     r"optimizer__learning_rate='fast', optimizer__beta_1=0\.5 cannot configure the Adam "
     r"optimizer: "),
], ids=["optimizer-dict", "optimizer-list", "optimizer-unknown", "loss-unknown", "loss-list",
        "metrics-string", "metrics-unknown", "model", "build_fn", "callbacks", "model__",
        "callbacks__", "compile__bogus", "compile__deeper", "compile__optimizer", "fit__callbacks",
        "fit__epochs", "optimizer__bogus", "optimizer__dict", "optimizer__string"])  # fmt: skip
def test_keras_parameters_a_saved_model_cannot_hold_are_refused(saved, tmp_path, params,
                                                                message):
    folder = copy_of(saved("cnn"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update(params))
    with pytest.raises(ValueError, match=message) as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)
    assert "steps[2].estimator.params" in str(info.value)


def test_keras_parameters_a_saved_model_can_hold_are_kept(cnn_model, saved, tmp_path):
    settings = dict(optimizer="sgd", optimizer__momentum=0.5, loss="SparseCategoricalCrossentropy",
                    metrics=["accuracy", "sparse_top_k_categorical_accuracy"],
                    compile__jit_compile=False, fit__validation_freq=2)
    model = load_pipeline(saved("cnn"))
    model[-1].set_params(**settings)
    loaded = load_pipeline(save_pipeline(model, tmp_path / "m"))
    assert {key: loaded[-1].get_params()[key] for key in settings} == settings
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(cnn_model.X), cnn_model.proba)


def test_keras_settings_a_file_leaves_out_are_the_class_defaults(saved, tmp_path):
    folder = copy_of(saved("cnn"), tmp_path)
    names = ("optimizer", "loss", "metrics")

    def leave_out(document):
        params = step(document, 2)["params"]
        for name in names:
            del params[name]

    rewrite(folder, leave_out)
    network = load_pipeline(folder)[-1]
    defaults = type(network)().get_params()
    assert {name: network.get_params()[name] for name in names} == {
        name: defaults[name] for name in names}


@pytest.mark.parametrize("name, settings, message", [
    ("cnn", {"fit__epochs": 5}, r"fit__epochs: 'epochs' is not one of"),
    ("cnn", {"optimizer": "nadamw"}, r"optimizer is 'nadamw', which is not a name from keras\.optimizers"),
    ("ensemble", {"weights": [0, 0]}, r"weights sum to 0\.0"),
    ("ensemble", {"weights": [float("nan"), 1]}, r"weights must be finite and non-negative"),
], ids=["keras-routed", "keras-optimizer", "voting-zero", "voting-nan"])  # fmt: skip
def test_a_model_that_loading_would_refuse_is_not_saved(saved, tmp_path, name, settings,
                                                       message):
    folder = copy_of(saved(name), tmp_path)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    model = load_pipeline(folder)
    model[-1].set_params(**settings)
    with pytest.raises(ValueError, match=message):
        save_pipeline(model, folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


@pytest.mark.parametrize("weights, message", [
    ([0, 0], r"sum to 0\.0; the members' probabilities are averaged with these weights, "
             r"which needs a positive, finite sum \(and one no smaller than 2\.2e-308\)\."),
    ([1e308, 1e308], r"sum to inf"),
    ([-1, 2], r"must be finite and non-negative"),
    ([1e-320, 1e-320], r"sum to 2e-320"),
    ([1, "2"], r"one number per member"),
    ([1], r"one number per member"),
], ids=["zero-sum", "overflowing-sum", "negative", "subnormal-sum", "string",
        "too-few"])  # fmt: skip
@pytest.mark.filterwarnings("error")  # the overflowing sum is refused, not warned about
def test_voting_weights_that_cannot_average_are_refused(saved, tmp_path, weights, message):
    folder = copy_of(saved("ensemble"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update(weights=weights))
    with pytest.raises(ValueError, match=message) as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)
    assert "model.steps[2].estimator.params.weights" in str(info.value)


@pytest.mark.parametrize("weights", [[1e300, 1e300], [2**63, 2**63], [FLOAT.max / 2] * 2],
                         ids=["1e300", "2**63", "sum-at-the-largest-float"])
def test_extreme_but_finite_voting_weights_average_like_equal_ones(ensemble_model, saved,
                                                                    tmp_path, weights):
    folder = copy_of(saved("ensemble"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update(weights=weights))
    proba = load_pipeline(folder).predict_proba(ensemble_model.X)
    # (p1 w + p2 w) / 2w rounds three times: within a few ulps of (p1 + p2) / 2
    np.testing.assert_allclose(proba, ensemble_model.proba, rtol=1e-15, atol=0)


@pytest.mark.parametrize("weights", [[FLOAT.max, 0], [FLOAT.smallest_normal / 2] * 2],
                         ids=["largest-float", "sum-at-the-smallest-normal"])
def test_voting_weights_at_the_bounds_load(saved, tmp_path, weights):
    folder = copy_of(saved("ensemble"), tmp_path)
    rewrite(folder, lambda d: step(d, 2)["params"].update(weights=weights))
    assert load_pipeline(folder)[-1].weights == weights


def test_a_number_too_large_for_a_parameter_is_a_value_error(saved, tmp_path):
    folder = copy_of(saved("cnn"), tmp_path)
    rewrite(folder, lambda d: step(d, 0)["params"].update(sr=10**400))
    with pytest.raises(ValueError, match=r"steps\[0\]\.estimator\.params: .*'sr'") as info:
        load_pipeline(folder)
    assert str(folder / JSON_NAME) in str(info.value)


def test_whatever_an_estimator_s_checks_raise_is_a_value_error_naming_the_field(
        saved, monkeypatch):
    def overflow(self):  # what sr=10**400 raised before sr had an upper bound
        raise OverflowError("int too large to convert to float")

    folder = saved("cnn")  # fitted and saved before the checks are broken
    monkeypatch.setattr(MFCCSegmenter, "_validate_params", overflow)
    with pytest.raises(ValueError, match=r"steps\[0\]\.estimator\.params: int too large"):
        load_pipeline(folder)


def test_a_vote_of_more_members_than_the_bound_is_refused(numbers, tmp_path):
    """The bound is seeded_ensemble's; the id avoids 'ensemble', which mutmut's run skips."""
    from sklearn.ensemble import VotingClassifier

    from sk_audio_genre._limits import MAX_ENSEMBLE_MEMBERS

    X, score = numbers
    y = (score > 0).astype(int)
    ensemble = VotingClassifier([("a", LogisticRegression()), ("b", LogisticRegression())],
                                voting="soft").fit(X, y)
    folder = save_pipeline(ensemble, tmp_path / "model")

    def with_members(n):
        def edit(document):
            member = document["model"]["members"][0]
            document["model"]["members"] = [{**member, "name": f"m{i}"} for i in range(n)]
        return edit

    rewrite(folder, with_members(MAX_ENSEMBLE_MEMBERS))  # the bound itself loads
    assert len(load_pipeline(folder).estimators_) == MAX_ENSEMBLE_MEMBERS
    rewrite(folder, with_members(MAX_ENSEMBLE_MEMBERS + 1))
    with pytest.raises(ValueError, match=rf"model has {MAX_ENSEMBLE_MEMBERS + 1} members, more "
                       rf"than {MAX_ENSEMBLE_MEMBERS}: the bound of seeded_ensemble"):
        load_pipeline(folder)
    rewrite(folder, lambda d: d["model"]["params"].update(voting="hard"))
    with pytest.raises(ValueError, match=r"model\.params\.voting must be 'soft'"):
        load_pipeline(folder)


def test_a_vote_keeps_its_settings_and_refuses_members_of_other_classes(numbers, tmp_path):
    from sklearn.ensemble import VotingClassifier

    X, score = numbers
    y = np.array(["a", "b", "c"])[np.digitize(score, [-0.5, 0.5])]
    vote = VotingClassifier([("a", LogisticRegression()), ("b", LogisticRegression(C=0.1))],
                            voting="soft", weights=[1, 3], flatten_transform=False).fit(X, y)
    folder = save_pipeline(vote, tmp_path / "model")
    loaded = load_pipeline(folder)
    assert (loaded.weights, loaded.flatten_transform) == ([1, 3], False)
    # exact: the saved model, its settings, this process (see the round-trip test)
    np.testing.assert_array_equal(loaded.predict_proba(X), vote.predict_proba(X))
    rewrite(folder, lambda d: d["model"]["members"][1]["estimator"]["state"].update(
        classes_=[0, 1, 3]))
    with pytest.raises(ValueError, match=re.escape(
            "model.members[1]: member classes [0, 1, 3] are not the ensemble's 3 encoded "
            "classes 0..2.")):
        load_pipeline(folder)


def test_a_loaded_segment_classifier_keeps_its_fitted_facts(segments_model, saved):
    loaded = load_pipeline(saved("segments"))[-1]
    original = segments_model.model[-1]
    assert loaded.n_features_in_ == original.n_features_in_
    assert loaded.segment_shape_ == tuple(original.segment_shape_)


# --------------------------------------------------------------------------- metadata


def test_metadata_is_kept_and_covered_by_the_digest(lr_binary_model, tmp_path):
    metadata = {"trained_on": [{"track": "blues.00000", "sha256": "ab" * 32}]}
    folder = save_pipeline(lr_binary_model.model, tmp_path / "m", metadata=metadata)
    assert model_metadata(folder) == metadata
    path = folder / JSON_NAME
    document = json.loads(path.read_text())
    document["metadata"]["trained_on"].append({"track": "rock.00000"})
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="was changed after it was saved"):
        load_pipeline(folder)


@pytest.mark.parametrize("value", [{"a"}, float("nan"), float("inf")],
                         ids=["set", "nan", "infinity"])
def test_metadata_that_is_not_json_is_refused(lr_binary_model, tmp_path, value):
    """NaN and infinity would be written, and the file then refused by every load."""
    with pytest.raises(TypeError, match=r"^metadata must be JSON \(no NaN\): "):
        save_pipeline(lr_binary_model.model, tmp_path / "m", metadata={"note": value})
    assert not (tmp_path / "m").exists()


TRACK_DIGEST = "ab" * 32


@pytest.mark.parametrize("trained_on, field", [
    (5, r"trained_on must be a list"),
    ([{"track": "blues.00000", "sha256": [TRACK_DIGEST]}], r"trained_on\[0\]\.sha256 must be"),
    ([{"track": "blues.00000", "sha256": TRACK_DIGEST.upper()}], r"trained_on\[0\]\.sha256"),
    ([{"track": "blues.00000", "sha256": TRACK_DIGEST[:-1]}], r"trained_on\[0\]\.sha256"),
    ([{"track": 5, "sha256": TRACK_DIGEST}], r"trained_on\[0\]\.track must be a string"),
    ([{"track": "a", "sha256": TRACK_DIGEST}, "b"], r"trained_on\[1\] must be a JSON object"),
    ([{"track": "a", "sha256": TRACK_DIGEST, "more": 1}], r"trained_on\[0\] must hold"),
], ids=["number", "digest-list", "digest-upper", "digest-short", "track-number",
        "entry-string", "extra-field"])  # fmt: skip
def test_a_training_record_that_is_not_one_is_refused(saved, tmp_path, trained_on, field):
    folder = copy_of(saved("lr_binary"), tmp_path)
    rewrite(folder, lambda d: d["metadata"].update(trained_on=trained_on))
    for read in (load_pipeline, model_metadata):
        with pytest.raises(ValueError, match=rf"pipeline\.json\.metadata\.{field}") as info:
            read(folder)
        assert str(folder / JSON_NAME) in str(info.value)
    with pytest.raises(ValueError, match=rf"metadata\.{field}"):
        save_pipeline(load_pipeline(saved("lr_binary")), tmp_path / "again",
                      metadata={"trained_on": trained_on})


def test_a_training_record_names_each_track_and_its_file_s_digest(tmp_path):
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for path, data in zip(paths, [b"first", b"second"]):
        path.write_bytes(data)
    assert training_record(["blues.00000", 7], paths) == [
        {"track": "blues.00000", "sha256": hashlib.sha256(b"first").hexdigest()},
        {"track": "7", "sha256": hashlib.sha256(b"second").hexdigest()}]
    with pytest.raises(ValueError):  # one track id per file
        training_record(["blues.00000"], paths)


# --------------------------------------------------------------------------- format versions


def as_version_2(folder: Path) -> Path:
    """Rewrite a saved folder as format version 2 wrote it: the arrays file is ``arrays.npz``."""
    (arrays,) = saved_files(folder)
    digest = sha256_file(arrays)
    arrays.rename(folder / "arrays.npz")
    rewrite(folder, lambda d: d.update(format_version=2, files={"arrays.npz": digest}))
    return folder


def test_a_version_2_folder_loads_and_upgrades_to_the_current_version(
        lr_multiclass_model, tmp_path):
    case = lr_multiclass_model
    old = as_version_2(save_pipeline(case.model, tmp_path / "old",
                                     metadata={"note": "kept"}))
    old_digest = model_digest(old)
    np.testing.assert_array_equal(load_pipeline(old).predict_proba(case.X), case.proba)

    new = upgrade_pipeline(old, tmp_path / "new", sha256=old_digest)
    document = json.loads((new / JSON_NAME).read_text())
    assert document["format_version"] == FORMAT_VERSION == 3
    (arrays,) = saved_files(new)
    assert arrays.name == arrays_file_name(sha256_file(arrays))
    assert model_metadata(new) == {"note": "kept"}
    np.testing.assert_array_equal(load_pipeline(new).predict_proba(case.X), case.proba)
    assert model_digest(old) == old_digest  # the source is left as it was

    upgrade_pipeline(old)  # in place: the version 2 arrays file goes
    assert sorted(p.name for p in old.iterdir()) == sorted([JSON_NAME, saved_files(old)[0].name])
    assert model_digest(old) == model_digest(new)


def test_upgrade_checks_the_old_model_as_a_load_does(lr_multiclass_model, tmp_path):
    old = as_version_2(save_pipeline(lr_multiclass_model.model, tmp_path / "old"))
    with pytest.raises(ValueError, match="is not the expected model"):
        upgrade_pipeline(old, tmp_path / "new", sha256="0" * 64)
    flip_a_byte(old / "arrays.npz")
    with pytest.raises(ValueError, match="does not match"):
        upgrade_pipeline(old, tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("kinds", "value", "said"), [
    (dict, [], "must be an object, got list"),
    (list, "x", "must be a list, got str"),
    (str, 1, "must be a string, got int"),
    (int, 1.5, "must be an integer, got float"),
    (float, "1", "must be a number, got str"),
    (type(None), 0, "must be null, got int"),
    ((int, float), True, "must be an integer or a number, got True"),
    ((bool, str), 0, "must be true or false or a string, got int"),
    (bytes, 0, "must be bytes, got int"),  # a kind without a JSON name keeps its own
])
def test_a_field_of_the_wrong_kind_is_named_in_jsons_words(kinds, value, said):
    from sk_audio_genre.model_format import Node, SchemaError

    with pytest.raises(SchemaError, match=rf"^pipeline\.json\.steps\.key {said}\.$"):
        Node({"key": value}, "pipeline.json.steps").get("key", kinds)


def test_upgrade_from_the_command_line(lr_multiclass_model, tmp_path, capsys):
    from sk_audio_genre.model_format import main

    old = as_version_2(save_pipeline(lr_multiclass_model.model, tmp_path / "old"))
    assert main(["upgrade", str(old), str(tmp_path / "new")]) == 0
    assert f"format version {FORMAT_VERSION}, digest {model_digest(tmp_path / 'new')}" in (
        capsys.readouterr().out)
    assert main(["upgrade", str(tmp_path / "missing")]) == 1
    assert "No saved model at" in capsys.readouterr().err
    assert main(["upgrade", str(old), str(tmp_path / "pinned"), "--sha256", "0" * 64]) == 1
    assert "is not the expected model" in capsys.readouterr().err
    assert not (tmp_path / "pinned").exists()
    with pytest.raises(SystemExit) as exit_code:  # a command is required, and named
        main([])
    assert exit_code.value.code == 2
    assert "error: the following arguments are required: command" in capsys.readouterr().err


def test_the_upgrade_commands_help_names_the_program_and_each_argument(capsys):
    from sk_audio_genre.model_format import main

    with pytest.raises(SystemExit) as exit_code:
        main(["upgrade", "--help"])
    assert exit_code.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width
    for part in ("usage: python -m sk_audio_genre.model_format upgrade [-h] [--sha256 SHA256] "
                 "source [target]", "source the model folder to read",
                 "target the folder to write (default: SOURCE)",
                 "--sha256 SHA256 the expected digest of SOURCE"):
        assert part in usage
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "{upgrade} ... Rewrite a saved model in the current format version." in usage
    assert ("upgrade " + upgrade_pipeline.__doc__.splitlines()[0]) in usage


def test_a_version_1_folder_is_refused_naming_the_version_and_what_to_do(tmp_path):
    """The shipped model of format version 1, as that version saved it (its HDF5 weights
    files left out: the version is refused before any file is read)."""
    folder = Path(shutil.copytree(Path(__file__).parent / "data" / "format_v1",
                                  tmp_path / "model"))
    for load in (load_pipeline, upgrade_pipeline):
        with pytest.raises(ValueError, match=r"'format_version' is 1: its genre networks' "
                           r"weights are Keras HDF5 files .*Retrain the model"):
            load(folder)


def test_a_version_2_folder_with_hdf5_weights_is_refused_naming_them(saved, tmp_path):
    """Version 2 as first written listed each network's ``.weights.h5`` in ``files``."""
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    as_version_2(folder)
    digest = json.loads((folder / JSON_NAME).read_text())["files"]["arrays.npz"]
    rewrite(folder, lambda d: d.update(files={"arrays.npz": digest,
                                              "clf.weights.h5": "0" * 64}))
    with pytest.raises(ValueError, match=r"'files' lists 'clf.weights.h5': its genre networks' "
                       r"weights are Keras HDF5"):
        load_pipeline(folder)


def test_a_newer_version_is_refused_naming_the_upgrade_of_the_library(saved, tmp_path):
    folder = copy_of(saved("lr_multiclass"), tmp_path)
    rewrite(folder, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=rf"'format_version' is {FORMAT_VERSION + 1}; this "
                       rf"sk_audio_genre reads versions {min(READ_VERSIONS)} to {FORMAT_VERSION}: "
                       r"the model was saved by a newer sk_audio_genre; upgrade sk_audio_genre"):
        load_pipeline(folder)

