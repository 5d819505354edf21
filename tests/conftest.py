"""Shared fixtures: fixed seeds, synthetic audio files and the shared GTZAN data."""

from __future__ import annotations

import csv
import fnmatch
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "SK_AUDIO_GENRE_DATA"
REQUIRE_DATA_ENV = "SK_AUDIO_GENRE_REQUIRE_DATA"
SR = 22050

if "mutmut" in sys.modules:
    # mutmut runs each mutant in a process forked from one that imported this file: importing
    # TensorFlow once here spares every mutant that reaches a Keras test the 5-8 s import
    import keras  # noqa: F401


def shared_data_dir() -> Path:
    """The shared data folder: ``$SK_AUDIO_GENRE_DATA`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get(DATA_ENV, REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``gtzan/`` and ``splits/``); skips, or fails under CI, if absent."""
    root = shared_data_dir()
    if not (root / "gtzan").is_dir():
        reason = (
            f"real GTZAN audio not found at {root / 'gtzan'}; set {DATA_ENV} "
            "to the folder holding gtzan/ and splits/"
        )
        if os.environ.get(REQUIRE_DATA_ENV, "") not in ("", "0"):
            pytest.fail(f"{reason} ({REQUIRE_DATA_ENV} is set, so this is an error)")
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def gtzan_root(shared_data) -> Path:
    return shared_data / "gtzan"


