"""Turn the benchmark results in ``_static/benchmarks/`` into reST for the docs.

``benchmarks/compare.py``, ``benchmarks/extract_speed.py`` and ``benchmarks/scale.py``
write ``compare.json``, ``extract_speed.json`` and ``scale.json`` (plus PNG figures).  At the start
of every build this extension renders them as reST into ``_generated/``
(ignored by git and excluded from the sources), and ``benchmarks.rst`` and
``scaling.rst`` include those files.  Without results the generated files hold a note saying
so, so the build never depends on a benchmark having been run.

Run ``python docs/_bench.py`` to print the generated reST.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "_static" / "benchmarks"
OUT = HERE / "_generated"
URL = "/_static/benchmarks"  # absolute from the source folder, for image directives


# ----------------------------------------------------------------------------- reST helpers


def esc(value: object) -> str:
    """Text with reST's inline markup characters escaped."""
    return re.sub(r"([\\`*_|])", r"\\\1", str(value))


def literal(value: object) -> str:
    return f"``{value}``"


def num(value: object, pattern: str, *, missing: str = "n/a") -> str:
    if value is None:
        return missing
    try:
        return format(value, pattern)
    except (TypeError, ValueError):
        return esc(value)


def list_table(header: list[str], rows: list[list[str]], *, widths: str | None = None) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        first, *rest = row
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}" for cell in rest)
    return [*lines, ""]


def figure(folder: str, name: str, caption: str) -> list[str]:
    path = f"{folder}/{name}" if folder else name
    if not (RESULTS / path).is_file():
        return []
    return [f".. figure:: {URL}/{path}", "   :align: center", "", f"   {caption}", ""]


def heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def machine_line(machine: dict) -> str:
    parts = []
    if machine.get("cpu_count"):
        usable = machine.get("usable_cpus")
        cpus = f"{machine['cpu_count']} CPUs"
        if usable and usable != machine["cpu_count"]:
            cpus += f" ({usable} usable)"
        parts.append(cpus)
    if machine.get("cpu_model") or machine.get("processor"):
        parts.append(esc(machine.get("cpu_model") or machine["processor"]))
    simd = machine.get("numpy_simd") or {}
    extensions = [*simd.get("baseline", []), *simd.get("found", [])]
    if extensions:
        parts.append(f"NumPy SIMD {literal(' '.join(extensions))}")
    if machine.get("blas"):
        parts.append(f"BLAS {esc('; '.join(machine['blas']))}")
    if machine.get("platform"):
        parts.append(esc(machine["platform"]))
    if machine.get("python"):
        parts.append(f"Python {esc(machine['python'])}")
    return ", ".join(parts) or "not recorded"


def command_block(command: object) -> list[str]:
    """A recorded benchmark command as a literal block (older runs left out ``python``)."""
    if not command:
        return []
    command = str(command)
    if not command.startswith("python"):
        command = f"python {command}"
    return ["Command::", "", f"   {command}", ""]


def load(values: object) -> str:
    """A load-average triple as ``1.2 / 3.4 / 5.6``."""
    if not isinstance(values, (list, tuple)):
        return esc(values)
    return " / ".join(num(v, ".1f") for v in values)


def versions_line(versions: dict) -> str:
    return ", ".join(f"{esc(name)} {esc(version)}" for name, version in versions.items())


def busy_note(machine: dict, *loads: object) -> list[str]:
    """A caution when the 1-minute load average exceeded the CPU count during a run."""
    cpus = machine.get("usable_cpus") or machine.get("cpu_count")
    peaks = [values[0] for values in loads if isinstance(values, (list, tuple)) and values]
    if not cpus or not peaks or max(peaks) <= cpus:
        return []
    return [
        ".. note::",
        "",
        f"   The machine was busy during this run (1-minute load average up to {max(peaks):.1f}"
        f" on {cpus} CPUs): other work competed for the processors, so the times are",
        "   pessimistic and ratios between them less certain than on an idle machine.",
        "",
    ]


def missing_note(what: str, command: str) -> list[str]:
    return [
        ".. note::",
        "",
        f"   No {what} results are present in ``docs/_static/benchmarks/``, so none are",
        "   shown here.  To produce them, run::",
        "",
        f"      {command}",
        "",
    ]


