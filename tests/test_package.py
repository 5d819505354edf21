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


# ------------------------------------------------------------- TensorFlow state


def test_first_fit_is_quiet_and_an_unseeded_fit_works_after_a_seeded_one():
    """One fresh process: the first fit writes nothing (TensorFlow's start-up chatter stays
    off), and an unseeded fit after a seeded one works (scikeras' seeding context used to
    leave TensorFlow's op determinism on)."""
    code = (
        "import numpy as np\n"
        "from sk_audio_genre import CNNGenreClassifier, LSTMGenreClassifier\n"
        "X = np.random.default_rng(0).normal(size=(6, 2, 20, 13))\n"
        "y = list('ababab')\n"
        "LSTMGenreClassifier(epochs=1, lstm_units=(4,)).fit(X, y).predict(X)\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2), random_state=0).fit(X, y)\n"
        "CNNGenreClassifier(epochs=1, filters=(2, 2, 2)).fit(X, y)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == "", result.stderr


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