@pytest.fixture(scope="session")
def shared_sources(shared_data) -> list[dict]:
    """The rows of the shared folder's ``SOURCES.csv``: one per track (``track``, ``file``, ...).

    Tests derive their expectations (how many tracks, which genres and formats) from it and
    from ``splits/``, never from counts written into the test: the shared folder grows.
    """
    with open(shared_data / "SOURCES.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def shared_split_ids(shared_data) -> dict[str, set[str]]:
    """The fault-filtered lists of the shared folder as track ids (``blues.00012``) per list."""
    return {
        name: {Path(line.strip()).name.rsplit(".", 1)[0]
               for line in (shared_data / "splits" / f"{name}_filtered.txt").read_text().split()}
        for name in ("train", "valid", "test")
    }


#: MFCCs compared with librosa's: this library (pocketfft and a sparse mel product) and librosa
#: (BLAS) round differently in float32, and the error is a few float32 steps of the largest
#: coefficient (c0, up to about 1,100 dB here), wherever it lands.  Measured largest difference
#: / largest |value| of the compared array, over the 81 comparisons of test_audio.py and
#: test_segmenter.py: 2.2e-7 (AMD EPYC, AVX2; by default, under OPENBLAS_CORETYPE=Sandybridge
#: with NPY_DISABLE_CPU_FEATURES=X86_V3, and with one thread).  The former absolute 1e-4 used
#: 92% of itself (9.2e-5 at values up to 489).  1e-6 of the largest value leaves 4.5x; one
#: sample of offset, another window or a 0.1% gain moves MFCCs by 0.1 dB or more.
MFCC_TOLERANCE = 1e-6


def assert_mfcc_close(actual, expected, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` within float32 rounding of MFCCs (``MFCC_TOLERANCE``)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=0, err_msg=err_msg,
                               atol=MFCC_TOLERANCE * float(np.abs(expected).max()))


def tone(
    seconds: float,
    *,
    freq: float = 440.0,
    amplitude: float = 0.5,
    sr: int = SR,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A sine tone, optionally with white noise, as float32 samples."""
    t = np.arange(int(round(seconds * sr))) / sr
    y = amplitude * np.sin(2 * np.pi * freq * t)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(t.size)
    return y.astype(np.float32)


@pytest.fixture
def write_audio(tmp_path):
    """Write samples to ``tmp_path/name`` with soundfile; returns the path."""

    def _write(name: str, samples: np.ndarray, sr: int = SR, **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, sr, **kwargs)
        return path

    return _write


#: Genres of the synthetic tone files (one pitch per genre).
TONE_GENRES = ("blues", "metal", "jazz")
#: Short segments keep synthetic tests fast: 0.5 s at 8 kHz, 256-sample hops -> 16 frames.
SMALL_SEGMENTER = {
    "sr": 8000,
    "n_segments": 2,
    "segment_duration": 0.5,
    "n_fft": 512,
    "hop_length": 256,
}


@pytest.fixture(scope="session")
def tone_files(tmp_path_factory):
    """Four 1 s files per genre in ``TONE_GENRES``: a pitch per genre, with a little noise."""
    folder = tmp_path_factory.mktemp("tones")
    paths, labels = [], []
    for k, genre in enumerate(TONE_GENRES):
        for i in range(4):
            samples = tone(1.0, freq=220.0 * (k + 1) * (1 + 0.03 * i), sr=8000, noise=0.05, seed=i)
            path = folder / f"{genre}.{i:05d}.wav"
            sf.write(path, samples, 8000)
            paths.append(str(path))
            labels.append(genre)
    return np.array(paths), np.array(labels)


# --------------------------------------------------------------------------- unit and slow
#
# Every test is marked either ``unit`` or ``slow`` here, at collection, so that test files
# need no markers of their own (``@pytest.mark.slow`` in a file also works).
#
# slow: trains a Keras network, starts a process, decodes the real GTZAN audio, runs musicnn
#       on many windows or the shipped model, or builds the docs.
# unit: everything else, doctests included; ``python -m pytest -m unit`` is the quick loop
#       (docs/development.rst gives its time).
#
# A unit test that starts a Python process fails with a message saying to list it below; a
# test that becomes slow otherwise shows in ``python -m pytest -m unit --durations=20``.

#: Fixtures that make every test using them slow.
SLOW_FIXTURES = {
    "shared_data": "reads the real GTZAN audio",
    "gtzan_root": "reads the real GTZAN audio",
    "shared_sources": "reads the real GTZAN audio",
    "built_docs": "builds the docs with Sphinx",
    "tiny_ensemble": "trains a Keras ensemble",  # test_refusals.py
    "saved_networks": "trains Keras networks",  # test_bounds.py
}

#: Slow tests by file: patterns (``fnmatch``) of the test's name, parameters included; a
#: pattern starting with ``!`` takes tests back out.  Doctests are named
#: ``sk_audio_genre.module.object``.
SLOW_TESTS: dict[str, tuple[str, ...]] = {
    # Keras training
    "test_sklearn_integration.py": (
        "test_pipeline_*", "test_make_pipeline_form", "test_grid_search_*", "test_cross_val_*",
        "test_joblib_*", "test_scikit_learn_common_checks[[]*GenreClassifier(*",
    ),
    "test_classifiers.py": (
        "*", "!test_is_a_classifier_for_scikit_learn*", "!test_signature_lists_*",
        "!test_repr_shows_*",
    ),
    "test_real_data.py": ("*",),
    "test_dask.py": ("*",),  # a Dask cluster of worker processes
    "test_package.py": ("test_light_imports_*", "test_first_fit_*", "test_batch_norm_*",
                        "test_modules_are_submodules_*", "test_unseeded_fit_*",
                        "test_each_model_has_its_own_*"),
    "test_architecture.py": ("test_importing_the_package_changes_*",
                             "test_the_keras_classifiers_change_*",
                             "test_the_snapshot_sees_*"),
    "test_dependency_contracts.py": ("*",),  # scikeras fits small Keras models
    "test_model_format.py": (  # the Keras models (cnn, ensemble) and the musicnn ones
        "*[[]cnn[]-]*", "*[[]ensemble[]-]*", "*[[]recipe[]-]*", "*[[]segments[]-]*",
        "test_saving_into_a_used_folder_*", "test_runtime_settings_*",
        "test_changed_or_missing_file_*", "test_json_edited_after_saving_*",
        "test_consistent_looking_*", "test_network_shapes_are_checked_*",
        "test_files_named_outside_*", "test_parameters_that_are_not_json_*",
        "test_unknown_routed_parameter_*", "test_keras_parameters_*",
        "test_a_model_that_loading_would_refuse_*", "test_voting_weights_*",
        "test_extreme_but_finite_voting_*", "test_a_number_too_large_*",
        "test_whatever_an_estimator_s_checks_*",
    ),
    "test_refusals.py": ("test_flat_input_to_a_track_classifier_*",
                         "test_partial_fit_with_a_new_genre_*"),
    "test_bounds.py": ("test_network_bounds_*", "test_networks_at_the_bounds_*",
                       "test_saved_segment_shapes_*", "test_seed_ensemble_is_bounded"),
    "test_cli.py": ("test_console_script_is_installed", "test_train_*",
                    "test_a_pickle_in_the_working_directory_never_runs[[]pretrained[]]"),
    # processes: the benchmark scripts, a closed pipe, killed and racing savers, workers
    "test_benchmarks.py": ("test_compare_quick", "test_scale_quick", "test_extract_speed_limit",
                           "test_numpy_simd_*"),
    "test_cli_dependable.py": ("test_a_closed_pipe_*", "test_c_library_chatter_*",
                               "test_tracebacks_of_a_bug_*"),
    "test_threads.py": ("test_loky_workers_*",),
    "test_segmenter.py": ("test_n_jobs_2_*",),
    # musicnn over many windows, the shipped model, TensorFlow's tf.nn as a reference
    "test_embedder.py": ("test_grid_search_and_pickling", "test_n_jobs_gives_*",
                         "test_pooling_takes_effect", "test_layer_takes_effect",
                         "test_pipeline_with_a_linear_head_*",
                         "test_patches_train_a_segment_classifier"),
    "test_musicnn_network.py": ("test_converted_weights_equal_the_checkpoint_exactly",
                                "test_forward_equals_the_tf_nn_transcription_*",
                                "test_forward_is_the_same_patch_by_patch_*",
                                "test_dead_filter_shortcut_*"),
    "test_whole_song.py": ("test_musicnn_pools_*", "test_to_the_end_of_a_long_file_*",
                           "test_only_one_window_*", "test_the_shipped_model_*"),
    "test_open_set.py": ("test_the_shipped_model_*", "test_the_command_line_prints_*",
                         "test_predict_says_unknown_*"),
    "test_pretrained.py": ("test_predicts_a_flac_*", "test_a_file_without_features_*",
                           "test_load_pretrained_is_*"),
    "test_model_folders.py": ("test_a_save_killed_*", "test_loads_while_another_process_*",
                              "test_crafted_arrays_file_is_refused_quickly[[]100000-*"),
}

#: Slow doctests (``sk_audio_genre.module.object``): the classifiers' examples train.
SLOW_DOCTESTS = ("sk_audio_genre.classifiers.*", "sk_audio_genre.*GenreClassifier")


def _slow_reason(item) -> str | None:
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in SLOW_FIXTURES:
            return SLOW_FIXTURES[fixture]
    patterns = SLOW_TESTS.get(Path(str(item.path)).name, ())
    if isinstance(item, pytest.DoctestItem):
        patterns += SLOW_DOCTESTS
    listed = [p for p in patterns if not p.startswith("!")]
    taken_out = [p[1:] for p in patterns if p.startswith("!")]
    if (any(fnmatch.fnmatchcase(item.name, p) for p in listed)
            and not any(fnmatch.fnmatchcase(item.name, p) for p in taken_out)):
        return "listed in conftest.SLOW_TESTS"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is None and item.get_closest_marker("unit") is None:
            item.add_marker(pytest.mark.slow if _slow_reason(item) else pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts a Python process fails, naming the fix.  (Other programs
    are left alone: libraries run ``ldconfig -p`` to find their shared libraries.)"""
    if request.node.get_closest_marker("unit") is None:
        return
    start = subprocess.Popen.__init__

    def refuse_python(self, args, *more, **kwargs):
        program = os.path.basename(str(args if isinstance(args, (str, os.PathLike)) else args[0]))
        if program.startswith(("python", "sk-audio-genre")) or program == Path(sys.executable).name:
            pytest.fail(f"{request.node.nodeid} is marked unit but starts {program}: list it "
                        "in tests/conftest.py SLOW_TESTS", pytrace=False)
        start(self, args, *more, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_python)
