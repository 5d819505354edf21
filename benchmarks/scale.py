"""Throughput and memory of MFCC extraction as the library grows, on one machine and on Dask.

    python benchmarks/scale.py --data ../shared/data/gtzan --out docs/_static/benchmarks
    python benchmarks/scale.py --data ../shared/data/gtzan --max-scale 100 --search --out results/

1. **Extraction.**  The folder's tracks are listed ``scale`` times over (1x, 10x, 100x, up to
   ``--max-scale``: 100x of the 78-track subset is a 7,800-file "library") and
   :class:`~sk_audio_genre.MFCCSegmenter` extracts them with every ``--n-jobs`` value (joblib's
   loky processes) and, unless ``--dask-workers 0``, under ``joblib.parallel_config(
   backend="dask")`` on a ``LocalCluster`` of ``--dask-workers`` processes on loopback, once
   with Dask's default worker environment and once without its ``MALLOC_TRIM_THRESHOLD_``
   (which makes every large NumPy allocation a fresh ``mmap`` and page-faults).  Each
   (mode, scale) runs in a fresh Python process, so the peak memory reported is its own: the
   parent's peak RSS and its growth during ``transform`` (compare with the output array's
   size), and the largest peak RSS of a worker process (Linux ``/proc``).  Workers are started
   by an untimed warm-up call; their start-up is reported apart.  The figure is the best of
   ``--repeats`` runs (one run above 1,000 files).  Repeated files are read from the page
   cache after the first pass, so this measures decoding and MFCCs, not the disk.
2. **Grid search** (``--search``).  ``GridSearchCV`` over ``Pipeline([MFCCSegmenter,
   SegmentScaler, CNNGenreClassifier(epochs=5)], memory=...)``, two learning rates, ``cv=3``,
   on the folder's tracks: ``n_jobs=1`` with TensorFlow's default pools and with one thread;
   ``n_jobs=2`` with the package's default (each worker's TensorFlow takes the worker's share
   of the cores, as joblib gives BLAS) and with TensorFlow's own default of one thread per core
   in every worker (``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS``).  Each mode runs in a
   fresh process and searches twice (each with an empty feature cache): the first call pays for
   starting the workers and importing TensorFlow in them, the second finds them warm.

Writes ``scale.json`` and ``scale.md`` to ``--out``.  The 1-minute load average is recorded
with every figure: above the number of CPUs, other processes were sharing them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import resource
except ImportError:  # Windows
    resource = None

from _report import command_line, machine_info, recorded_path, versions  # beside this script

MIB = 2**20
CPUS = os.cpu_count() or 1
SEARCH_MODES = [  # (label, n_jobs, TF_NUM_INTRAOP_THREADS = TF_NUM_INTEROP_THREADS, or None)
    ("n_jobs=1", 1, None),
    ("n_jobs=1, TensorFlow on 1 thread", 1, 1),
    ("n_jobs=2 (TensorFlow takes each worker's share)", 2, None),
    (f"n_jobs=2, TensorFlow on {CPUS} threads per worker", 2, CPUS),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="GTZAN-style folder (one sub-folder per genre)")
    parser.add_argument("--max-scale", type=int, default=10,
                        help="largest multiple of the folder's tracks: 1, 10, 100, ... (default 10)")
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2],
                        help="MFCCSegmenter n_jobs values (default: 1 2)")
    parser.add_argument("--dask-workers", type=int, default=2,
                        help="worker processes of the Dask LocalCluster; 0 skips Dask (default 2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per configuration up to 1,000 files; the best is kept")
    parser.add_argument("--search", action="store_true",
                        help="also time GridSearchCV with n_jobs=1 and 2 (several minutes)")
    parser.add_argument("--out", default="results", help="folder for scale.json and scale.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, as JSON
    args = parser.parse_args(argv)
    if args.child is None and args.data is None:
        parser.error("--data is required")
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- measuring tools

def load_avg():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _status_kib(field):
    """A memory field of ``/proc/self/status`` in bytes, or ``None`` off Linux."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def current_rss():
    """This process's resident memory in bytes (Linux; elsewhere its peak so far)."""
    return _status_kib("VmRSS") or peak_rss()


