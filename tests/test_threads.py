"""TensorFlow's thread pools follow joblib's per-worker thread budget (sk_audio_genre.reading)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from sk_audio_genre.reading import apply_thread_budget, thread_budget


class FakeThreading:
    """Stands in for ``tf.config.threading``: 0 means "TensorFlow's default"."""

    def __init__(self, intra: int = 0, inter: int = 0, started: bool = False) -> None:
        self.values = {"intra": intra, "inter": inter}
        self.started = started

    def _set(self, pool, n):
        if self.started:
            raise RuntimeError("cannot be modified after initialization")
        self.values[pool] = n

    def get_intra_op_parallelism_threads(self):
        return self.values["intra"]

    def get_inter_op_parallelism_threads(self):
        return self.values["inter"]

    def set_intra_op_parallelism_threads(self, n):
        self._set("intra", n)

    def set_inter_op_parallelism_threads(self, n):
        self._set("inter", n)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1), ("0", None), ("-2", None),
                                             ("", None), ("four", None)])
def test_thread_budget_reads_omp_num_threads(value, expected):
    assert thread_budget({"OMP_NUM_THREADS": value}) == expected


def test_no_budget_leaves_tensorflow_alone(clean_env):
    threading = FakeThreading()
    assert apply_thread_budget(threading) == {}
    assert threading.values == {"intra": 0, "inter": 0}


def test_budget_sizes_both_pools(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "2")
    threading = FakeThreading()
    assert apply_thread_budget(threading) == {"intra_op": 2, "inter_op": 2}
    assert threading.values == {"intra": 2, "inter": 2}


def test_users_choices_win(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "2")
    clean_env.setenv("TF_NUM_INTRAOP_THREADS", "8")
    threading = FakeThreading(inter=3)  # configured through tf.config before
    assert apply_thread_budget(threading) == {}
    assert threading.values == {"intra": 0, "inter": 3}


def test_started_runtime_is_left_alone(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "1")
    assert apply_thread_budget(FakeThreading(started=True)) == {}


SCRIPT = """
import json, os
from joblib import Parallel, cpu_count, delayed

def pools():
    import tensorflow as tf
    import sk_audio_genre.classifiers  # applies the budget, as unpickling a classifier does
    return [os.environ.get("OMP_NUM_THREADS"),
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads()]

workers = Parallel(n_jobs=2)(delayed(pools)() for _ in range(2))
print(json.dumps({"cpu_count": cpu_count(), "workers": workers, "parent": pools()}))
"""


def test_loky_workers_get_their_share_and_the_parent_keeps_the_defaults():
    env_script = "import os\nfor v in ('OMP_NUM_THREADS', 'TF_NUM_INTRAOP_THREADS', " \
                 "'TF_NUM_INTEROP_THREADS'):\n    os.environ.pop(v, None)\n"
    result = subprocess.run([sys.executable, "-c", env_script + SCRIPT], capture_output=True,
                            text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    share = max(report["cpu_count"] // 2, 1)
    assert report["workers"] == [[str(share), share, share]] * 2
    assert report["parent"] == [None, 0, 0]
