"""How long one prediction takes: the command line cold, and the library warm.

* **cold**: wall time of ``sk-audio-genre predict FILE`` (and ``tags FILE``) as a new
  process, the way a user runs it: Python start, imports, checking the file, loading the
  shipped model, and the prediction.  Median of ``--repeats`` runs after one untimed run
  (so the files and the package are in the page cache, as on any second use).
* **warm**: in one process, ``model = load_pretrained()`` then ``model.predict([FILE])``:
  the first call after loading (what an application pays for its first request) and the
  median of the next ``--repeats`` calls.

Targets (issue 9): cold at most 5 s, warm first call at most 300 ms, on this 2-core machine.

    python benchmarks/predict_latency.py --data ../shared/data/gtzan --out results/

Writes ``predict_latency.json`` and ``predict_latency.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine_info, versions  # noqa: E402

TARGETS = {"cold_predict_s": 5.0, "warm_first_predict_ms": 300.0}


def cold(command: list[str], repeats: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # untimed: fills the page cache
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def warm(path: str, repeats: int) -> dict:
    script = (
        "import json, sys, time\n"
        "t = time.perf_counter()\n"
        "from sk_audio_genre import load_pretrained\n"
        "model = load_pretrained()\n"
        "loaded = time.perf_counter() - t\n"
        "times = []\n"
        f"for _ in range({repeats + 1}):\n"
        "    t = time.perf_counter()\n"
        f"    genre = model.predict([{path!r}])[0]\n"
        "    times.append(time.perf_counter() - t)\n"
        "print(json.dumps({'load_s': loaded, 'times_s': times, 'genre': str(genre)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan")
    parser.add_argument("--track", default="pop/pop.00000.wav", help="file under --data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    path = str(Path(args.data) / args.track)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = list(os.getloadavg())
    program = [sys.executable, "-m", "sk_audio_genre"]
    cold_predict = cold([*program, "predict", path], args.repeats)
    cold_tags = cold([*program, "tags", path], args.repeats)
    python_alone = cold([sys.executable, "-c", "pass"], args.repeats)
    runs = [warm(path, args.repeats) for _ in range(3)]
    first_ms = [1000 * r["times_s"][0] for r in runs]
    later_ms = [1000 * t for r in runs for t in r["times_s"][1:]]
    figures = {
        "cold_predict_s": statistics.median(cold_predict),
        "cold_tags_s": statistics.median(cold_tags),
        "python_start_s": statistics.median(python_alone),
        "warm_load_s": statistics.median(r["load_s"] for r in runs),
        "warm_first_predict_ms": statistics.median(first_ms),
        "warm_later_predict_ms": statistics.median(later_ms),
    }
    report = {
        "benchmark": "predict_latency", "date": date,
        "command": command_line(), "machine": machine_info(),
        "load_average_start": load_start, "versions": versions(), "track": args.track,
        "figures": figures, "targets": TARGETS,
        "raw": {"cold_predict_s": cold_predict, "cold_tags_s": cold_tags,
                "warm_first_predict_ms": first_ms, "warm_later_predict_ms": later_ms},
        "genre": runs[0]["genre"],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predict_latency.json").write_text(json.dumps(report, indent=1) + "\n")
    rows = [
        ("`sk-audio-genre predict FILE`, new process", f"{figures['cold_predict_s']:.2f} s",
         "5 s"),
        ("`sk-audio-genre tags FILE`, new process", f"{figures['cold_tags_s']:.2f} s", ""),
        ("Python itself, new process", f"{figures['python_start_s']:.2f} s", ""),
        ("`load_pretrained()`", f"{figures['warm_load_s']:.2f} s", ""),
        ("first `predict([FILE])` after loading", f"{figures['warm_first_predict_ms']:.0f} ms",
         "300 ms"),
        ("later `predict([FILE])` calls", f"{figures['warm_later_predict_ms']:.0f} ms", ""),
    ]
    lines = ["| what | median | target |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"One 30 s track ({args.track}); cold: median of {args.repeats} runs after "
              f"an untimed one; warm: 3 processes, first calls and {args.repeats} later calls "
              f"each. {report['machine']['cpu_count']} CPUs, load average {load_start[0]:.2f} "
              f"at the start. Run: `{report['command']}`, {date}.", ""]
    (out / "predict_latency.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