# ----------------------------------------------------------------------------- compare.py


#: Section titles of compare.py runs, by ``split["name"]``.
SPLIT_TITLES = {
    "stratified": "Stratified random split of the tracks",
    "fault-filtered": "Fault-filtered, artist-disjoint split",
}


def render_compare(report: dict, folder: str = "", sub: str = "~") -> list[str]:
    """One compare.py run; ``sub`` underlines its sub-sections."""
    data, split = report.get("data", {}), report.get("split", {})
    settings, machine = report.get("settings", {}), report.get("machine", {})
    features = report.get("features", {})
    per_genre = data.get("tracks_per_genre", {})
    lines = [
        f"**Data.** {data.get('n_tracks', '?')} tracks from {literal(data.get('folder', '?'))}"
        + (f" ({esc(', '.join(f'{g} {n}' for g, n in per_genre.items()))})" if per_genre else "")
        + "."
        + (
            "  With this few tracks one test track moves accuracy by several points: treat the"
            " figures as rough."
            if isinstance(data.get("n_tracks"), int) and data["n_tracks"] < 500
            else ""
        ),
        "",
        f"**Split.** {esc(split.get('description', 'not recorded'))}.  "
        f"{split.get('n_train', '?')} training tracks, {split.get('n_test', '?')} test tracks"
        + (f", {split['n_unused']} unused" if split.get("n_unused") else "")
        + ".",
        "",
        "**Models.** The networks use the library's defaults (the seed's architectures, Adam at"
        f" 1e-4, batch size 32) for {settings.get('epochs', '?')} epochs with"
        f" ``random_state={settings.get('seed', '?')}``, on "
        + (
            "raw MFCCs (no scaling)"
            if settings.get("no_scale")
            else "MFCCs standardised by a SegmentScaler fitted on the training tracks"
        )
        + ".  The baselines are scikit-learn pipelines (StandardScaler, then the classifier) on"
        " each track's mean and standard deviation of the 13 MFCCs (26 values).",
        "",
        f"**Machine.** {machine_line(machine)}; run {esc(report.get('date', 'at an unknown date'))}"
        + (f", {report['total_seconds']:.0f} s in all" if report.get("total_seconds") else "")
        + "."
        + (
            f"  Features {literal(tuple(features['shape']))} extracted in"
            f" {features['seconds']:.1f} s."
            if features.get("shape") and features.get("seconds") is not None
            else ""
        ),
        "",
    ]
    if report.get("versions"):
        lines += [f"**Versions.** {versions_line(report['versions'])}.", ""]
    lines += busy_note(machine, machine.get("load_average_1_5_15"))
    if settings.get("quick"):
        lines += [
            ".. warning::",
            "",
            "   These figures come from a ``--quick`` smoke run (few tracks, few epochs):",
            "   they show that the benchmark runs, not how good the models are.",
            "",
        ]
    lines += command_block(report.get("command"))

    models = report.get("models", {})
    rows = [
        [
            esc(name),
            num(r.get("track_accuracy"), ".3f"),
            num(r.get("macro_f1"), ".3f"),
            num(r.get("segment_accuracy"), ".3f", missing="--"),
            num(r.get("fit_seconds"), ".1f"),
            num(r.get("predict_ms_per_track"), ".2f"),
            num(r.get("n_params"), ",", missing="--"),
        ]
        for name, r in models.items()
    ]
    lines += list_table(
        [
            "model",
            "track accuracy",
            "macro-F1",
            "segment accuracy",
            "fit (s)",
            "predict (ms/track)",
            "parameters",
        ],
        rows,
    )
    lines += [
        "Track accuracy and macro-F1 (over the genres present in the test tracks) are measured on"
        " the test tracks; segment accuracy counts each test segment's most probable genre on its"
        " own, before the segments of a track are combined.  Predict time is for the classifier"
        " alone on precomputed features, after one untimed call, median of 3.",
        "",
    ]
    unseen = split.get("genres_not_in_train") or []
    if unseen:
        lines += [
            f"No training track has the genre(s) {esc(', '.join(unseen))}, so no model can predict"
            " them.  Track accuracy over the test tracks of the other genres: "
            + ", ".join(
                f"{esc(name)} {num(r.get('track_accuracy_seen_genres'), '.3f')}"
                for name, r in models.items()
            )
            + ".",
            "",
        ]

    leaky = report.get("leaky")
    if leaky:
        share = leaky.get("test_segments_whose_track_is_in_training")
        lines += [
            *heading("The leak of a segment-level split", sub),
            f"{esc(leaky.get('description', ''))} ({leaky.get('n_train_segments', '?')} training and"
            f" {leaky.get('n_test_segments', '?')} test segments"
            + (f"; {share:.0%} of the test segments have sibling segments in training" if share is not None else "")
            + ").  The same CNN, scored on segments:",
            "",
        ]
        lines += list_table(
            ["CNN evaluated on", "segment accuracy"],
            [
                [
                    "segments of held-out tracks (the split above)",
                    num(leaky.get("segment_accuracy_track_split"), ".3f"),
                ],
                [
                    "random segments, tracks on both sides (the seed's split)",
                    num(leaky.get("segment_accuracy_leaky"), ".3f"),
                ],
            ],
            widths="70 30",
        )
        lines += [
            "The difference is the optimism that splitting segments instead of tracks builds in;"
            " see :doc:`evaluation`.",
            "",
        ]

    opt = report.get("optimisation_modes")
    if opt and opt.get("modes"):
        common = opt.get("common_seconds")
        lines += [
            *heading("Optimisation modes", sub),
            f"The {esc(opt.get('model', 'MLP'))} trained for {opt.get('epochs', '?')} epochs on"
            f" {opt.get('n_train_segments', '?')} training segments in each of the seed's three"
            " optimisation modes (``batch_size=\"full\"``, ``32`` and ``1``; see :doc:`models`):",
            "",
        ]
        lines += list_table(
            [
                "mode",
                "steps per epoch",
                "fit (s)",
                "final training loss",
                f"training loss after {num(common, '.1f')} s",
                "final training accuracy",
                "test track accuracy",
            ],
            [
                [
                    esc(m.get("mode", "?")),
                    num(m.get("steps_per_epoch"), "d"),
                    num(m.get("fit_seconds"), ".1f"),
                    num(m.get("final_train_loss"), ".4f"),
                    num(m.get("loss_at_common_seconds"), ".4f"),
                    num(m.get("final_train_accuracy"), ".3f"),
                    num(m.get("track_accuracy"), ".3f"),
                ]
                for m in opt["modes"]
            ],
        )
        lines += [
            "\"Training loss after ... s\" is each mode's loss at the end of its last epoch"
            " finished within the fastest mode's whole run: a comparison at equal wall-clock"
            " time (n/a where no epoch finished in time).  Epoch times include Keras' one-off"
            " graph tracing in the first epoch.",
            "",
        ]

    figures = report.get("figures") or []
    confusion = [f for f in figures if f.startswith("confusion_")]
    shown = []
    if "learning_curves.png" in figures:
        shown += figure(
            folder,
            "learning_curves.png",
            "Training loss and segment accuracy per epoch (test-segment accuracy is a diagnostic,"
            " not used for training).",
        )
    if "optimisation_modes.png" in figures:
        shown += figure(
            folder,
            "optimisation_modes.png",
            "Training loss of the three optimisation modes against wall-clock time and epochs.",
        )
    for name in confusion:
        model = next(
            (m for m, r in models.items() if r.get("figure") == name), name[len("confusion_") : -4]
        )
        shown += figure(folder, name, f"Confusion matrix of {esc(model)} on the test tracks.")
    if shown:
        lines += [*heading("Figures", sub), *shown]
    return lines