def peak_rss():
    """This process's peak resident memory in bytes.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec``, so a child started
    from a big parent would report the parent's peak.  ``ru_maxrss`` is KiB on Linux, bytes on
    macOS.
    """
    if resource is None:
        return _status_kib("VmHWM") or 0
    scale = 1 if sys.platform == "darwin" else 1024
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def descendants():
    """Process ids of every descendant of this process (Linux ``/proc``; else empty)."""
    parents = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [os.getpid()]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += children
        frontier = children
    return found


def process_figures(pid):
    """``(peak RSS bytes, CPU seconds)`` of a process from ``/proc``, or ``None``."""
    try:
        with open(f"/proc/{pid}/status") as f:
            hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return hwm, cpu
    except (OSError, StopIteration, ValueError):
        return None


def cpu_seconds():
    """CPU seconds used by this process and its descendants, per process id."""
    times = os.times()
    usage = {os.getpid(): times.user + times.system}
    for pid in descendants():
        figures = process_figures(pid)
        if figures:
            usage[pid] = figures[1]
    return usage


def cpu_delta(before, after):
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def load_paths(data):
    from sk_audio_genre.datasets import load_gtzan

    tracks = load_gtzan(data)
    return list(tracks.paths), list(tracks.genres)


# ----------------------------------------------------------------------------- one measurement each

def measure_extraction(task):
    """Extract ``scale`` copies of the folder's file list in one mode; figures as a dict."""
    import joblib
    import numpy as np

    from sk_audio_genre import MFCCSegmenter

    paths = load_paths(task["data"])[0] * task["scale"]
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if task["mode"] == "dask":
            import dask
            from distributed import Client, LocalCluster

            if task["unset_malloc_trim"]:  # before the workers start: they read it at start-up
                stack.enter_context(dask.config.set(
                    {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=task["workers"], threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None))
            stack.enter_context(Client(cluster))
            stack.enter_context(joblib.parallel_config(backend="dask"))
            segmenter = MFCCSegmenter(n_jobs=-1)
        else:
            segmenter = MFCCSegmenter(n_jobs=task["n_jobs"])
        segmenter.fit_transform(paths[: 2 * max(task.get("workers", 1), 2)])  # start the workers
        startup = time.perf_counter() - start

        probe = None
        with contextlib.suppress(ImportError, AttributeError):
            from sk_audio_genre.segmenter import _probe_all

            begin = time.perf_counter()
            _probe_all(paths, segmenter.fit(paths)._spec())
            probe = time.perf_counter() - begin

        rss_before = current_rss()
        load = load_avg()
        times, digest, cpu = [], None, None
        for _ in range(task["repeats"]):
            features = None  # keep one output alive at a time
            before = cpu_seconds()
            begin = time.perf_counter()
            features = segmenter.fit_transform(paths)
            times.append(time.perf_counter() - begin)
            used = cpu_delta(before, cpu_seconds())
            cpu = used if cpu is None else min(cpu, used)
            peak = peak_rss()  # before hashing, which must not copy the output either
            digest = hashlib.sha1(np.ascontiguousarray(features).data).hexdigest()
        workers = [f for f in map(process_figures, descendants()) if f]
        output_bytes = features.nbytes
    best = min(times)
    return {
        "mode": task["label"], "scale": task["scale"], "n_files": len(paths),
        "seconds": best, "all_seconds": times, "tracks_per_second": len(paths) / best,
        "cpu_seconds": cpu, "startup_seconds": startup, "header_check_seconds": probe,
        "parent_peak_rss_mib": peak / MIB, "parent_rss_before_mib": rss_before / MIB,
        "parent_rss_growth_mib": (peak - rss_before) / MIB, "output_mib": output_bytes / MIB,
        "worker_processes": len(workers),
        "largest_worker_peak_rss_mib": max((f[0] for f in workers), default=0) / MIB or None,
        "features_sha1": digest, "load_average": load, "load_average_end": load_avg(),
    }


def measure_search(task):
    """Time GridSearchCV twice in one mode; figures as a dict."""
    if task["tf_threads"]:  # workers inherit the environment
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(task["tf_threads"])
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from sk_audio_genre import CNNGenreClassifier, MFCCSegmenter, SegmentScaler

    paths, genres = load_paths(task["data"])
    calls = []
    for call in ("first", "second"):
        with tempfile.TemporaryDirectory() as cache:
            pipe = Pipeline([("mfcc", MFCCSegmenter()), ("scale", SegmentScaler()),
                             ("clf", CNNGenreClassifier(epochs=5, random_state=0))], memory=cache)
            search = GridSearchCV(pipe, {"clf__learning_rate": [1e-4, 1e-3]}, cv=3,
                                  n_jobs=task["n_jobs"])
            load, before = load_avg(), cpu_seconds()
            begin = time.perf_counter()
            search.fit(paths, genres)
            seconds = time.perf_counter() - begin
            calls.append({
                "call": call, "seconds": seconds, "cpu_seconds": cpu_delta(before, cpu_seconds()),
                "mean_test_score": search.cv_results_["mean_test_score"].tolist(),
                "mean_fit_time": search.cv_results_["mean_fit_time"].tolist(),
                "load_average": load, "load_average_end": load_avg(),
            })
        log(f"  {task['label']:<38} {call} call {seconds:6.1f} s  "
            f"scores {[round(s, 4) for s in calls[-1]['mean_test_score']]}")
    return {"mode": task["label"], "n_jobs": task["n_jobs"],
            "tf_threads": task["tf_threads"], "n_tracks": len(paths), "calls": calls}


def run_child(task):
    """Run one measurement in a fresh Python process; its figures."""
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(task)],
                            stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- reporting

