"""The shipped musicnn weights: where they are, and reading them with their checks.

``sk_audio_genre/data/musicnn/`` holds the arrays that ``tools/convert_musicnn.py`` converted
from musicnn 0.1.0's ``MSD_musicnn`` checkpoint, musicnn's licence, and ``SOURCE.json``
(the wheel's and every variable's SHA-256).  :func:`load_weights` refuses a file whose
digest or shapes are not the expected ones.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np

#: The shipped arrays and their SHA-256 (a changed or damaged file is refused).
WEIGHTS_FILE = "MSD_musicnn.npz"
WEIGHTS_SHA256 = "8d8db55c851046b89c090488f0344991e3093e5c80d12ad67a9f20003f9f2560"

#: Temporal kernels (frames), as in the checkpoint's order.
TEMPORAL_KERNELS = (128, 64, 32)


def weights_dir() -> Path:
    """The folder of the shipped musicnn arrays, licence and conversion record."""
    return Path(str(resources.files("sk_audio_genre").joinpath("data", "musicnn")))


def load_weights(path: str | Path | None = None, *, sha256: str | None = WEIGHTS_SHA256):
    """The checkpoint's variables as a dict of float32 arrays, checked before use.

    Parameters
    ----------
    path : path-like, default=None
        An ``.npz`` written by ``tools/convert_musicnn.py``; None is the shipped file.
    sha256 : str or None, default=the shipped file's digest
        Expected SHA-256 of the file; None skips the check.

    Raises
    ------
    ValueError
        If the digest differs, or an array is missing or has an unexpected shape.
    """
    path = Path(path) if path is not None else weights_dir() / WEIGHTS_FILE
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(
            f"{path} is not the musicnn weights file this package ships (SHA-256 "
            f"{hashlib.sha256(data).hexdigest()}, expected {sha256}); reinstall "
            "sk-audio-genre or regenerate it with tools/convert_musicnn.py."
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        weights = {name: arrays[name].astype(np.float32) for name in arrays.files}
    _check_shapes(weights, path)
    return weights


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    convs = [(7, 38, 1, 204), (7, 67, 1, 204), *[(k, 1, 1, 51) for k in TEMPORAL_KERNELS],
             (7, 561, 1, 64), (7, 64, 1, 64), (7, 64, 1, 64)]  # fmt: skip
    for i, shape in enumerate(convs):
        name = "conv2d" if i == 0 else f"conv2d_{i}"
        shapes[f"{name}/kernel"], shapes[f"{name}/bias"] = shape, (shape[-1],)
    for i, size in enumerate([1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200]):
        name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        for field in ("gamma", "beta", "moving_mean", "moving_variance"):
            shapes[f"{name}/{field}"] = (size,)
    shapes.update({"dense/kernel": (1506, 200), "dense/bias": (200,),
                   "dense_1/kernel": (200, 50), "dense_1/bias": (50,)})  # fmt: skip
    return shapes


def _check_shapes(weights: Mapping[str, np.ndarray], path: Path) -> None:
    expected = _expected_shapes()
    missing = sorted(set(expected) - set(weights))
    wrong = sorted(k for k in expected if k in weights and weights[k].shape != expected[k])
    if missing or wrong:
        raise ValueError(
            f"{path} does not hold musicnn's MSD model: missing {missing}, wrong shape {wrong}."
        )
