"""TensorFlow's thread pools follow the thread budget joblib gives each worker.

joblib's loky backend starts each worker with ``OMP_NUM_THREADS`` (and its BLAS
relatives) set to ``cpu_count() // n_jobs``, and a Dask nanny starts its workers with
``OMP_NUM_THREADS=1``, so that ``n_jobs`` processes share the cores instead of each
running a thread per core.  TensorFlow reads none of these variables: it sizes its
intra-op and inter-op pools from the core count, in every process.  This module gives
TensorFlow the same budget, so a ``GridSearchCV(n_jobs=...)`` over a genre classifier
does not run ``n_jobs x cpu_count`` compute threads.

The budget is applied once, when :mod:`sk_audio_genre._base` imports TensorFlow (in a
worker, that is before its first fit), and never overrides a choice already made:
``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` in the environment, or
``tf.config.threading`` calls made before, win.  A process without ``OMP_NUM_THREADS``
(an ordinary Python session, the parent of the workers) keeps TensorFlow's defaults.
"""

from __future__ import annotations

import os

#: The variable joblib (loky) and Dask set for each worker's native thread pools.
BUDGET_VARIABLE = "OMP_NUM_THREADS"


def thread_budget(environ: dict[str, str] | None = None) -> int | None:
    """The worker thread budget from ``OMP_NUM_THREADS``, or None when unset or invalid.

    Examples
    --------
    >>> thread_budget({"OMP_NUM_THREADS": "4"})
    4
    >>> thread_budget({}) is None
    True
    """
    value = (os.environ if environ is None else environ).get(BUDGET_VARIABLE, "")
    try:
        budget = int(value)
    except ValueError:
        return None
    return budget if budget >= 1 else None


def apply_thread_budget(tf_threading) -> dict[str, int]:
    """Size TensorFlow's pools from :func:`thread_budget`; returns what was set.

    ``tf_threading`` is ``tf.config.threading``.  A pool is left alone when its
    ``TF_NUM_*_THREADS`` variable is set, when it was configured already, or when
    TensorFlow's runtime has started (it can no longer be changed then).
    """
    budget = thread_budget()
    if budget is None:
        return {}
    applied = {}
    pools = [
        ("intra_op", "TF_NUM_INTRAOP_THREADS", tf_threading.get_intra_op_parallelism_threads,
         tf_threading.set_intra_op_parallelism_threads),
        ("inter_op", "TF_NUM_INTEROP_THREADS", tf_threading.get_inter_op_parallelism_threads,
         tf_threading.set_inter_op_parallelism_threads),
    ]
    for name, variable, get, set_ in pools:
        if variable in os.environ or get() != 0:
            continue
        try:
            set_(budget)
        except RuntimeError:  # the runtime is already initialised
            continue
        applied[name] = budget
    return applied
