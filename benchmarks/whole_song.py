"""Whole songs: what whole-song mode (``offset="all"``) costs, and whether it changes answers.

1. **Time per minute of audio.**  WAV files of 1, 4 and 16 minutes (shared tracks laid end
   to end) are predicted by the shipped model in one process, centre window (the default)
   and whole-song mode (consecutive 29.92 s windows, at most ``max_windows=20`` evenly
   spaced): median of ``--repeats`` warm runs, as seconds per minute of audio.
2. **Answers on 4-minute songs.**  GTZAN has only 30 s excerpts, so "songs" are made by
   laying 8 excerpts of one genre end to end (a genre's tracks in a seeded random order,
   repeated when it has fewer than 8).  To keep the songs' tracks out of training, the
   recipe is trained on one fault-filtered list and tested on songs of the other list's
   tracks (artist-disjoint), both ways; predictions are the closed-set genre (the open-set
   "unknown" is measured by ``open_set.py``).  For each song: the centre window's answer,
   the whole song's, and the truth.

A 4-minute song of 8 excerpts is a medley, not a song: its centre window hears one or two of
its excerpts, the whole song all of them.  So part 2 says whether analysing more of a file
helps when the file varies; it does not measure real songs, which GTZAN does not have.

    python benchmarks/whole_song.py --data ../shared/data/gtzan --out docs/_static/benchmarks

Writes ``whole_song.json`` and ``whole_song.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, machine_info, recorded_path, versions  # noqa: E402

from sk_audio_genre import load_pretrained  # noqa: E402
from sk_audio_genre.datasets import fault_filtered_split, load_gtzan  # noqa: E402
from sk_audio_genre.pretrained import set_analysis  # noqa: E402
from sk_audio_genre.recipes import musicnn_recipe  # noqa: E402

SEED = 0
SR = 22050
EXCERPT = 30 * SR
SONG_EXCERPTS = 8


def lay_end_to_end(paths, n: int, rng) -> np.ndarray:
    """``n`` excerpts of ``paths`` (in a random order, cycling) laid end to end."""
    order = [paths[i] for i in rng.permutation(len(paths))]
    chosen = [order[k % len(order)] for k in range(n)]
    return np.concatenate([sf.read(p, dtype="float32")[0][:EXCERPT] for p in chosen])


def seconds_per_minute(model, path: str, minutes: float, repeats: int) -> float:
    model.predict([path])  # warm: the first call loads what predicting needs
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict([path])
        times.append(time.perf_counter() - start)
    return statistics.median(times) / minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/gtzan")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    warnings.simplefilter("ignore", UserWarning)  # GTZAN's 30.01 s excerpts fill partly
    rng = np.random.default_rng(SEED)
    data = load_gtzan(args.data)
    speed = []
    with tempfile.TemporaryDirectory() as folder:
        centre = load_pretrained()
        whole = set_analysis(load_pretrained(), offset="all")
        for minutes in (1, 4, 16):
            path = Path(folder) / f"{minutes}min.wav"
            sf.write(path, lay_end_to_end(list(data.paths), 2 * minutes, rng), SR)
            speed.append({
                "minutes": minutes,
                "centre_s_per_min": seconds_per_minute(centre, str(path), minutes, args.repeats),
                "whole_s_per_min": seconds_per_minute(whole, str(path), minutes, args.repeats),
            })  # fmt: skip
            print(speed[-1], flush=True)

        masks = fault_filtered_split(data.track_ids)
        songs = []
        for train_name, train, test in (("train", masks.train, masks.valid),
                                        ("valid", masks.valid, masks.train)):
            model = musicnn_recipe().fit(list(data.paths[train]), data.genres[train])
            closed = model.named_steps["classify"].estimator_
            for genre in sorted(set(data.genres[test]) & set(data.genres[train])):
                tracks = list(data.paths[test & (data.genres == genre)])
                for k in range(2):
                    path = Path(folder) / f"{train_name}_{genre}_{k}.wav"
                    sf.write(path, lay_end_to_end(tracks, SONG_EXCERPTS, rng), SR)
                    answers = {}
                    for mode in ("center", "all"):
                        features = set_analysis(model, offset=mode)[:-1].transform([str(path)])
                        answers[mode] = str(closed.predict(features)[0])
                    songs.append({"trained_on": train_name, "genre": genre,
                                  "n_tracks": len(tracks), **answers})
                    print(songs[-1], flush=True)
    report = {"benchmark": "whole_song", "date": date, "command": command_line(),
              "data": recorded_path(args.data), "speed": speed, "songs": songs,
              "machine": machine_info(), "versions": versions()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "whole_song.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "whole_song.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    songs = report["songs"]
    centre = np.mean([s["center"] == s["genre"] for s in songs])
    whole = np.mean([s["all"] == s["genre"] for s in songs])
    changed = [s for s in songs if s["center"] != s["all"]]
    machine = report["machine"]
    lines = [
        "# Whole-song mode", "",
        "Seconds of prediction per minute of audio (shipped model, one process, warm, median "
        "of repeated runs):", "",
        "| file | centre window | whole song (at most 20 windows) |", "|---|---:|---:|",
    ]
    lines += [f"| {row['minutes']} min | {row['centre_s_per_min']:.3f} | "
              f"{row['whole_s_per_min']:.3f} |" for row in report["speed"]]
    lines += [
        "", f"Answers on {len(songs)} 4-minute medleys of {SONG_EXCERPTS} excerpts of one "
        "genre (artist-disjoint: the recipe trained on one fault-filtered list, the medleys "
        "made of the other list's tracks; closed-set genre):", "",
        "| | centre window | whole song |", "|---|---:|---:|",
        f"| right genre | {centre:.3f} ({int(round(centre * len(songs)))} of {len(songs)}) | "
        f"{whole:.3f} ({int(round(whole * len(songs)))} of {len(songs)}) |", "",
        f"Whole-song mode changed the answer for {len(changed)} of {len(songs)} medleys"
        + (": " + ", ".join(f"{s['genre']} ({s['center']} -> {s['all']})" for s in changed)
           if changed else "") + ".  A medley is not a song (see the script's docstring); "
        f"with {len(songs)} medleys, one is {100 / max(1, len(songs)):.0f} points.", "",
        f"Run: `{report['command']}`, {report['date']}, {machine['cpu_model']} "
        f"({machine['cpu_count']} CPUs).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
