"""Features of the GTZAN tracks, computed once and cached, for the benchmarks that compare heads.

All of them are the shipped recipe's (``sk_audio_genre.recipes.musicnn_recipe``):
the same window of each track (the middle 29.92 s), the same MFCC segments and embedder.

The cache is an ``.npz`` per feature under ``--cache`` (default ``results/cache``), keyed by
the list of track ids and the transformer's parameters; change either and it is computed
again.  The features themselves come from the library's public transformers.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from sklearn.base import clone

from sk_audio_genre.recipes import musicnn_recipe


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cached_transform(transformer, paths, track_ids, cache_dir: str | Path) -> np.ndarray:
    """``transformer.fit_transform(paths)``, from ``cache_dir`` when computed before."""
    params = {k: repr(v) for k, v in sorted(transformer.get_params().items())
              if not k.endswith("n_jobs")}
    key = json.dumps({"class": type(transformer).__name__, "params": params,
                      "tracks": list(map(str, track_ids))})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{type(transformer).__name__}-{digest}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return data["X"]
    start = time.perf_counter()
    X = transformer.fit_transform(list(paths))
    _log(f"{type(transformer).__name__} {X.shape} in {time.perf_counter() - start:.0f} s "
         f"(cached in {path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=X)
    return X


def gtzan_features(data, cache_dir, *, layers=("penultimate",)) -> dict:
    """The shipped recipe's features of every track of ``data``, per patch.

    Returns a dict: ``"mfcc_statistics"`` (n, 26), the recipe's MFCC branch (means and
    standard deviations of 13 MFCCs over the middle 29.92 s), and for each layer
    ``"musicnn_<layer>"`` (n, 10, 1, size), the recipe's embedder over the same window with
    ``pooling="none"`` (poolings are computed from these by :func:`pool`).
    """
    union = musicnn_recipe().named_steps["features"]
    embedder, mfcc = (part for _, part in union.transformer_list)
    features = {"mfcc_statistics": cached_transform(mfcc, data.paths, data.track_ids, cache_dir)}
    for layer in layers:
        per_patch = clone(embedder).set_params(layer=layer, pooling="none")
        features[f"musicnn_{layer}"] = cached_transform(per_patch, data.paths, data.track_ids,
                                                        cache_dir)
    return features


def recipe_features(data, cache_dir) -> dict:
    """``{"recipe": what the recipe's FeatureUnion gives, "baseline": its MFCC part}``."""
    features = gtzan_features(data, cache_dir)
    stats = features["mfcc_statistics"]
    return {"recipe": np.concatenate([pool(features["musicnn_penultimate"], "mean"), stats], 1),
            "baseline": stats}


def pool(patches: np.ndarray, how: str) -> np.ndarray:
    """Per-track pooling of ``(n, n_patches, 1, size)`` patches, NaN patches ignored.

    Equal to ``MusicnnEmbedder(pooling=how)`` on the same files.
    """
    values = patches[:, :, 0, :]
    if how == "mean":
        return np.nanmean(values, axis=1)
    if how == "mean+std":
        return np.concatenate([np.nanmean(values, axis=1), np.nanstd(values, axis=1)], axis=1)
    raise ValueError(how)
