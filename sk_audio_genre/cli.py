"""The ``sk-audio-genre`` command line: predict, tags, train and evaluate.

``sk-audio-genre predict song.mp3 music/`` prints the likely genres of audio files with the
pretrained model (or ``--model`` a saved one); ``tags`` prints musicnn's Million Song
Dataset tags; ``train`` fits a model on a GTZAN-style folder; ``evaluate`` scores a model
on one.  ``python -m sk_audio_genre`` is the same program.

Files are checked before any model is loaded; TensorFlow is imported only for models that
use it, so ``--help``, ``tags`` and the pretrained model start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._cli_output import Progress, Records, escape, save_confusion_png, warn
from ._cli_parser import PROGRAM, build_parser
from ._header import ALL_EXTENSIONS

#: A progress bar is shown on a non-terminal stderr only above this many files.
PROGRESS_MIN_FILES = 20
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UserError(Exception):
    """A problem the user can fix: printed as ``sk-audio-genre COMMAND: error: ...``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sk-audio-genre`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {"predict": cmd_predict, "tags": cmd_tags, "train": cmd_train,
                "evaluate": cmd_evaluate}
    try:
        return handlers[args.command](args)
    except UserError as exc:
        warn(f"{PROGRAM} {args.command}", f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- inputs


def find_audio_files(
    paths: Sequence[str],
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Files named directly, plus audio files below named folders (sorted); the paths that
    are problems, with why; and the files in folders skipped as not audio."""
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    skipped: list[str] = []
    for given in paths:
        if os.path.isdir(given):
            found = []
            for root, dirs, names in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(n for n in names if not n.startswith(".")):
                    is_audio = os.path.splitext(name)[1].lower() in ALL_EXTENSIONS
                    (found if is_audio else skipped).append(os.path.join(root, name))
            if not found:
                problems.append((given, "folder holds no audio files "
                                 f"({', '.join(e.lstrip('.') for e in ALL_EXTENSIONS)})"))
            files.extend(sorted(found))
        elif os.path.exists(given):
            files.append(given)
        else:
            problems.append((given, "no such file or folder"))
    return files, problems, skipped


def _inputs(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, str]]]:
    files, problems, skipped = find_audio_files(args.paths)
    for path in skipped:
        warn(f"{PROGRAM} {args.command}", f"{path}: skipped (not an audio file extension)")
    for path, reason in problems:
        warn(f"{PROGRAM} {args.command}", f"{path}: {reason}")
    if not files:
        raise UserError("no audio files to classify.")
    return files, problems


def _load(spec: str, trust_pickle: bool, offset) -> object:
    from .inference import load_model
    from .pretrained import set_analysis

    try:
        model = load_model(spec, trust_pickle=trust_pickle)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot load model {spec!r}: {exc}") from None
    if not hasattr(model, "steps"):
        raise UserError(f"model {spec!r} is a {type(model).__name__}, not a fitted Pipeline "
                        "that reads audio files.")
    return set_analysis(model, offset=offset, on_error="nan")


def _progress(args: argparse.Namespace, n_files: int) -> Progress | None:
    show = not args.no_progress and (sys.stderr.isatty() or n_files > PROGRESS_MIN_FILES)
    return Progress(n_files, sys.stderr) if show else None


def _analysed(report) -> str:
    """How much of a file was analysed, when not all of the window asked for."""
    return "" if report.status == "ok" else report.reason.removesuffix(" filled")


# --------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    files, problems = _inputs(args)
    if args.timeline and len(files) != 1:
        raise UserError(f"--timeline draws one file; {len(files)} were given.")
    from .inference import predict_files

    model = _load(args.model, args.trust_pickle, args.offset)
    classes = [str(c) for c in model.classes_]
    status = _run(args, files, problems, predict_files(model, files), len(classes),
                  lambda proba: [(classes[i], float(proba[i]))
                                 for i in np.argsort(-proba, kind="stable")[: args.top]])
    if args.timeline and status == EXIT_OK:
        _draw_timeline(model, files[0], args.timeline)
    return status


def _run(args, files, problems, results, n_labels, rank) -> int:
    """Write one record per input from ``results``; the exit status."""
    from .inference import BATCH_SIZE

    records = Records(args.format, min(args.top, n_labels),
                      "tag" if args.command == "tags" else "genre", sys.stdout)
    for path, reason in problems:
        records.fail(path, reason)
    progress = _progress(args, len(files))
    n_failed = len(problems)
    for done, result in enumerate(results, start=1):
        if result.proba is None:
            n_failed += 1
            if progress is not None:
                progress.interrupt()
            warn(f"{PROGRAM} {args.command}", f"{result.path}: {result.report.reason}")
            records.fail(result.path, result.report.reason)
        else:
            records.write(result.path, rank(result.proba), _analysed(result.report),
                          result.report.notes)
        if progress is not None and (done % BATCH_SIZE == 0 or done == len(files)):
            progress.update(done - progress.done)  # once per batch
    records.close()
    if n_failed:
        warn(f"{PROGRAM} {args.command}",
             f"{n_failed} of {len(files) + len(problems)} inputs failed")
    return EXIT_FAILED if n_failed else EXIT_OK


def _draw_timeline(model, path: str, png: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--timeline needs matplotlib: pip install matplotlib") from None
    from .timeline import GenreTimelineDisplay

    try:
        display = GenreTimelineDisplay.from_model(model, path)
        display.figure_.savefig(png, dpi=100)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot draw the timeline of {path}: {exc}") from None
    finally:
        plt.close("all")
    print(f"timeline of {escape(path)} drawn to {escape(png)}", file=sys.stderr)


# --------------------------------------------------------------------------- tags


def cmd_tags(args: argparse.Namespace) -> int:
    import numpy as np

    from .embedder import MSD_TAGS, MusicnnEmbedder
    from .inference import embed_files
    from .recipes import musicnn_window

    files, problems = _inputs(args)
    embedder = MusicnnEmbedder(layer="taggram", offset=args.offset, duration=musicnn_window(),
                               on_error="nan").fit(files)
    return _run(args, files, problems, embed_files(embedder, files), len(MSD_TAGS),
                lambda p: [(MSD_TAGS[i], float(p[i])) for i in np.argsort(-p)[: args.top]])


# --------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import build_recipe

    data = _load_folder(args.data_dir)
    if len(data.target_names) < 2:
        raise UserError(f"{args.data_dir} has audio for {len(data.target_names)} genre; "
                        "training needs 2 or more genre folders.")
    options = {"epochs": args.epochs, "learning_rate": args.learning_rate, "scale": args.scale,
               "members": args.members, "random_state": args.random_state,
               "verbose": 2 if args.verbose else None}
    try:
        pipe = build_recipe(args.model, n_jobs=args.jobs, **options)
    except ValueError as exc:
        raise UserError(f"--model {args.model}: {exc}") from None
    print(f"training {args.model} on {len(data.paths)} tracks of {len(data.target_names)} "
          f"genres ({', '.join(map(str, data.target_names))})...", file=sys.stderr)
    start = time.monotonic()
    try:
        pipe.fit(list(data.paths), data.genres)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    where = _save(pipe, args.out, data)
    print(f"trained in {time.monotonic() - start:.0f} s; {_training_summary(pipe)}; "
          f"saved to {where}")
    return EXIT_OK


def _training_summary(pipe) -> str:
    last = pipe.steps[-1][1]
    histories = [m.history_ for m in getattr(last, "estimators_", [last]) if hasattr(m, "history_")]
    if not histories:
        return f"{len(last.classes_)} genres"
    loss = sum(h["loss"][-1] for h in histories) / len(histories)
    accuracy = sum(h["accuracy"][-1] for h in histories) / len(histories)
    return f"final training loss {loss:.3f}, segment accuracy {accuracy:.3f}"


def _save(pipe, out: str, data) -> str:
    from .model_format import model_digest, save_pipeline, training_record

    if Path(out).suffix.lower() in (".joblib", ".pkl", ".pickle"):
        import joblib

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, out)
        return f"{out} (joblib pickle; loads only with --trust-pickle)"
    save_pipeline(pipe, out, metadata={"trained_on": training_record(data.track_ids, data.paths)})
    return f"{out}/ (no pickle; digest {model_digest(out)})"


def _load_folder(data_dir: str):
    import warnings

    from .datasets import load_gtzan

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load_gtzan(data_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for warning in caught:
        warn(PROGRAM, f"warning: {warning.message}")
    return data


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sklearn.metrics import accuracy_score, classification_report

    from .inference import predict_files

    data = _load_folder(args.data_dir)
    model = _load(args.model, args.trust_pickle, args.offset)
    _warn_training_overlap(args.model, data)
    classes = [str(c) for c in model.classes_]
    truth, predicted, n_failed = [], [], 0
    for result, genre in zip(predict_files(model, list(data.paths)), data.genres, strict=True):
        if result.proba is None:
            n_failed += 1
            warn(f"{PROGRAM} evaluate", f"{result.path}: {result.report.reason} (left out)")
            continue
        truth.append(str(genre))
        predicted.append(classes[int(result.proba.argmax())])
    if not truth:
        raise UserError("no file of the folder could be classified.")
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        warn(PROGRAM, f"warning: genres {unknown} are not among the model's genres; their "
             "tracks count as errors")
    labels = sorted(set(classes) | set(truth))
    accuracy = accuracy_score(truth, predicted)
    n_right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    print(f"model: {args.model}")
    print(f"data: {args.data_dir} ({len(truth)} tracks classified, {n_failed} failed)")
    print(f"accuracy: {accuracy:.3f} ({n_right}/{len(truth)})\n")
    print(classification_report(truth, predicted, labels=labels, zero_division=0))
    if args.confusion_png:
        try:
            save_confusion_png(truth, predicted, labels, args.confusion_png,
                               title=f"{args.model}: {accuracy:.2f}")
        except ImportError:
            raise UserError("--confusion-png needs matplotlib: pip install matplotlib") from None
        except OSError as exc:
            raise UserError(f"cannot write {args.confusion_png}: {exc}") from None
        print(f"confusion matrix drawn to {args.confusion_png}")
    return EXIT_FAILED if n_failed else EXIT_OK


def _warn_training_overlap(spec: str, data) -> None:
    """Warn, with the overlap, when the model was trained on some of the evaluated files."""
    from .model_format import model_metadata, sha256_file
    from .pretrained import pretrained_dir

    folder = pretrained_dir() if spec == "pretrained" else Path(spec)
    if not (folder.is_dir() or folder.suffix == ".json"):
        return
    trained = model_metadata(folder).get("trained_on", [])
    digests = {t.get("sha256") for t in trained if isinstance(t, dict)}
    overlap = [str(track) for track, path in zip(data.track_ids, data.paths, strict=True)
               if sha256_file(path) in digests]
    if overlap:
        shown = ", ".join(overlap[:10]) + (f" and {len(overlap) - 10} more" if len(overlap) > 10
                                           else "")
        warn(PROGRAM, f"warning: {len(overlap)} of the {len(data.paths)} files were used to "
             f"train this model ({shown}); accuracy on them says little about new music.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