def fmt(value, pattern, missing="n/a"):
    return missing if value is None else format(value, pattern)


def write_markdown(path, report):
    machine = report["machine"]
    lines = [
        "# Scaling: extraction throughput and grid-search time",
        "",
        f"{report['n_tracks']} tracks from `{report['data']}` (5 segments x 130 frames x 13 MFCCs "
        f"each), listed 1x to {report['max_scale']}x; {machine['cpu_count']} CPUs "
        f"({machine['processor']}, {machine['platform']}), {report['date']}.",
        "",
        "## Extraction",
        "",
        f"Best of {report['repeats']} runs (one above 1,000 files), workers already started. "
        "Repeated files come from the page cache. Parent RSS growth is the parent's peak during "
        "`transform` minus its RSS before; the output array alone is the output column.",
        "",
        "CPU ms/file counts the parent and every worker; cores is CPU seconds per second, what the "
        "run got of the machine (below the number of workers when other processes took the rest).",
        "",
        "| files | mode | tracks/s | seconds | CPU ms/file | cores | start-up s | header check s "
        "| parent peak RSS MiB | parent growth MiB | output MiB | largest worker peak MiB "
        "| same features | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in report["extraction"]:
        cpu = r["cpu_seconds"]
        lines.append(
            f"| {r['n_files']} | {r['mode']} | {r['tracks_per_second']:.1f} | {r['seconds']:.2f} | "
            f"{fmt(cpu and 1000 * cpu / r['n_files'], '.1f')} | "
            f"{fmt(cpu and cpu / r['seconds'], '.2f')} | {r['startup_seconds']:.1f} | "
            f"{fmt(r['header_check_seconds'], '.2f')} | {r['parent_peak_rss_mib']:.0f} | "
            f"{r['parent_rss_growth_mib']:.0f} | {r['output_mib']:.1f} | "
            f"{fmt(r['largest_worker_peak_rss_mib'], '.0f', '-')} | "
            f"{'yes' if r['identical_to_first_mode'] else 'NO'} | {fmt(r['load_average'], '.1f')} |"
        )
    if report.get("search"):
        lines += [
            "",
            "## GridSearchCV",
            "",
            "`GridSearchCV(Pipeline([MFCCSegmenter(), SegmentScaler(), CNNGenreClassifier(epochs=5, "
            "random_state=0)], memory=<empty cache>), {'clf__learning_rate': [1e-4, 1e-3]}, cv=3)` "
            f"on the {report['n_tracks']} tracks, refit included. Each mode in a fresh process; "
            "the first call starts the workers, the second finds them warm.",
            "",
            "| mode | first call s | second call s | CPU s (first / second) | mean test scores | load |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for r in report["search"]:
            first, second = r["calls"]
            scores = ", ".join(f"{s:.4f}" for s in second["mean_test_score"])
            lines.append(
                f"| {r['mode']} | {first['seconds']:.1f} | {second['seconds']:.1f} | "
                f"{first['cpu_seconds']:.1f} / {second['cpu_seconds']:.1f} | {scores} | "
                f"{fmt(first['load_average'], '.1f')} |"
            )
    lines += ["", f"Command: `{report['command']}`", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        task = json.loads(args.child)
        measure = measure_search if task["kind"] == "search" else measure_extraction
        print(json.dumps(measure(task)))
        return 0

    data = os.path.abspath(args.data)
    n_tracks = len(load_paths(data)[0])
    scales = [s for s in (1, 10, 100, 1000, 10000) if s <= args.max_scale]
    modes = [{"label": f"n_jobs={n}", "mode": "loky", "n_jobs": n} for n in args.n_jobs]
    if args.dask_workers:
        for unset in (False, True):
            label = f"dask, {args.dask_workers} workers" + (", no malloc trim" if unset else "")
            modes.append({"label": label, "mode": "dask", "workers": args.dask_workers,
                          "unset_malloc_trim": unset})
    report = {
        "benchmark": "scale",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(["benchmarks/scale.py", *sys.argv[1:]]),
        "data": recorded_path(data), "n_tracks": n_tracks, "max_scale": args.max_scale,
        "repeats": args.repeats,
        "machine": machine_info(), "versions": versions(), "extraction": [], "search": [],
    }

    print(f"{'files':>7} {'mode':<34} {'tracks/s':>9} {'seconds':>8} {'parent peak MiB':>16} "
          f"{'growth MiB':>11} {'output MiB':>11} {'worker peak MiB':>16}", flush=True)
    for scale in scales:
        reference = None
        for mode in modes:
            repeats = args.repeats if scale * n_tracks <= 1000 else 1
            r = run_child({**mode, "kind": "extraction", "data": data, "scale": scale,
                           "repeats": repeats})
            reference = reference or r["features_sha1"]
            r["identical_to_first_mode"] = r["features_sha1"] == reference
            report["extraction"].append(r)
            print(f"{r['n_files']:>7} {r['mode']:<34} {r['tracks_per_second']:9.1f} "
                  f"{r['seconds']:8.2f} {r['parent_peak_rss_mib']:16.0f} "
                  f"{r['parent_rss_growth_mib']:11.0f} {r['output_mib']:11.1f} "
                  f"{fmt(r['largest_worker_peak_rss_mib'], '16.0f', '               -')}", flush=True)

    if args.search:
        log("GridSearchCV (each mode in a fresh process, two calls each)")
        for label, n_jobs, threads in SEARCH_MODES:
            r = run_child({"kind": "search", "label": label, "data": data, "n_jobs": n_jobs,
                           "tf_threads": threads})
            report["search"].append(r)
            first, second = r["calls"]
            print(f"GridSearchCV {label:<38} first {first['seconds']:6.1f} s  "
                  f"second {second['seconds']:6.1f} s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(os.path.join(args.out, "scale.md"), report)
    log(f"wrote {os.path.join(args.out, 'scale.json')} and scale.md")
    identical = all(r["identical_to_first_mode"] for r in report["extraction"])
    print(f"features identical in every mode: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
