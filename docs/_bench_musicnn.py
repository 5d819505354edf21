"""reST renderers of the pretrained-embedding benchmarks, for ``_bench.py``'s registry.

``heads.json`` (``benchmarks/heads.py``), ``embed_speed.json``, ``predict_latency.json``,
``calibration.json``, ``open_set.json``, ``whole_song.json`` and ``long_files.json`` become the
tables of :doc:`benchmarks` and :doc:`model_card`.
``_bench.py`` loads this file and calls :func:`pages` with its own helpers.
"""

from __future__ import annotations

# Set by pages(): _bench.py's helpers (esc, num, list_table, figure, ...).
busy_note = command_block = esc = figure = list_table = load = None
machine_line = num = versions_line = None


def _header(report: dict) -> list[str]:
    machine = report.get("machine", {})
    lines = [
        f"**Machine.** {machine_line(machine)}; run {esc(report.get('date', 'at an unknown date'))}"
        + (f", load average at the start {load(report['load_average_start'])}"
           if report.get("load_average_start") else "")
        + ".",
        "",
    ]
    if report.get("versions"):
        lines += [f"**Versions.** {versions_line(report['versions'])}.", ""]
    lines += busy_note(machine, report.get("load_average_start"))
    lines += command_block(report.get("command"))
    return lines


def render_heads(report: dict) -> list[str]:
    cv = report.get("cv", {})
    data = report.get("data", {})
    repeats = report.get("settings", {}).get("repeats", "?")
    lines = [
        f"**Data.** {data.get('n_cv_tracks', '?')} GTZAN tracks (the development subset without "
        f"the fault-filtered test list), {repeats} x stratified 5-fold cross-validation by "
        "track.  Random folds put songs of one artist on both sides, so these accuracies are "
        "optimistic; the artist-disjoint table is the harder test.",
        "",
        *_header(report),
    ]
    ordered = sorted(cv.items(), key=lambda kv: -kv[1]["accuracy_mean"])
    rows = [[esc(name), f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}",
             " / ".join(map(str, r["vs_baseline"])) if "MFCC statistics + LR" != name else "--",
             num(r.get("log_loss"), ".3f"), num(r.get("ece"), ".3f")] for name, r in ordered]
    lines += list_table(["head", "CV accuracy (mean ± std over folds)",
                         "folds better / equal / worse than the baseline", "log loss", "ECE"],
                        rows)
    directions = report.get("artist_disjoint", {})
    if directions:
        header = ["head"] + [f"{esc(d)} ({v['n_train']} train, {v['n_test_seen_genres']} test)"
                             for d, v in directions.items()]
        rows = [[esc(name)] + [f"{v['accuracy'][name]:.3f}" for v in directions.values()]
                for name, _ in ordered]
        lines += ["**Artist-disjoint** (trained on one fault-filtered list, tested on the other's "
                  "tracks of the genres it has):", "", *list_table(header, rows),
                  "One test track is 100 / (its column's test tracks) points.", ""]
    return lines


def render_embed_speed(report: dict) -> list[str]:
    lines = [f"**Data.** {report.get('n_tracks', '?')} GTZAN tracks of 30 s (ten 3 s patches "
             "each).", "", *_header(report)]
    rows = [[esc(name), num(r["tracks_per_second"], ".2f"), num(r["ratio"], ".2f") + "x",
             num(r["best_tracks_per_second"], ".2f"), num(r["cold_seconds"], ".1f"),
             num(r["max_abs_diff"], ".1e")] for name, r in report.get("results", {}).items()]
    lines += list_table(["method", "tracks/s (median)", "vs the batched reference", "best run",
                         "cold run (s)", "max abs difference"], rows)
    lines += [f"Median of {report.get('repeats', '?')} interleaved warm runs; every method "
              "computes the same embeddings (the difference column is against the batched "
              "reference).", ""]
    return lines