# ----------------------------------------------------------------------------- extract_speed.py


def render_extract_speed(report: dict) -> list[str]:
    machine = report.get("machine", {})
    methods = report.get("methods", {})
    shape = next((m.get("shape") for m in methods.values() if m.get("shape")), None)
    atol = report.get("atol")
    lines = [
        f"**Data.** {report.get('n_tracks', '?')} tracks from {literal(report.get('data', '?'))}"
        + (f", features of shape {literal(tuple(shape))}" if shape else "")
        + (f" ({report['n_tracks_shorter_than_30_s_left_out']} tracks shorter than 30 s left "
           "out: the original course's loop cannot stack their short last segment)"
           if report.get("n_tracks_shorter_than_30_s_left_out") else "")
        + ".",
        "",
        f"**Machine.** {machine_line(machine)}; run {esc(report.get('date', 'at an unknown date'))}."
        + (
            f"  Load average (1, 5, 15 min) at the start"
            f" {load(report['load_average_start'])}, at the end"
            f" {load(machine.get('load_average_1_5_15'))}."
            if report.get("load_average_start")
            else ""
        ),
        "",
    ]
    if report.get("versions"):
        lines += [f"**Versions.** {versions_line(report['versions'])}.", ""]
    lines += busy_note(machine, report.get("load_average_start"), machine.get("load_average_1_5_15"))
    lines += command_block(report.get("command"))
    rows = [
        [
            esc(name),
            num(f.get("tracks_per_second"), ".1f"),
            num(f.get("speedup_vs_reference"), ".2f") + "x",
            num(f.get("speedup_vs_whole_file_loop"), ".2f") + "x",
            num(f.get("cold_seconds"), ".2f"),
            num(f.get("cold_speedup_vs_reference"), ".2f") + "x",
            num(f.get("max_abs_diff"), ".2g"),
            "yes" if f.get("equal_within_atol") else "**no**",
        ]
        for name, f in methods.items()
    ]
    lines += list_table(
        [
            "method",
            "warm tracks/s",
            "warm speed-up",
            "vs whole-file loop",
            "cold (s)",
            "cold speed-up",
            "max abs difference",
            f"equal (atol {num(atol, 'g')})",
        ],
        rows,
    )
    lines += [
        f"Warm figures are the median of {report.get('repeats', '?')} interleaved runs after the"
        " cold first run; speed-up is the seed loop's median time divided by the method's.  Every"
        " file was read once beforehand, so no method pays for the disk cache.  \"Cold\" is a"
        " method's first call in the process (for ``n_jobs`` > 1 it includes starting the joblib"
        " workers).",
        "",
    ]
    if report.get("best_speedup") is not None:
        lines += [
            f"Best MFCCSegmenter speed-up over the seed's loop: {report['best_speedup']:.2f}x"
            + (
                f" (target {report['target_speedup']:g}x:"
                f" {'met' if report.get('target_met') else 'not met'})"
                if report.get("target_speedup") is not None
                else ""
            )
            + ".",
            "",
        ]
    return lines


