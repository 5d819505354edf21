"""Scaling out with joblib's Dask backend: the work really runs on a cluster's workers.

One real ``LocalCluster`` on loopback (two worker processes, one thread each) serves every
test.  Each test records Dask's task stream and checks that the joblib batches ran on the
cluster's workers, in processes other than this one, and that the results match a local run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("dask", reason="dask is not installed; pip install 'sk-audio-genre[dask]'")
pytest.importorskip(
    "distributed", reason="dask.distributed is not installed; pip install 'sk-audio-genre[dask]'"
)

import dask  # noqa: E402
import joblib  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, ParameterGrid  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from conftest import SMALL_SEGMENTER, TONE_GENRES  # noqa: E402
from sk_audio_genre import CNNGenreClassifier, MFCCSegmenter, SegmentScaler  # noqa: E402

GENRES = TONE_GENRES
SEGMENTER = SMALL_SEGMENTER


@pytest.fixture(scope="module")
def client():
    """A two-process cluster on loopback; workers are spawned, never forked (TensorFlow)."""
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        with LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster, Client(cluster) as client:
            yield client


def _workers_that_ran(client, stream, function: str) -> set[str]:
    """Addresses of the workers that ran joblib batches of ``function``.

    joblib names a Dask task ``batch_of_<function>_<n>_calls-<uuid>``.
    """
    workers = {task["worker"] for task in stream.data if f"batch_of_{function}_" in task["key"]}
    pids = client.run(os.getpid)  # worker address -> process id
    assert workers, f"no joblib batch of {function} ran on the cluster"
    assert workers <= set(pids), f"{workers} are not this cluster's workers {set(pids)}"
    assert os.getpid() not in {pids[address] for address in workers}
    return workers


def test_segmenter_extracts_on_the_workers_and_matches_the_local_run(client, tone_files):
    paths, _ = tone_files
    local = MFCCSegmenter(**SEGMENTER, n_jobs=1).fit_transform(paths)
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        remote = MFCCSegmenter(**SEGMENTER, n_jobs=-1).fit_transform(paths)
    _workers_that_ran(client, stream, "extract_or_reason")
    np.testing.assert_array_equal(remote, local)  # bit-identical, rows in input order


def _deterministic_pipeline() -> Pipeline:
    """Segmenter and scaler, then each track's mean MFCC into a logistic regression."""
    return Pipeline(
        [
            ("mfcc", MFCCSegmenter(**SEGMENTER)),
            ("scale", SegmentScaler()),
            ("mean", FunctionTransformer(np.mean, kw_args={"axis": (1, 2)})),
            ("clf", LogisticRegression()),
        ]
    )


def test_search_over_a_deterministic_pipeline_equals_the_local_search(client, tone_files):
    paths, labels = tone_files
    grid = {"clf__C": [0.01, 1.0], "mfcc__n_mfcc": [13, 20]}
    local = GridSearchCV(_deterministic_pipeline(), grid, cv=2).fit(paths, labels)
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(_deterministic_pipeline(), grid, cv=2, n_jobs=-1).fit(paths, labels)
    _workers_that_ran(client, stream, "_fit_and_score")
    # inside a task on a worker, the segmenter's own joblib call goes to the cluster too
    _workers_that_ran(client, stream, "extract_or_reason")
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    for key in ("mean_test_score", "split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.best_params_ == local.best_params_


def test_cnn_search_with_cached_features_runs_on_the_workers(client, tone_files, tmp_path):
    # Scores are not compared with a local run: scikeras seeds a fit through process-wide
    # generators (Python's ``random`` among them), and a Dask worker's event-loop thread
    # draws from ``random`` too (heartbeat jitter), so a seeded fit on a worker can start
    # from other weights.  Loky workers (GridSearchCV(n_jobs=2)) reproduce local scores.
    paths, labels = tone_files
    pipe = Pipeline(
        [
            ("mfcc", MFCCSegmenter(**SEGMENTER)),
            ("clf", CNNGenreClassifier(filters=(4, 4, 4), dense_units=8, epochs=2, random_state=0)),
        ],
        memory=str(tmp_path / "cache"),  # the cluster's workers share this machine's disk
    )
    grid = {"clf__learning_rate": [1e-3, 1e-2]}
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        search = GridSearchCV(pipe, grid, cv=2, n_jobs=-1).fit(paths, labels)
    _workers_that_ran(client, stream, "_fit_and_score")
    assert search.cv_results_["params"] == list(ParameterGrid(grid))
    np.testing.assert_array_equal(search.predict(paths), search.best_estimator_.predict(paths))
    assert any((tmp_path / "cache").rglob("*.pkl")), "Pipeline(memory=...) cached nothing"