def render_predict_latency(report: dict) -> list[str]:
    f = report.get("figures", {})
    rows = [
        ["``sk-audio-genre predict FILE``, new process", f"{f.get('cold_predict_s', 0):.2f} s",
         "5 s"],
        ["``sk-audio-genre tags FILE``, new process", f"{f.get('cold_tags_s', 0):.2f} s", ""],
        ["Python itself starting, for scale", f"{f.get('python_start_s', 0):.2f} s", ""],
        ["``load_pretrained()``", f"{f.get('warm_load_s', 0):.2f} s", ""],
        ["first ``predict([FILE])`` after loading", f"{f.get('warm_first_predict_ms', 0):.0f} ms",
         "300 ms"],
        ["later ``predict([FILE])`` calls", f"{f.get('warm_later_predict_ms', 0):.0f} ms", ""],
    ]
    return [f"**Data.** One 30 s track ({literal_track(report)}).", "", *_header(report),
            *list_table(["what", "median", "target"], rows)]


def literal_track(report: dict) -> str:
    return f"``{report.get('track', '?')}``"


def render_calibration(report: dict) -> list[str]:
    summary = report.get("summary", {})
    labels = {"recipe": "shipped recipe", "baseline": "MFCC statistics + LR"}
    rows = [[labels.get(name, esc(name)), f"{s['accuracy']:.3f}", f"{s['mean_confidence']:.3f}",
             f"{s['ece']:.3f}", f"{s['ece_if_calibrated_mean']:.3f} (95%: "
             f"{s['ece_if_calibrated_95']:.3f})", f"{s['log_loss']:.3f}", f"{s['brier']:.3f}"]
            for name, s in summary.items()]
    lines = [f"**Data.** {report.get('n_tracks', '?')} tracks, {report.get('repeats', '?')} x "
             "stratified 5-fold cross-validation; every track's probabilities come from a model "
             "that never saw it.", "", *_header(report)]
    lines += list_table(["model", "accuracy", "mean top probability", "ECE",
                         "ECE of a perfectly calibrated model, by chance", "log loss", "Brier"],
                        rows)
    lines += figure("", "calibration.png", "Left: how often the top genre was right, against the "
                    "probability given to it (ten bins of equal counts).  Right: the top "
                    "probabilities of right and wrong answers.")
    return lines


def _rate(values: list) -> str:
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return f"{mean:.3f} ± {spread:.3f}"


def render_open_set(report: dict) -> list[str]:
    folds = report.get("folds", [])
    if not folds:
        return _header(report)
    made = report.get("n_made", {})
    lines = [f"**Data.** {report.get('n_gtzan', '?')} GTZAN tracks outside the fault-filtered "
             f"test list, {report.get('repeats', '?')} x stratified 5-fold cross-validation "
             f"({len(folds)} folds), and {sum(made.values())} inputs made in the run ("
             + ", ".join(f"{n} {esc(kind)}" for kind, n in made.items()) + ").", "",
             *_header(report)]
    rows = [["made-up inputs (all)", _rate([f["made_unknown"] for f in folds]), "at least 0.90"]]
    rows += [[esc(kind), _rate([f[f"{kind}_unknown"] for f in folds]), ""] for kind in made]
    rows += [["GTZAN tracks, held out", _rate([f["gtzan_unknown"] for f in folds]),
              "at most 0.05"],
             ["their middle 10 s", _rate([f["clips_unknown"] for f in folds]), ""]]
    lines += list_table(["inputs", "called unknown (mean ± std over folds)", "target"], rows)
    lines += ["Random folds share artists, so the GTZAN rate is optimistic.  Artist-disjoint, a "
              "head trained on one fault-filtered list (its threshold calibrated on folds of "
              "that list, which share artists):", ""]
    lines += list_table(["direction", "training tracks", "GTZAN tracks called unknown",
                         "made-up inputs called unknown"],
                        [[esc(name), str(r["n_train"]), f"{r['gtzan_unknown']:.3f} of "
                          f"{r['n_test']}", f"{r['made_unknown']:.3f}"]
                         for name, r in report.get("artist_disjoint", {}).items()])
    others = [name for name in folds[0] if isinstance(folds[0][name], dict)]
    if others:
        lines += ["Other calibrations of the threshold, in the same folds:", ""]
        lines += list_table(["calibration", "GTZAN held out called unknown",
                             "made-up inputs called unknown"],
                            [[esc(name), f"{sum(f[name]['gtzan'] for f in folds) / len(folds):.3f}",
                              f"{sum(f[name]['made'] for f in folds) / len(folds):.3f}"]
                             for name in others])
    lines += ["How well each score separates held-out GTZAN tracks from the made-up inputs "
              "(declared before the run):", ""]
    lines += list_table(["score", "ROC AUC (mean ± std over folds)"],
                        [[esc(name), _rate(values)] for name, values in report["auc"].items()])
    return lines