# ----------------------------------------------------------------------------- scale.py


def _first(value: object) -> object:
    """The 1-minute figure of a load average given as one number or a triple."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def render_scale(report: dict) -> list[str]:
    machine = report.get("machine", {})
    loads = [[_first(r.get("load_average"))]
             for r in report.get("extraction", []) + report.get("search", [])]
    lines = [
        f"**Data.** {report.get('n_tracks', '?')} tracks from {literal(report.get('data', '?'))},"
        " listed 1, 10, ... times over (repeated files come from the page cache, so this"
        " measures decoding and MFCCs, not the disk).",
        "",
        f"**Machine.** {machine_line(machine)}; run {esc(report.get('date', 'at an unknown date'))}.",
        "",
    ]
    if report.get("versions"):
        lines += [f"**Versions.** {versions_line(report['versions'])}.", ""]
    lines += busy_note(machine, *[v for v in loads if v[0] is not None])
    lines += command_block(report.get("command"))
    rows = []
    for r in report.get("extraction", []):
        cpu_ms = r.get("cpu_seconds")
        cores = cpu_ms / r["seconds"] if cpu_ms and r.get("seconds") else None
        rows.append([
            f"{r.get('n_files', 0):,}",
            esc(r.get("mode", "?")),
            num(r.get("tracks_per_second"), ".1f"),
            num(1000 * cpu_ms / r["n_files"] if cpu_ms and r.get("n_files") else None, ".1f"),
            num(cores, ".2f"),
            f"{num(r.get('parent_rss_growth_mib'), '.0f')} / {num(r.get('output_mib'), '.1f')}",
            num(r.get("largest_worker_peak_rss_mib"), ".0f", missing="-"),
            "yes" if r.get("identical_to_first_mode") else "**no**",
            num(_first(r.get("load_average")), ".1f"),
        ])
    if rows:
        lines += ["**Extraction.**  Each row is a fresh process whose workers were started before"
                  " timing; *CPU ms per file* counts the parent and every worker; *cores obtained*"
                  " is CPU seconds per second of the run (what other jobs left it).", ""]
        lines += list_table(
            ["files", "mode", "tracks/s", "CPU ms per file", "cores obtained",
             "parent growth / output MiB", "largest worker peak MiB", "identical features",
             "load"],
            rows,
        )
    searches = report.get("search", [])
    if searches:
        lines += ["**Grid search.**  ``GridSearchCV(Pipeline([MFCCSegmenter(), SegmentScaler(),"
                  " CNNGenreClassifier(epochs=5, random_state=0)], memory=...),"
                  " {\"clf__learning_rate\": [1e-4, 1e-3]}, cv=3)`` on the tracks, refit"
                  " included, each call with an empty feature cache.  Each mode ran in a fresh"
                  " process and searched twice: the first call starts the workers and imports"
                  " TensorFlow in them, the second finds them ready.", ""]
        rows = []
        for r in searches:
            first, second = r["calls"]
            rows.append([
                esc(r["mode"]),
                num(first["seconds"], ".1f"),
                num(second["seconds"], ".1f"),
                f"{num(first.get('cpu_seconds'), '.1f')} / {num(second.get('cpu_seconds'), '.1f')}",
                ", ".join(f"{v:.4f}" for v in second["mean_test_score"]),
            ])
        lines += list_table(["mode", "first call s", "second call s", "CPU s (first / second)",
                             "mean test accuracy per candidate"], rows)
    return lines


# ----------------------------------------------------------------------------- build hook

PAGES = {
    "compare": (
        render_compare,
        "model comparison",
        "python benchmarks/compare.py --data path/to/gtzan --leaky --out docs/_static/benchmarks",
    ),
    "extract_speed": (
        render_extract_speed,
        "feature-extraction speed",
        "python benchmarks/extract_speed.py --data path/to/gtzan --out docs/_static/benchmarks",
    ),
    "scale": (
        render_scale,
        "scaling",
        "python benchmarks/scale.py --data path/to/gtzan --max-scale 100 --search "
        "--out docs/_static/benchmarks",
    ),
}


def _musicnn_pages() -> dict:
    """The pretrained-embedding renderers of ``_bench_musicnn.py``, given these helpers."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("_bench_musicnn", HERE / "_bench_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pages(SimpleNamespace(**globals()))


