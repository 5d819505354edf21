"""Time MusicnnEmbedder against a straightforward tf.nn implementation of musicnn.

Every method turns each 30 s track into musicnn's penultimate layer averaged over its ten
3 s patches (``MusicnnEmbedder()``'s default output):

* **reference, batched** (the speed-up is measured against it): musicnn's own preprocessing
  (``librosa.load`` at 16 kHz, ``librosa.feature.melspectrogram``, float16 rounding, the
  logarithm in float32), then ``tools/musicnn_reference.py`` -- musicnn's ``models.py``
  transcribed line by line into ``tf.nn`` ops -- on all of a track's patches at once;
* **reference, patch by patch**: the same, one patch per call, as musicnn 0.1.0's extractor
  runs its graph (``BATCH_SIZE = 1``);
* **MusicnnEmbedder** with each ``--n-jobs``.

The script reads every file once (so nobody pays for the disk cache), runs every method
once cold (checking that every method's embeddings equal the reference's within
``--atol``), then ``--repeats`` more times interleaved, and reports the median in tracks
per second and as a ratio to the batched reference.

    python benchmarks/embed_speed.py --data ../shared/data/gtzan --n-jobs 1 2 --out results/

Writes ``embed_speed.json`` and ``embed_speed.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tools")]
from _report import command_line, machine_info, versions  # noqa: E402

from sk_audio_genre import MusicnnEmbedder  # noqa: E402
from sk_audio_genre._musicnn import load_weights  # noqa: E402
from sk_audio_genre.datasets import load_gtzan  # noqa: E402

REFERENCE = "reference (tf.nn), a track's patches batched"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan", help="GTZAN-style folder")
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="warm runs; the median counts")
    parser.add_argument("--limit", type=int, default=None, help="only the first N tracks")
    parser.add_argument("--atol", type=float, default=1e-4, help="equality tolerance")
    parser.add_argument("--out", default="results", help="folder for the JSON and Markdown")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def musicnn_patches(path: str) -> np.ndarray:
    """musicnn 0.1.0's ``batch_data`` with the logarithm in float32."""
    import librosa

    audio, sr = librosa.load(path, sr=16000)
    S = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512, n_mels=96).T
    S = np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1)
    return np.stack([S[t : t + 187] for t in range(0, S.shape[0] - 187 + 1, 187)])


def reference(paths, weights, *, per_patch: bool) -> np.ndarray:
    import musicnn_reference

    rows = []
    for path in paths:
        patches = musicnn_patches(path)
        if per_patch:
            out = np.concatenate([musicnn_reference.forward(weights, patches[i : i + 1])
                                  ["penultimate"] for i in range(len(patches))])
        else:
            out = musicnn_reference.forward(weights, patches)["penultimate"]
        rows.append(out.mean(axis=0))
    return np.asarray(rows)


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = list(os.getloadavg())
    paths = list(load_gtzan(args.data).paths)[: args.limit]
    for path in paths:
        Path(path).read_bytes()
    weights = load_weights()
    methods = {
        REFERENCE: lambda: reference(paths, weights, per_patch=False),
        "reference (tf.nn), patch by patch as musicnn runs it":
            lambda: reference(paths, weights, per_patch=True),
    }
    for n_jobs in args.n_jobs:
        embedder = MusicnnEmbedder(n_jobs=n_jobs)
        methods[f"MusicnnEmbedder(n_jobs={n_jobs})"] = (
            lambda e=embedder: e.fit_transform(paths))

    cold, outputs = {}, {}
    for name, method in methods.items():
        t = time.perf_counter()
        outputs[name] = method()
        cold[name] = time.perf_counter() - t
        log(f"cold {name}: {cold[name]:.1f} s")
    diffs = {name: float(np.abs(out - outputs[REFERENCE]).max()) for name, out in outputs.items()}
    bad = {n: d for n, d in diffs.items() if d > args.atol}
    if bad:
        raise SystemExit(f"embeddings differ from the reference by more than {args.atol}: {bad}")

    warm: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name, method in methods.items():
            t = time.perf_counter()
            method()
            warm[name].append(time.perf_counter() - t)
        log(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(
            f"{len(paths) / v[-1]:.2f}" for v in warm.values()) + " tracks/s")
    reference_rate = len(paths) / statistics.median(warm[REFERENCE])
    results = {}
    for name, times in warm.items():
        rate = len(paths) / statistics.median(times)
        results[name] = {"tracks_per_second": rate, "ratio": rate / reference_rate,
                         "best_tracks_per_second": len(paths) / min(times),
                         "cold_seconds": cold[name], "max_abs_diff": diffs[name],
                         "seconds": times}
    report = {
        "benchmark": "embed_speed", "date": date, "command": command_line(),
        "machine": machine_info(), "load_average_start": load_start, "versions": versions(),
        "n_tracks": len(paths), "repeats": args.repeats, "results": results,
        "total_seconds": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "embed_speed.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "| method | tracks/s | vs reference | best run | cold s | max abs diff |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['tracks_per_second']:.2f} | {r['ratio']:.2f}x | "
                     f"{r['best_tracks_per_second']:.2f} | {r['cold_seconds']:.1f} | "
                     f"{r['max_abs_diff']:.1e} |")
    lines += ["", f"{len(paths)} tracks of 30 s, median of {args.repeats} warm runs "
              f"(interleaved); {report['machine']['cpu_count']} CPUs, load average "
              f"{load_start[0]:.2f} at the start and {os.getloadavg()[0]:.2f} at the end. "
              f"Run: `{report['command']}`, {date}.", ""]
    (out / "embed_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
