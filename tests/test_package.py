"""Package-level behaviour: the public names, quiet and light imports, TensorFlow state."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sk_audio_genre

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def test_every_public_name_resolves_and_is_in_the_api_reference():
    """Each name of ``__all__`` can be imported from the package and has an entry in
    docs/api.rst: an autosummary line of its own, or an ``automodule`` for a module."""
    page = API_PAGE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^ {3}(\w+)\s*$", page, flags=re.M))
    documented |= set(re.findall(r"^\.\. auto\w+:: sk_audio_genre\.(\w+)\s*$", page, flags=re.M))
    assert sk_audio_genre.__all__, "the package names nothing public"
    assert len(set(sk_audio_genre.__all__)) == len(sk_audio_genre.__all__), "a name twice"
    for name in sk_audio_genre.__all__:
        assert getattr(sk_audio_genre, name) is not None, name
        assert name in dir(sk_audio_genre), name
    undocumented = sorted(set(sk_audio_genre.__all__) - documented)
    assert not undocumented, f"not in docs/api.rst: {undocumented}"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sk_audio_genre.Nope  # noqa: B018


# ------------------------------------------------------------- light imports, one process

#: What each case runs, in one fresh interpreter, in this order.  No case may load TensorFlow
#: or Keras or write anything; ``cli --help`` writes its help to stdout and exits 0.
LIGHT_CASES = {
    "import sk_audio_genre": (
        "import sk_audio_genre\n"
        "from sk_audio_genre import MFCCSegmenter, SegmentScaler, datasets"
    ),
    "import sk_audio_genre._segments": "import sk_audio_genre._segments",
    "import sk_audio_genre.segmenter": "import sk_audio_genre.segmenter",
    "import sk_audio_genre.datasets": "import sk_audio_genre.datasets",
    "cli --help": (
        "from sk_audio_genre.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    ),
}

#: Runs the cases named in argv[1:] in turn, each with its output captured, and prints one
#: JSON line.  Modules stay loaded from case to case, so the first case that loads a heavy
#: module ends the run: the cases after it are left to a fresh interpreter.
_LIGHT_RUNNER = r"""
import contextlib, io, json, sys
HEAVY = {"tensorflow", "keras"}
cases = json.loads(sys.argv[1])
results = {}
for name, code in cases.items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        exec(compile(code, name, "exec"), {})
    heavy = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    results[name] = {"heavy": heavy, "stdout": out.getvalue(), "stderr": err.getvalue()}
    if heavy:
        break
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def light_results() -> dict[str, dict]:
    """Each case of ``LIGHT_CASES`` run in one subprocess (one more for the cases after a
    case that loaded TensorFlow, if one does)."""
    results: dict[str, dict] = {}
    while len(results) < len(LIGHT_CASES):
        todo = {k: v for k, v in LIGHT_CASES.items() if k not in results}
        done = subprocess.run([sys.executable, "-c", _LIGHT_RUNNER, json.dumps(todo)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        *before, last = done.stdout.splitlines()
        run = json.loads(last)
        # what reached the process's own stdout and stderr (C libraries write to the file
        # descriptors) is the last case's: the one that loaded TensorFlow, if one did
        run[list(run)[-1]]["process"] = before + done.stderr.splitlines()
        results.update(run)
    return results


@pytest.mark.parametrize("case", list(LIGHT_CASES))
def test_light_imports_load_no_tensorflow_and_are_quiet(light_results, case):
    result = light_results[case]
    assert result["heavy"] == [], f"{case} loaded {result['heavy']}"
    assert result["stderr"] == ""
    assert result.get("process", []) == [], "written to the process's stdout or stderr"
    if case == "cli --help":
        assert "predict" in result["stdout"] and "examples:" in result["stdout"]
    else:
        assert result["stdout"] == ""


# ------------------------------------------------------------- the package's names


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )


def test_modules_are_submodules_not_names_of_the_package():
    result = _run(
        "import sk_audio_genre\n"
        "assert not hasattr(sk_audio_genre, 'datasets')\n"
        "from sk_audio_genre import datasets, model_format\n"
        "import sk_audio_genre.timeline\n"
        "assert sk_audio_genre.datasets is datasets\n"
    )
    assert result.stderr == ""


@pytest.mark.parametrize("name, module", [("load_pipeline", "model_format"),
                                          ("save_pipeline", "model_format"),
                                          ("seed_ensemble", "ensemble"),
                                          ("GenreTimelineDisplay", "timeline")])
def test_names_the_top_level_used_to_give_still_work_with_a_warning(name, module):
    import importlib

    with pytest.warns(FutureWarning, match=f"sk_audio_genre.{module}.{name}"):
        value = getattr(sk_audio_genre, name)
    assert value is getattr(importlib.import_module(f"sk_audio_genre.{module}"), name)


# ------------------------------------------------------------- TensorFlow state


def _notices(stderr: str) -> list[str]:
    """TensorFlow's C++ log lines without their time stamp and thread id."""
    return sorted(re.sub(r"^[IWEF]\d{4} [\d:.]+\s+\d+ ", "", line) for line in stderr.splitlines())


def test_first_fit_prints_nothing_but_what_importing_tensorflow_prints():
    # TensorFlow 2.21 writes notices to file descriptor 2 from C++ when imported and when
    # its runtime starts, whatever TF_CPP_MIN_LOG_LEVEL says; they are TensorFlow's to
    # print (the command line hides them for its own process), and the library neither
    # adds to them nor hides them (it would have to move the process's descriptor 2).
    # The reference is a Keras model fitted and used without the library.
    tensorflow_alone = _run(
        "import numpy as np, keras, scikeras.wrappers\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "model.compile(loss='mse')\n"
        "model.fit(np.zeros((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)\n"
        "model.predict(np.zeros((4, 3)), verbose=0)\n"
    )
    result = _run(
        "import numpy as np\n"
        "from sk_audio_genre import LSTMGenreClassifier\n"
        "X = np.random.default_rng(0).normal(size=(6, 2, 20, 13))\n"
        "clf = LSTMGenreClassifier(epochs=1, lstm_units=(4,)).fit(X, list('ababab'))\n"
        "clf.predict(X)\n"
    )
    assert result.stdout == ""
    assert _notices(result.stderr) == _notices(tensorflow_alone.stderr), result.stderr


def test_unseeded_fit_works_after_a_seeded_one():
    # scikeras' seeding context used to leave TensorFlow's op determinism on.
    _run(
        "import numpy as np\n"
        "from sk_audio_genre import CNNGenreClassifier\n"
        "X = np.random.default_rng(0).normal(size=(6, 2, 20, 13))\n"
        "y = list('ababab')\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2), random_state=0).fit(X, y)\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2)).fit(X, y)\n"
    )


def test_batch_norm_inference_matches_training_on_small_data():
    from sk_audio_genre import CNNGenreClassifier

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 8)
    X = rng.normal(size=(16, 2, 20, 13)).astype(np.float32)
    X[y == "b"] += 1.0
    clf = CNNGenreClassifier(
        epochs=15, batch_size=4, filters=(4, 4, 4), batch_norm=True, random_state=0
    ).fit(X, y)  # 120 steps, a GTZAN-subset-sized run
    segments = X.reshape(-1, 20, 13, 1)
    conv, norm = clf.model_.layers[:2]
    batch_variance = np.asarray(conv(segments)).var(axis=(0, 1, 2))
    # inference uses the moving variance: it must have converged to the data's
    np.testing.assert_allclose(np.asarray(norm.moving_variance), batch_variance, rtol=0.3)


def test_each_model_has_its_own_prediction_step_for_the_retracing_detector():
    # TensorFlow's retracing detector counts calls per code object: closures over
    # different models (one code object) would add up to "retracing" warnings.
    import logging

    import keras

    from sk_audio_genre import _tensorflow

    class Records(logging.Handler):
        messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    handler = Records()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        for _ in range(8):  # 2 "retracing" warnings with one code object for all
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
            _tensorflow.predict_in_batches(model, np.zeros((4, 3), np.float32))
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.messages if "retracing" in m]