def read_report(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # e.g. a file still being written
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def render_compare_runs() -> list[str]:
    """Every compare.py run: ``compare.json`` and ``<subfolder>/compare.json``.

    One run is rendered directly; several get a section each ("~"), titled by
    their split, with sub-sections underlined by "^".
    """
    runs = [("", RESULTS / "compare.json")] + [
        (path.parent.name, path) for path in sorted(RESULTS.glob("*/compare.json"))
    ]
    runs = [(folder, path) for folder, path in runs if path.is_file()]
    if len(runs) == 1:
        folder, path = runs[0]
        return render_compare(read_report(path), folder, "~")
    lines = []
    for folder, path in runs:
        report = read_report(path)
        name = report.get("split", {}).get("name", folder or "results")
        title = SPLIT_TITLES.get(name, esc(name))
        lines += [*heading(title, "~"), *render_compare(report, folder, "^")]
    return lines


def render(name: str) -> str:
    renderer, what, command = {**PAGES, **_musicnn_pages()}[name]
    if name == "compare":
        lines = render_compare_runs()
    else:
        path = RESULTS / f"{name}.json"
        lines = renderer(read_report(path)) if path.is_file() else []
    if not lines:
        lines = missing_note(what, command)
    return "\n".join(lines).rstrip() + "\n"


def write_all(app=None) -> None:
    """Write ``_generated/benchmarks_<name>.rst``, only when the text changed."""
    OUT.mkdir(exist_ok=True)
    for name in {**PAGES, **_musicnn_pages()}:
        text = render(name)
        target = OUT / f"benchmarks_{name}.rst"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", write_all)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    for page in PAGES:
        print(render(page))
