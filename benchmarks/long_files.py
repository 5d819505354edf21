"""Memory and time for long files: does either grow with a file's length?

Makes a stereo 44.1 kHz AAC (``.m4a``, decoded through FFmpeg/PyAV) of ``--minutes``
minutes and a 30 s one in a temporary folder, then, each in a new process, predicts it with
the shipped model at the default centre window, at ``--offset 0`` and in whole-song mode
(``offset="all"``, at most 20 windows), and records the process's peak resident memory
(``ru_maxrss``) and the prediction's wall time.  The 30 s file is the reference: memory
that a long file adds beyond it is memory that grows with the length.

    python benchmarks/long_files.py --minutes 60 --out results/

Writes ``long_files.json`` and ``long_files.md``.  Needs the ``formats`` extra (PyAV).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine_info, versions  # noqa: E402

SR = 44100

#: Run in a new process: predict one file, print peak RSS (MB) and the prediction's time.
CHILD = """
import json, resource, sys, time
from sk_audio_genre import load_pretrained
model = load_pretrained(offset={offset!r})
start = time.perf_counter()
genre = str(model.predict([{path!r}])[0])
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"peak_rss_mb": peak_mb, "predict_s": seconds, "genre": genre}}))
"""


def write_m4a(path: Path, minutes: float) -> float:
    """A stereo AAC file of ``minutes`` minutes (a tone sweep with noise); seconds taken."""
    import av

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    block = 1024
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SR)
        stream.layout = "stereo"
        for first in range(0, int(minutes * 60 * SR), block):
            t = (first + np.arange(block)) / SR
            tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * np.sin(t / 7)) * t)
            samples = np.stack([tone, tone[::-1]]) + 0.05 * rng.standard_normal((2, block))
            frame = av.AudioFrame.from_ndarray(samples.astype(np.float32), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = SR, first, Fraction(1, SR)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return time.perf_counter() - start


def measure(path: Path, offset) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD.format(path=str(path), offset=offset)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2, help="processes per measurement")
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = {"30 s": (Path(folder) / "short.m4a", 0.5),
                 f"{args.minutes:g} min": (Path(folder) / "long.m4a", args.minutes)}
        for name, (path, minutes) in files.items():
            encode_s = write_m4a(path, minutes)
            for offset in ("center", 0.0, "all"):
                runs = [measure(path, offset) for _ in range(args.repeats)]
                rows.append({
                    "file": name, "minutes": minutes, "offset": offset,
                    "size_mb": path.stat().st_size / 2**20, "encode_s": encode_s,
                    "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
                    "predict_s": [r["predict_s"] for r in runs],
                })  # fmt: skip
                print(f"{name:>8} offset={offset!s:>6}: peak RSS "
                      f"{max(rows[-1]['peak_rss_mb']):.0f} MB, predict "
                      f"{min(rows[-1]['predict_s']):.2f} s", flush=True)
    result = {"benchmark": "long_files", "date": date, "command": command_line(),
              "machine": machine_info(), "versions": versions(), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "long_files.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"Peak resident memory of a new process predicting one stereo 44.1 kHz AAC file with "
        f"the shipped model ({args.repeats} processes each; `{result['command']}`, "
        f"{result['machine']['cpu_model']}, {date}).", "",
        "| file | analysed window | peak RSS (MB) | predict (s) |", "|---|---|---:|---:|",
    ]
    for row in rows:
        window = {"center": "centre 29.92 s", "all": "whole song (at most 20 windows)"}.get(
            row["offset"], "first 29.92 s")
        lines.append(f"| {row['file']} | {window} | {max(row['peak_rss_mb']):.0f} | "
                     f"{min(row['predict_s']):.2f} |")
    (out / "long_files.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'long_files.json'} and {out / 'long_files.md'}")


if __name__ == "__main__":
    main()
