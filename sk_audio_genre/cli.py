"""The ``sk-audio-genre`` command line: predict, tags, train and evaluate.

``sk-audio-genre predict song.mp3 music/`` prints the likely genres of audio files with the
pretrained model (or ``--model`` a saved one); ``tags`` prints musicnn's Million Song
Dataset tags; ``train`` fits a model on a GTZAN-style folder; ``evaluate`` scores a model
on one.  ``python -m sk_audio_genre`` is the same program.

Files are checked before any model is loaded; TensorFlow is imported only for models that
use it, so ``--help``, ``tags`` and the pretrained model start fast.

While a command works, every file's problem is said once, in the command line's words,
from the library's per-file reports: Python warnings are shown once each as
``warning:`` lines (those about files, which the reports already hold, not at all), and
what C libraries (libmpg123, FFmpeg, TensorFlow) write to file descriptor 2 goes to the
null device.  Python's own messages, tracebacks included, still reach stderr.  A closed
stdout (``| head -1``) ends the run quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ._cli_output import (
    Progress,
    Records,
    escape,
    format_confusion,
    open_for_resume,
    save_confusion_png,
    warn,
)
from ._cli_parser import PROGRAM, build_parser, check_usage
from ._header import ALL_EXTENSIONS

#: A progress bar is shown on a non-terminal stderr only above this many files.
PROGRESS_MIN_FILES = 20
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UserError(Exception):
    """A problem the user can fix: printed as ``sk-audio-genre COMMAND: error: ...``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sk-audio-genre`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = check_usage(args)
    if problem:
        parser.error(problem)
    handlers = {"predict": cmd_predict, "tags": cmd_tags, "train": cmd_train,
                "evaluate": cmd_evaluate}
    with _c_chatter_silenced(), _warnings_in_our_words(f"{PROGRAM} {args.command}"):
        try:
            return handlers[args.command](args)
        except UserError as exc:
            warn(f"{PROGRAM} {args.command}", f"error: {exc}")
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            _discard_stdout()
            return EXIT_FAILED


def _discard_stdout() -> None:
    """Point stdout at the null device, so that nothing left in its buffer raises again
    when Python flushes it at exit (the recipe of Python's ``signal`` documentation)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: nothing will be flushed
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


@contextlib.contextmanager
def _c_chatter_silenced() -> Iterator[None]:
    """Send what C libraries write to file descriptor 2 to the null device while the command
    works, with ``sys.stderr`` kept on the original stderr; restored afterwards.

    Only when ``sys.stderr`` is file descriptor 2 (not when a caller captured it).
    """
    try:
        original = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # no file behind it (io.UnsupportedOperation)
        original = False
    if not original:
        yield
        return
    python_stderr = sys.stderr
    python_stderr.flush()
    saved = os.dup(2)
    stream = open(saved, "w", encoding=python_stderr.encoding, errors=python_stderr.errors,
                  buffering=1, closefd=False)  # fmt: skip
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = stream
    try:
        yield
    finally:
        stream.flush()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        stream.close()
        os.close(saved)


@contextlib.contextmanager
def _warnings_in_our_words(program: str) -> Iterator[None]:
    """Show each distinct Python warning that the warning filters let through once, as
    ``PROGRAM: warning: ...`` lines without source lines; restored afterwards."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text in shown:
            return
        shown.add(text)
        first, *rest = text.splitlines() or [""]
        warn(program, f"warning: {first}")
        for more in rest:
            print(escape(more), file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _per_file(results: Iterator) -> Iterator:
    """``results`` with the warnings raised while computing them left unshown: they are
    about files, whose outcomes the per-file reports already give."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = next(results)
            except StopIteration:
                return
        yield result


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


def _load(spec: str, trust_pickle: bool, offset, max_windows: int | None = None) -> object:
    from .inference import check_audio_model, load_model
    from .pretrained import set_analysis

    try:
        model = load_model(spec, trust_pickle=trust_pickle)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot load model {spec!r}: {exc}") from None
    try:
        check_audio_model(model)
        settings = {"offset": offset, "on_error": "nan"}
        if max_windows is not None:
            settings["max_windows"] = max_windows
        return set_analysis(model, **settings)
    except ValueError as exc:
        raise UserError(f"cannot use model {spec!r}: {exc}") from None


def _progress(args: argparse.Namespace, n_files: int) -> Progress | None:
    show = not args.no_progress and (sys.stderr.isatty() or n_files > PROGRESS_MIN_FILES)
    return Progress(n_files, sys.stderr) if show else None


# --------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from . import inference

    files, problems = _inputs(args)
    if args.timeline and len(files) != 1:
        raise UserError(f"--timeline draws one file; {len(files)} were given.")
    model = _load(args.model, args.trust_pickle, args.offset, args.max_windows)
    classes = [str(c) for c in model.classes_]
    if args.timeline:
        from .timeline import check_genre_choice

        try:
            check_genre_choice(classes, **args.timeline_genres)
        except ValueError as exc:
            raise UserError(f"--timeline-genres: {exc}") from None
    open_set = inference.novelty_scorer(model) is not None
    unknown = None if not open_set or args.no_unknown else model.steps[-1][1].unknown_label
    status = _run(args, files, problems, len(classes),
                  lambda todo: inference.predict_files(model, todo,
                                                       batch_size=inference.BATCH_SIZE),
                  lambda proba: [(classes[i], float(proba[i]))
                                 for i in np.argsort(-proba, kind="stable")[: args.top]],
                  novelty=open_set, unknown=unknown)
    if args.timeline and status == EXIT_OK:
        _draw_timeline(model, files[0], args.timeline, args.timeline_genres)
    return status


def _run(args: argparse.Namespace, files: list[str], problems: list[tuple[str, str]],
         n_labels: int, classify: Callable[[list[str]], Iterator], rank: Callable, *,
         novelty: bool = False, unknown: str | None = None) -> int:
    """Write one record per input, to stdout or appended to ``--resume``; the exit status.

    ``classify(files)`` yields each file's ``FilePrediction``; ``rank(proba)`` gives its
    ranked labels.  ``novelty``: the model scores it (records show it); ``unknown``: the
    answer for a file whose novelty is above 1 (None: always the top label).
    """
    top, label = min(args.top, n_labels), "tag" if args.command == "tags" else "genre"
    if args.resume is None:
        records = Records(args.format, top, label, sys.stdout, novelty=novelty)
        return _write_records(args, files, problems, records, classify, rank, unknown=unknown)
    try:
        stream, recorded = open_for_resume(args.resume, args.format, top, label, novelty)
    except (ValueError, OSError) as exc:
        raise UserError(f"--resume: {exc}") from None
    where = f"{PROGRAM} {args.command}"
    if recorded.dropped:
        warn(where, f"{args.resume}: dropped an incomplete last record ({recorded.dropped} "
             "bytes) left by an interrupted run")
    inputs = {escape(path) for path in [*files, *(p for p, _ in problems)]}
    done = inputs & recorded.paths
    if done:
        warn(where, f"{args.resume}: {len(done)} of {len(inputs)} inputs already recorded; "
             f"resuming with the other {len(inputs - done)}")
    files = [f for f in files if escape(f) not in done]
    problems = [(p, why) for p, why in problems if escape(p) not in done]
    with stream:
        records = Records(args.format, top, label, stream, header=not recorded.has_header,
                          novelty=novelty)
        return _write_records(args, files, problems, records, classify, rank,
                              n_recorded=len(done), n_failed=len(done & recorded.failed),
                              unknown=unknown)


def _write_records(args: argparse.Namespace, files: list[str], problems: list[tuple[str, str]],
                   records: Records, classify: Callable, rank: Callable, *,
                   n_recorded: int = 0, n_failed: int = 0, unknown: str | None = None) -> int:
    """Write the records of ``problems`` and ``files``; ``n_recorded`` more inputs, of which
    ``n_failed`` failed, were recorded by an earlier run.  The exit status."""
    from .inference import BATCH_SIZE

    for path, reason in problems:
        records.fail(path, reason)
    progress = _progress(args, len(files))
    n_failed += len(problems)
    results = _per_file(iter(classify(files))) if files else iter(())
    for done, result in enumerate(results, start=1):
        if result.proba is None:
            n_failed += 1
            if progress is not None:
                progress.interrupt()
            warn(f"{PROGRAM} {args.command}", f"{result.path}: {result.report.reason}")
            records.fail(result.path, result.report.reason)
        else:
            novel = unknown is not None and result.novelty is not None and result.novelty > 1
            records.write(result.path, rank(result.proba), result.report.analysed,
                          result.report.notes, novelty=result.novelty,
                          unknown=unknown if novel else None)
        if done % BATCH_SIZE == 0 or done == len(files):  # a batch is done
            records.sync()
            if progress is not None:
                progress.update(done - progress.done)
    records.close()
    if n_failed:
        n_inputs = n_recorded + len(problems) + len(files)
        warn(f"{PROGRAM} {args.command}", f"{n_failed} of {n_inputs} inputs failed")
    return EXIT_FAILED if n_failed else EXIT_OK


def _draw_timeline(model, path: str, png: str, choice: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--timeline needs matplotlib: pip install matplotlib") from None
    from .timeline import GenreTimelineDisplay

    try:
        display = GenreTimelineDisplay.from_model(model, path, **choice)
        display.figure_.savefig(png, dpi=100)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot draw the timeline of {path}: {exc}") from None
    finally:
        plt.close("all")
    print(f"timeline of {escape(path)} drawn to {escape(png)}", file=sys.stderr)


# --------------------------------------------------------------------------- tags


def cmd_tags(args: argparse.Namespace) -> int:
    import numpy as np

    from . import inference
    from .embedder import MSD_TAGS, MusicnnEmbedder
    from .recipes import musicnn_window

    files, problems = _inputs(args)
    windows = {} if args.max_windows is None else {"max_windows": args.max_windows}
    embedder = MusicnnEmbedder(layer="taggram", offset=args.offset, duration=musicnn_window(),
                               **windows,
                               on_error="nan").fit(files)
    return _run(args, files, problems, len(MSD_TAGS),
                lambda todo: inference.embed_files(embedder, todo,
                                                   batch_size=inference.BATCH_SIZE),
                lambda p: [(MSD_TAGS[i], float(p[i])) for i in np.argsort(-p)[: args.top]])


# --------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import build_recipe

    _check_out(args.out)
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
    try:
        where = _save(pipe, args.out, data)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot save the trained model to --out {args.out}: {exc}") from None
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


def _check_out(out: str) -> None:
    """Refuse an ``--out`` that cannot take the model, before any training: an existing file
    where a folder goes (or the reverse), or a place that cannot be written."""
    from .inference import PICKLE_SUFFIXES

    path = Path(out)
    pickle = path.suffix.lower() in PICKLE_SUFFIXES
    if pickle and path.is_dir():
        raise UserError(f"--out {out} is an existing folder; a {path.suffix} model is one "
                        "file: give a new file name.")
    if not pickle and path.exists() and not path.is_dir():
        raise UserError(f"--out {out} is an existing file; a model is saved as a folder: give "
                        "a folder name (or a name ending in .joblib for a pickle).")
    existing = path if path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file, not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UserError(f"--out {out} cannot be written ({exc.strerror or exc}): give a "
                        "place where you can write.") from None


def _save(pipe, out: str, data) -> str:
    from .inference import PICKLE_SUFFIXES
    from .model_format import model_digest, save_pipeline, training_record

    if Path(out).suffix.lower() in PICKLE_SUFFIXES:
        import joblib

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, out)
        return f"{out} (joblib pickle; loads only with --trust-pickle)"
    save_pipeline(pipe, out, metadata={"trained_on": training_record(data.track_ids, data.paths)})
    return f"{out}/ (no pickle; digest {model_digest(out)})"


def _load_folder(data_dir: str):
    """The GTZAN-style folder (its warnings, about files left out, are shown by ``main``)."""
    from .datasets import load_gtzan

    try:
        return load_gtzan(data_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from sklearn.metrics import accuracy_score, classification_report

    from .inference import BATCH_SIZE, predict_files

    data = _load_folder(args.data_dir)
    model = _load(args.model, args.trust_pickle, args.offset, args.max_windows)
    _warn_training_overlap(args.model, data)
    classes = [str(c) for c in model.classes_]
    truth, predicted, n_failed = [], [], 0
    results = _per_file(predict_files(model, list(data.paths), batch_size=BATCH_SIZE))
    for result, genre in zip(results, data.genres, strict=True):
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
        warn(f"{PROGRAM} evaluate", f"warning: genres {unknown} are not among the model's "
             "genres; their tracks count as errors")
    labels = sorted(set(classes) | set(truth))
    accuracy = accuracy_score(truth, predicted)
    n_right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    print(f"model: {escape(args.model)}")
    print(f"data: {escape(args.data_dir)} ({len(truth)} tracks classified, {n_failed} failed)")
    print(f"accuracy: {accuracy:.3f} ({n_right}/{len(truth)})\n")
    print(classification_report(truth, predicted, labels=labels, target_names=list(
        map(escape, labels)), zero_division=0))
    print(format_confusion(truth, predicted, labels))
    if args.confusion_png:
        try:
            save_confusion_png(truth, predicted, labels, args.confusion_png,
                               title=f"{args.model}: {accuracy:.2f}")
        except ImportError:
            raise UserError("--confusion-png needs matplotlib: pip install matplotlib") from None
        except OSError as exc:
            raise UserError(f"cannot write {args.confusion_png}: {exc}") from None
        print(f"confusion matrix drawn to {escape(args.confusion_png)}")
    return EXIT_FAILED if n_failed else EXIT_OK


def _warn_training_overlap(spec: str, data) -> None:
    """Warn, with the overlap, when the model was trained on some of the evaluated files."""
    from .model_format import model_metadata, sha256_file
    from .pretrained import pretrained_dir

    folder = pretrained_dir() if spec == "pretrained" else Path(spec)
    if not (folder.is_dir() or folder.suffix == ".json"):
        return
    try:
        trained = model_metadata(folder).get("trained_on", [])
    except ValueError as exc:  # it changed since it was loaded
        warn(f"{PROGRAM} evaluate", "warning: cannot tell whether this model was trained on "
             f"these files: {exc}")
        return
    digests = {record["sha256"] for record in trained}
    overlap = [str(track) for track, path in zip(data.track_ids, data.paths, strict=True)
               if sha256_file(path) in digests]
    if overlap:
        shown = ", ".join(overlap[:10]) + (f" and {len(overlap) - 10} more" if len(overlap) > 10
                                           else "")
        warn(f"{PROGRAM} evaluate", f"warning: {len(overlap)} of the {len(data.paths)} files "
             f"were used to train this model ({shown}); accuracy on them says little about "
             "new music.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
