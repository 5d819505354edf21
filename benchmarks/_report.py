"""What every benchmark records beside its figures: the machine and the library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform

PACKAGES = (
    "sk-audio-genre", "numpy", "scikit-learn", "scikeras", "keras", "tensorflow",
    "tensorflow-cpu", "librosa", "soundfile", "joblib", "dask", "distributed", "matplotlib",
)


def machine_info() -> dict:
    """CPU count, platform, Python, and the load average (timings mean little under load)."""
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
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