def render_whole_song(report: dict) -> list[str]:
    speed, songs = report.get("speed", []), report.get("songs", [])
    if not speed:
        return _header(report)
    lines = ["**Data.** WAV files of shared tracks laid end to end; 4-minute medleys of 8 "
             "excerpts of one genre.", "", *_header(report)]
    lines += list_table(["file", "centre window (s per minute of audio)",
                         "whole song, at most 20 windows (s per minute)"],
                        [[f"{r['minutes']} min", f"{r['centre_s_per_min']:.3f}",
                          f"{r['whole_s_per_min']:.3f}"] for r in speed])
    if songs:
        right = {mode: sum(s[mode] == s["genre"] for s in songs) for mode in ("center", "all")}
        changed = [s for s in songs if s["center"] != s["all"]]
        lines += list_table(["medleys (artist-disjoint)", "centre window", "whole song"],
                            [["right genre", f"{right['center']} of {len(songs)}",
                              f"{right['all']} of {len(songs)}"]])
        lines += [f"Whole-song mode changed the answer for {len(changed)} of {len(songs)} "
                  "medleys" + (": " + ", ".join(f"{esc(s['genre'])} ({esc(s['center'])} to "
                                                f"{esc(s['all'])})" for s in changed)
                               if changed else "") + ".", ""]
    return lines


def render_long_files(report: dict) -> list[str]:
    rows = report.get("rows", [])
    if not rows:
        return _header(report)
    names = {"center": "centre 29.92 s", "all": "whole song (at most 20 windows)"}
    lines = ["**Data.** Stereo 44.1 kHz AAC (.m4a) files made in the run, decoded by FFmpeg "
             "through PyAV; each measurement a new process.", "", *_header(report)]
    lines += list_table(["file", "analysed", "peak resident memory (MB)", "predict (s)"],
                        [[esc(r["file"]), names.get(r["offset"], "first 29.92 s"),
                          f"{max(r['peak_rss_mb']):.0f}", f"{min(r['predict_s']):.2f}"]
                         for r in rows])
    return lines


def pages(helpers) -> dict:
    """The renderers by result name, using ``helpers`` (``_bench.py``'s namespace)."""
    names = ("busy_note", "command_block", "esc", "figure", "list_table", "load", "machine_line",
             "num", "versions_line")
    globals().update({name: getattr(helpers, name) for name in names})
    return PAGES


PAGES = {
    "heads": (render_heads, "head comparison",
              "python benchmarks/heads.py --data path/to/gtzan --out docs/_static/benchmarks"),
    "embed_speed": (render_embed_speed, "embedding speed",
                    "python benchmarks/embed_speed.py --data path/to/gtzan "
                    "--out docs/_static/benchmarks"),
    "predict_latency": (render_predict_latency, "prediction latency",
                        "python benchmarks/predict_latency.py --data path/to/gtzan "
                        "--out docs/_static/benchmarks"),
    "calibration": (render_calibration, "calibration",
                    "python benchmarks/calibration.py --data path/to/gtzan "
                    "--out docs/_static/benchmarks"),
    "open_set": (render_open_set, "open-set (unknown) measurement",
                 "python benchmarks/open_set.py --data path/to/gtzan --out docs/_static/benchmarks"),
    "whole_song": (render_whole_song, "whole-song measurement",
                   "python benchmarks/whole_song.py --data path/to/gtzan "
                   "--out docs/_static/benchmarks"),
    "long_files": (render_long_files, "long-file memory measurement",
                   "python benchmarks/long_files.py --minutes 60 --out docs/_static/benchmarks"),
}
