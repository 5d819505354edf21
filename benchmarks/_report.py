"""What every benchmark records beside its figures: the machine, the versions, and paths.

Floating-point results (FFTs, BLAS, resampling, TensorFlow) and speeds depend on the CPU's
instruction set, so the machine record names the CPU model, the SIMD extensions NumPy
dispatches to and the BLAS kernels in use, not only the core count.  Paths are recorded
relative to the repository root, so that no machine's folder layout reaches the results or
the docs built from them.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

import numpy as np

#: The package depends on ``tensorflow`` (not ``tensorflow-cpu``), so that is what is recorded.
PACKAGES = (
    "sk-audio-genre", "numpy", "scipy", "scikit-learn", "scikeras", "keras", "tensorflow",
    "librosa", "soxr", "soundfile", "joblib", "dask", "distributed", "matplotlib",
)
REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def numpy_simd() -> dict:
    """The SIMD extensions NumPy was built for (baseline) and dispatches to on this CPU (found).

    ``NPY_DISABLE_CPU_FEATURES`` moves extensions from "found" to "not found".
    """
    try:
        return dict(np.show_config(mode="dicts")["SIMD Extensions"])
    except (KeyError, TypeError):  # a NumPy without the dict form
        return {}


def blas() -> list[str]:
    """The BLAS libraries loaded now, with the kernel family each chose for this CPU."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return sorted({
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture')} kernels, "
        f"{info.get('num_threads')} threads)"
        for info in threadpool_info() if info.get("user_api") == "blas"
    })


def machine_info() -> dict:
    """CPU model and count, SIMD level, BLAS, platform, Python, and the load average.

    Timings mean little under load; the load average says how busy the machine was.
    """
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy_simd": numpy_simd(),
        "blas": blas(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def versions() -> dict:
    """Installed versions of the packages that shape the figures."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def recorded_path(path: str | os.PathLike) -> str:
    """``path`` as results record it: relative to the repository root, never absolute.

    ``../shared/data/gtzan`` stays as it is; a folder outside the repository's parent folder
    is recorded by its name alone (its place says nothing about the results).
    """
    try:
        relative = Path(os.path.relpath(os.path.abspath(path), REPO))
    except ValueError:  # on another drive (Windows)
        return Path(path).name
    if relative.parts[:2] == ("..", ".."):
        return Path(path).name
    return relative.as_posix()


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran this benchmark, ``python script args``, with paths made relative."""
    shown = []
    for arg in sys.argv if argv is None else argv:
        option, equals, value = arg.rpartition("=") if arg.startswith("--") else ("", "", arg)
        if os.path.isabs(value):
            value = recorded_path(value)
        shown.append(f"{option}{equals}{value}")
    return " ".join(["python", *shown])
