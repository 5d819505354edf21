"""The documentation: it builds without a warning, and its examples run."""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.rst"))


def _copy_docs(target: Path) -> Path:
    """The docs sources without build output, so builds never touch the checkout."""
    shutil.copytree(
        DOCS, target, ignore=shutil.ignore_patterns("_build", "generated", "_generated")
    )
    return target


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    source = _copy_docs(tmp_path / "docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert result.returncode == 0, f"Sphinx failed:\n{result.stdout}\n{result.stderr}"
    html = tmp_path / "html"
    for page in ["index", "install", "quickstart", "pretrained", "networks", "benchmarks",
                 "model_card", "refusals", "api"]:
        assert (html / f"{page}.html").is_file(), page
    heads = (html / "benchmarks.html").read_text(encoding="utf-8")
    assert "musicnn mean + MFCC statistics + LR" in heads  # the results were rendered
    for name in ["MFCCSegmenter", "MusicnnEmbedder", "SegmentScaler", "SegmentClassifier",
                 "MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier"]:
        text = (html / "generated" / f"sk_audio_genre.{name}.html").read_text(encoding="utf-8")
        assert "fit" in text and "Parameters" in text
    for name in ["networks.build_mlp", "networks.build_cnn", "networks.build_lstm",
                 "datasets.load_gtzan", "datasets.load_split_lists",
                 "datasets.fault_filtered_split", "datasets.fault_filtered_cv"]:
        assert (html / "generated" / f"sk_audio_genre.{name}.html").is_file(), name


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_docs_examples_run(page):
    """Every ``>>>`` example on a docs page gives the output the page shows."""
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page.name}"


def _bench_module(results: Path):
    spec = importlib.util.spec_from_file_location("_bench", DOCS / "_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.RESULTS = results
    return module


def test_benchmark_page_without_results_says_so(tmp_path):
    bench = _bench_module(tmp_path)
    for name in bench.PAGES:
        assert "No " in bench.render(name) and "results are present" in bench.render(name)


def test_benchmark_page_shows_the_results(tmp_path):
    bench = _bench_module(tmp_path)
    report = {
        "date": "2025-01-01T00:00:00+00:00",
        "machine": {"cpu_count": 16, "platform": "Linux-x86_64", "python": "3.11.7"},
        "data": {"folder": "/data/gtzan", "n_tracks": 78, "tracks_per_genre": {"blues": 7}},
        "split": {"description": "stratified", "n_train": 54, "n_test": 24, "n_unused": 0,
                  "genres_not_in_train": []},
        "settings": {"epochs": 30, "seed": 0, "no_scale": False, "quick": False},
        "features": {"shape": [78, 5, 130, 13], "seconds": 12.0},
        "models": {"CNN": {"track_accuracy": 0.5, "macro_f1": 0.45, "segment_accuracy": 0.4,
                           "fit_seconds": 30.0, "predict_ms_per_track": 1.0, "n_params": 298186,
                           "figure": "confusion_cnn.png"}},
        "figures": ["confusion_cnn.png"],
    }
    (tmp_path / "compare.json").write_text(json.dumps(report))
    (tmp_path / "confusion_cnn.png").write_bytes(b"")
    text = bench.render("compare")
    assert "298,186" in text and "0.500" in text and "/data/gtzan" in text
    assert "16 CPUs" in text and "2025-01-01" in text
    assert ".. figure:: /_static/benchmarks/confusion_cnn.png" in text
