"""Smoke tests of the benchmark scripts on the shared GTZAN subset (skipped without it)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT

from sk_audio_genre.datasets import load_split_lists

BENCHMARKS = REPO_ROOT / "benchmarks"


def run_script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr[-5000:]}"
    return result


def load_report():
    """benchmarks/_report.py, the record every benchmark writes beside its figures."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    import _report

    return _report


def assert_no_machine_path(report: dict, data_key: str) -> None:
    """The recorded data folder and command are relative: no machine's layout in the results."""
    assert not os.path.isabs(data_key) and data_key.endswith("gtzan"), data_key
    assert not any(os.path.isabs(arg) for arg in report["command"].split()), report["command"]
    assert str(REPO_ROOT) not in json.dumps(report)
    machine = report["machine"]
    assert machine["cpu_model"] and machine["cpu_count"] >= 1
    assert machine["numpy_simd"]["baseline"]  # what NumPy dispatches to on this CPU
    assert "tensorflow" in report["versions"] and "tensorflow-cpu" not in report["versions"]


def test_machine_record_names_the_cpu_and_its_simd_level():
    report = load_report()
    machine = report.machine_info()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and "model name" in cpuinfo.read_text(errors="replace"):
        names = {line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")}
        assert machine["cpu_model"] in names
    assert machine["cpu_model"] or machine["processor"]
    simd = machine["numpy_simd"]
    assert simd["baseline"]  # "found" is absent where nothing beyond the baseline is used
    assert all(isinstance(name, str) for name in simd["baseline"] + simd.get("found", []))
    assert json.loads(json.dumps(machine)) == machine  # plain JSON
    assert "tensorflow-cpu" not in report.PACKAGES and "tensorflow" in report.PACKAGES


def test_numpy_simd_follows_what_numpy_dispatches_to():
    """``NPY_DISABLE_CPU_FEATURES`` turns dispatch targets off: the record must follow."""
    found = load_report().numpy_simd().get("found")
    if not found:
        pytest.skip("NumPy dispatches to nothing beyond its baseline on this CPU")
    code = ("import sys, json; sys.path.insert(0, 'benchmarks'); import _report; "
            "print(json.dumps(_report.numpy_simd()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, check=True,
                            env={**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(found)})
    assert not json.loads(result.stdout).get("found")


def test_recorded_paths_are_relative_to_the_repository():
    report = load_report()
    shared = REPO_ROOT.parent / "shared" / "data" / "gtzan"
    assert report.recorded_path(shared) == "../shared/data/gtzan"
    assert report.recorded_path(REPO_ROOT / "docs" / "_static") == "docs/_static"
    if len(REPO_ROOT.parents) >= 2:  # a folder outside the repository's parent: name only
        assert report.recorded_path(Path(REPO_ROOT.anchor, "elsewhere", "gtzan")) == "gtzan"
    command = report.command_line(["benchmarks/compare.py", "--data", str(shared),
                                   f"--out={REPO_ROOT / 'results'}", "--quick"])
    assert command == ("python benchmarks/compare.py --data ../shared/data/gtzan "
                       "--out=results --quick")


def test_compare_quick(shared_data, shared_sources, tmp_path):
    out = tmp_path / "compare"
    result = run_script(
        "compare.py",
        "--data", str(shared_data / "gtzan"),
        "--quick", "--leaky",
        "--max-tracks-per-genre", "4",
        "--out", str(out),
        timeout=600,
    )
    assert "MLP epoch" in result.stderr  # progress goes to stderr

    report = json.loads((out / "compare.json").read_text())
    for key in ["date", "machine", "versions", "data", "split", "settings", "features", "models",
                "leaky", "optimisation_modes", "figures", "total_seconds"]:
        assert key in report
    assert_no_machine_path(report, report["data"]["folder"])
    per_genre = Counter(row["file"].split("/")[0] for row in shared_sources)
    n_tracks = sum(min(4, n) for n in per_genre.values())  # --max-tracks-per-genre 4
    assert report["data"]["n_tracks"] == n_tracks
    assert report["split"]["n_train"] + report["split"]["n_test"] == n_tracks
    assert set(report["models"]) == {"MLP", "CNN", "LSTM", "LogisticRegression", "SVC (RBF)",
                                     "musicnn + LogisticRegression"}
    for name, model in report["models"].items():
        confusion = np.asarray(model["confusion_matrix"])  # accuracy is its diagonal share
        assert confusion.sum() == report["split"]["n_test"]
        assert model["track_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    for name in ["MLP", "CNN", "LSTM"]:
        model = report["models"][name]
        for key in ["track_accuracy", "macro_f1", "segment_accuracy", "fit_seconds",
                    "predict_ms_per_track", "n_params"]:
            assert model[key] is not None, (name, key)
        n_genres = len(report["data"]["tracks_per_genre"])  # the seed's counts are for 10
        seed_count = {"MLP": 1_014_218, "CNN": 298_186, "LSTM": 57_802}[name]
        assert model["n_params"] == seed_count - 65 * (10 - n_genres)
        assert len(model["history"]["loss"]) == report["settings"]["epochs"]
    leaky = report["leaky"]
    assert leaky["n_train_segments"] + leaky["n_test_segments"] == n_tracks * 5
    modes = report["optimisation_modes"]["modes"]
    assert [m["batch_size"] for m in modes] == ["full", 32, 1]
    assert all(len(m["epoch_seconds"]) == len(m["loss"]) for m in modes)

    assert report["figures"]
    for figure in report["figures"]:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "compare.md").read_text()
    assert "| MLP |" in markdown and "Leak" in markdown and "Optimisation modes" in markdown


def load_compare():
    """benchmarks/compare.py as a module (it imports no TensorFlow at import time)."""
    if str(BENCHMARKS) not in sys.path:  # as when run as a script: _report.py sits beside it
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("compare", BENCHMARKS / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split_args(split: str) -> argparse.Namespace:
    return argparse.Namespace(split=split, test_size=0.3, seed=0, data="<data>")


def test_fault_filtered_split_on_shared_data(shared_data):
    """The shared subset has too few test-list tracks: train on the train list, test on valid."""
    compare = load_compare()
    _, _, genres, track_ids = compare.load_tracks(shared_data / "gtzan", None)
    train, test, split = compare.split_tracks(track_ids, genres, split_args("fault-filtered"))
    masks = load_split_lists()
    assert split["protocol"] == "train -> valid"
    assert "trained on the train list, tested on the valid list, artist-disjoint" in split["description"]
    assert all(track_id in masks["train"] for track_id in track_ids[train])
    assert all(track_id in masks["valid"] for track_id in track_ids[test])
    assert split["genres_not_in_train"] == sorted(set(genres[test]) - set(genres[train]))


def test_fault_filtered_split_uses_test_list_when_it_is_large_enough():
    compare = load_compare()
    lists = load_split_lists()
    track_ids = []
    for genre in ["jazz", "rock"]:
        for name in ["train", "valid", "test"]:
            track_ids += sorted(i for i in lists[name] if i.startswith(genre + "."))[:2]
    track_ids = np.array(track_ids)
    genres = np.array([i.split(".")[0] for i in track_ids])
    train, test, split = compare.split_tracks(track_ids, genres, split_args("fault-filtered"))
    assert split["protocol"] == "train+valid -> test"
    assert sorted(track_ids[test]) == sorted(i for i in track_ids if i in lists["test"])
    assert len(train) == 8 and split["genres_not_in_train"] == []


def test_stratified_split_keeps_tracks_whole():
    compare = load_compare()
    genres = np.repeat(["blues", "jazz", "rock"], 10)
    track_ids = np.array([f"{g}.{i:05d}" for i, g in enumerate(genres)])
    train, test, split = compare.split_tracks(track_ids, genres, split_args("stratified"))
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 30
    assert split["test_per_genre"] == {"blues": 3, "jazz": 3, "rock": 3}


#: The benchmark compares MFCCs (values up to about 700 dB on these tracks) with librosa's, which
#: round differently (BLAS).  Measured 6.1e-5, one float32 step at 512-1024, on an AMD EPYC
#: (AVX2) by default, with 1 or 8 BLAS threads, Sandybridge or Nehalem kernels and
#: NPY_DISABLE_CPU_FEATURES=X86_V3: the script's default 1e-4 is less than two steps, so it is
#: raised to 1e-3 here (16 steps; a real difference, such as one frame off, is whole dB).
EXTRACT_ATOL = 1e-3


def test_extract_speed_limit(shared_data, tmp_path):
    out = tmp_path / "speed"
    result = run_script(
        "extract_speed.py",
        "--data", str(shared_data / "gtzan"),
        "--limit", "3", "--repeats", "1", "--n-jobs", "1", "2", "--atol", str(EXTRACT_ATOL),
        "--out", str(out),
        timeout=300,
    )
    assert f"features equal within {EXTRACT_ATOL:g}: True" in result.stdout
    report = json.loads((out / "extract_speed.json").read_text())
    assert report["n_tracks"] == 3
    assert_no_machine_path(report, report["data"])
    assert report["features_equal"] is True
    assert set(report["methods"]) >= {"seed reference", "MFCCSegmenter(n_jobs=1)", "MFCCSegmenter(n_jobs=2)"}
    for figures in report["methods"].values():
        assert figures["shape"] == [3, 5, 130, 13]
        assert figures["max_abs_diff"] <= EXTRACT_ATOL
        assert figures["tracks_per_second"] > 0
    assert (out / "extract_speed.md").read_text().startswith("# Feature extraction speed")


def test_scale_quick(shared_data, tmp_path):
    out = tmp_path / "scale"
    result = run_script(
        "scale.py",
        "--data", str(shared_data / "gtzan"),
        "--max-scale", "1", "--repeats", "1", "--dask-workers", "0",
        "--out", str(out),
        timeout=300,
    )
    assert "features identical in every mode: True" in result.stdout
    report = json.loads((out / "scale.json").read_text())
    assert_no_machine_path(report, report["data"])
    assert [r["mode"] for r in report["extraction"]] == ["n_jobs=1", "n_jobs=2"]
    for r in report["extraction"]:
        assert r["n_files"] == report["n_tracks"] > 0
        assert r["tracks_per_second"] > 0 and r["identical_to_first_mode"]
    assert (out / "scale.md").read_text().startswith("# Scaling")
