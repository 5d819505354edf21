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
import csv
import json
import math
import os
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import joblib
import numpy as np
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    confusion_matrix,
)

from . import inference
from ._limits import MAX_OFFSET_SECONDS, MAX_WINDOWS, OFFSET_REASON
from ._version import __version__
from .datasets import load_gtzan
from .embedder import MSD_TAGS, MusicnnEmbedder
from .model_format import model_digest, model_metadata, save_pipeline, sha256_file, training_record
from .pretrained import pretrained_dir, set_analysis
from .reading import ALL_EXTENSIONS
from .recipes import RECIPES, build_recipe, musicnn_window
from .timeline import GenreTimelineDisplay, check_genre_choice

#: The command's name, in messages and ``--help``.
PROGRAM = "sk-audio-genre"
#: A progress bar is shown on a non-terminal stderr only above this many files.
PROGRESS_MIN_FILES = 20
#: Exit statuses (a usage error exits with argparse's 2).
EXIT_OK, EXIT_FAILED = 0, 1


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
    try:
        model = inference.load_model(spec, trust_pickle=trust_pickle)
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot load model {spec!r}: {exc}") from None
    try:
        inference.check_audio_model(model)
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
    files, problems = _inputs(args)
    if args.timeline and len(files) != 1:
        raise UserError(f"--timeline draws one file; {len(files)} were given.")
    model = _load(args.model, args.trust_pickle, args.offset, args.max_windows)
    classes = [str(c) for c in model.classes_]
    if args.timeline:
        try:
            check_genre_choice(classes, **args.timeline_genres)
        except ValueError as exc:
            raise UserError(f"--timeline-genres: {exc}") from None
    open_set = inference.novelty_scorer(model) is not None
    unknown = None if not open_set or args.no_unknown else model.steps[-1][1].unknown_label
    status = _run(args, files, problems, len(classes),
                  lambda todo: inference.predict_files(model, todo,
                                                       batch_size=inference.BATCH_SIZE),
                  lambda result: [(classes[i], float(result.proba[i])) for i
                                  in np.argsort(-result.proba, kind="stable")[: args.top]],
                  novelty=open_set, unknown=unknown)
    if args.timeline and status == EXIT_OK:
        _draw_timeline(model, files[0], args.timeline, args.timeline_genres)
    return status


def _run(args: argparse.Namespace, files: list[str], problems: list[tuple[str, str]],
         n_labels: int, classify: Callable[[list[str]], Iterator], rank: Callable, *,
         novelty: bool = False, unknown: str | None = None) -> int:
    """Write one record per input, to stdout or appended to ``--resume``; the exit status.

    ``classify(files)`` yields each file's ``FilePrediction`` (or ``FileEmbedding``);
    ``rank(result)`` gives its ranked labels.  ``novelty``: the model scores it (records
    show it); ``unknown``: the answer for a file whose novelty is above 1 (None: always the
    top label).
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
    for path, reason in problems:
        records.fail(path, reason)
    progress = _progress(args, len(files))
    n_failed += len(problems)
    results = _per_file(iter(classify(files))) if files else iter(())
    for done, result in enumerate(results, start=1):
        if result.report.status == "failed":
            n_failed += 1
            if progress is not None:
                progress.interrupt()
            warn(f"{PROGRAM} {args.command}", f"{result.path}: {result.report.reason}")
            records.fail(result.path, result.report.reason)
        else:
            score = getattr(result, "novelty", None)  # an embedding has none
            novel = unknown is not None and score is not None and score > 1
            records.write(result.path, rank(result), result.report.analysed,
                          result.report.notes, novelty=score,
                          unknown=unknown if novel else None)
        if done % inference.BATCH_SIZE == 0 or done == len(files):  # a batch is done
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
    files, problems = _inputs(args)
    windows = {} if args.max_windows is None else {"max_windows": args.max_windows}
    embedder = MusicnnEmbedder(layer="taggram", offset=args.offset, duration=musicnn_window(),
                               **windows,
                               on_error="nan").fit(files)
    return _run(args, files, problems, len(MSD_TAGS),
                lambda todo: inference.embed_files(embedder, todo,
                                                   batch_size=inference.BATCH_SIZE),
                lambda result: [(MSD_TAGS[i], float(result.embedding[i]))
                                for i in np.argsort(-result.embedding)[: args.top]])


# --------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
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
    path = Path(out)
    pickle = path.suffix.lower() in inference.PICKLE_SUFFIXES
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
    if Path(out).suffix.lower() in inference.PICKLE_SUFFIXES:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, out)
        return f"{out} (joblib pickle; loads only with --trust-pickle)"
    save_pipeline(pipe, out, metadata={"trained_on": training_record(data.track_ids, data.paths)})
    return f"{out}/ (no pickle; digest {model_digest(out)})"


def _load_folder(data_dir: str):
    """The GTZAN-style folder (its warnings, about files left out, are shown by ``main``)."""
    try:
        return load_gtzan(data_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    data = _load_folder(args.data_dir)
    model = _load(args.model, args.trust_pickle, args.offset, args.max_windows)
    _warn_training_overlap(args.model, data)
    classes = [str(c) for c in model.classes_]
    truth, predicted, n_failed = [], [], 0
    results = _per_file(inference.predict_files(model, list(data.paths),
                                                 batch_size=inference.BATCH_SIZE))
    for result, genre in zip(results, data.genres, strict=True):
        if result.report.status == "failed":
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


# --------------------------------------------------------------------------- arguments

_EPILOGS = {
    "main": """\
examples:
  sk-audio-genre predict song.mp3                 genre of one file (pretrained model)
  sk-audio-genre predict ~/Music --format csv     every audio file below a folder, as CSV
  sk-audio-genre tags song.mp3                    musicnn's Million Song Dataset tags
  sk-audio-genre train my_genres/ --out my_model/
  sk-audio-genre evaluate my_model/ other_genres/ --confusion-png cm.png

Run 'sk-audio-genre COMMAND --help' for a command's options.
""",
    "predict": """\
output (one record per input file on stdout, written as each batch of files is done):
  text   PATH<TAB>GENRE<TAB>P<TAB>(NEXT P, NEXT P)[<TAB>[REMARKS]]
         REMARKS: the part analysed when not the whole file ("analysed
         135.0-164.9 s of 300.0 s"), and notes such as silent patches
  csv    path,genre,probability,genre_2,probability_2,...,novelty,analysed,notes,error
  jsonl  one {"path", "genre", "probability", "top", "novelty", "analysed", "notes",
         "error"} a line
  json   a list of those, written at the end
A file unlike anything the model was trained on (speech, noise, music far from
its genres: novelty above 1) gets the genre "unknown", with its nearest genres:
  text   PATH<TAB>unknown<TAB>-<TAB>(nearest: G P, G P, G P)<TAB>[novelty N: ...]
--no-unknown answers the nearest genre instead.  ("novelty" appears with models
that score it, such as the shipped one.)
A file that cannot be used is named on stderr with the reason, once (and gets
an "error" record in csv/jsonl/json); the others are still classified, and the
exit status is 1.  File names and genres are escaped in every format: control
characters and a name's undecodable bytes as \\xNN, bidirectional controls as
\\uNNNN.

--resume OUT appends the records to OUT instead and skips the inputs OUT
already records: run the same command again after an interruption.

examples:
  sk-audio-genre predict song.wav
  sk-audio-genre predict ~/Music/album --format json > genres.json
  sk-audio-genre predict a.flac b.ogg --offset 60        analyse from 60 s on
  sk-audio-genre predict song.mp3 --offset all           the whole song, window by window
  sk-audio-genre predict song.mp3 --model my_model/      a model saved by 'train'
  sk-audio-genre predict song.mp3 --timeline song.png    genre over time, 3 s steps
  sk-audio-genre predict ~/Music --format csv --resume genres.csv
""",
    "tags": """\
examples:
  sk-audio-genre tags song.mp3
  sk-audio-genre tags ~/Music --top 10 --format csv
""",
    "train": """\
DATA_DIR holds one sub-folder per genre (its name is the label) with the audio
files inside, as GTZAN does: DATA_DIR/jazz/jazz.00054.wav.  The model is saved
as a folder (JSON + plain arrays; loads without unpickling) unless OUT
ends in .joblib or .pkl (a pickle, which loads only with --trust-pickle).

models: musicnn (default) = musicnn embedding + MFCC statistics + logistic
regression, the best with tens to hundreds of tracks, trained in minutes;
cnn, mlp, lstm = the original course's networks trained from scratch on MFCCs.

examples:
  sk-audio-genre train gtzan/ --out my_model/
  sk-audio-genre train gtzan/ --model cnn --epochs 50 --out cnn_model/
  sk-audio-genre train gtzan/ --model cnn --members 3 --out ensemble/
""",
    "evaluate": """\
Prints the track accuracy, scikit-learn's per-genre classification report and
the confusion matrix (rows: true genre, columns: predicted), and warns when the
folder holds files the model was trained on.

examples:
  sk-audio-genre evaluate pretrained gtzan/
  sk-audio-genre evaluate my_model/ gtzan/ --confusion-png confusion.png
""",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sk-audio-genre``."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROGRAM, formatter_class=raw, epilog=_EPILOGS["main"],
        description="Music genre classification of audio files (GTZAN's 10 genres by default).",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description,
                                  epilog=_EPILOGS[name], formatter_class=raw)
        sub.set_defaults(command=name)
        return sub

    predict = command("predict", "print the likely genres of audio files",
                      "Print the top genre of each audio file with its probability, and the "
                      "next two.  Folders are searched recursively for audio files.")
    predict.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    _add_model_options(predict)
    _add_output_options(predict, "genres")
    predict.add_argument("--no-unknown", action="store_true",
                         help="always answer one of the model's genres, even for a file unlike "
                         "its training music (which it otherwise calls 'unknown')")
    predict.add_argument("--timeline", metavar="PNG",
                         help="also draw the genre probabilities over time (one file only)")
    predict.add_argument(
        "--timeline-genres", type=_genre_choice, default={"top": None, "genres": None},
        metavar="N|GENRE,...",
        help="with --timeline: the N likeliest genres, or these genres (default: every genre "
        "of models with up to 20)",
    )  # fmt: skip

    tags = command("tags", "print musicnn's Million Song Dataset tags of audio files",
                   "Print the most likely of musicnn's 50 Million Song Dataset tags for each "
                   "audio file (mean over the 3 s patches of the analysed 29.92 s).")
    tags.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    _add_output_options(tags, "tags", top=5)
    _add_offset_option(tags)

    train = command("train", "train a model on a GTZAN-style folder",
                    "Train a genre classifier on every audio file of DATA_DIR and save it.")
    train.add_argument("data_dir", metavar="DATA_DIR", help="folder of genre sub-folders")
    train.add_argument("--model", choices=RECIPES, default=RECIPES[0], help="what to train")
    train.add_argument("--out", required=True, metavar="OUT", help="a folder, or a .joblib file")
    train.add_argument("--epochs", type=_positive(int), default=None, help="networks: epochs "
                       "(default 30)")
    train.add_argument("--learning-rate", type=_positive(float), default=None, metavar="X",
                       help="networks: Adam's rate (default 1e-3 for cnn and lstm, 1e-4 mlp)")
    train.add_argument("--scale", action=argparse.BooleanOptionalAction, default=None,
                       help="networks: standardise the MFCCs (default: yes)")
    train.add_argument("--members", type=_positive(int), default=None, metavar="N",
                       help="networks: average N networks with different seeds")
    train.add_argument("--random-state", type=int, default=None, metavar="N",
                       help="networks: seed (default 0)")
    train.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="files decoded in parallel")
    train.add_argument("--verbose", action="store_true", help="networks: Keras' epoch lines")

    evaluate = command("evaluate", "score a model on a GTZAN-style folder",
                       "Predict every audio file of DATA_DIR with MODEL and compare with the "
                       "genre folders.")
    evaluate.add_argument("model", metavar="MODEL",
                          help="'pretrained', a saved model folder, or a .joblib file")
    evaluate.add_argument("data_dir", metavar="DATA_DIR", help="folder of genre sub-folders")
    evaluate.add_argument("--confusion-png", metavar="FILE", help="also draw the confusion matrix")
    evaluate.add_argument("--trust-pickle", action="store_true",
                          help="allow MODEL to be a pickle (.joblib): it can run any code")
    _add_offset_option(evaluate)
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="pretrained", metavar="MODEL",
        help="'pretrained' (default: the shipped model, never a file of that name), a folder "
        "written by 'train' or save_pipeline, or a .joblib pickle with --trust-pickle",
    )  # fmt: skip
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow --model to be a pickle (.joblib/.pkl); unpickling runs any "
                        "code the file holds, so only for files you made or trust")
    _add_offset_option(parser)


def check_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of options, for ``parser.error``; None if nothing."""
    if getattr(args, "resume", None) is not None and args.format not in APPENDABLE:
        return (f"--resume needs --format {', '.join(APPENDABLE[:-1])} or {APPENDABLE[-1]}: "
                f"{args.format} output is written whole at the end")
    if getattr(args, "max_windows", None) is not None and getattr(args, "offset", None) != "all":
        return "--max-windows goes with --offset all"
    if getattr(args, "max_windows", None) is not None and args.max_windows > MAX_WINDOWS:
        return f"--max-windows is at most {MAX_WINDOWS}"
    choice = getattr(args, "timeline_genres", {})
    if any(v is not None for v in choice.values()) and not args.timeline:
        return "--timeline-genres goes with --timeline PNG"
    return None


def _add_output_options(parser: argparse.ArgumentParser, what: str, top: int = 3) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="output format (text, csv and jsonl are written as each batch of "
                        "files is done; json at the end)")
    parser.add_argument("--resume", metavar="OUT",
                        help="append the records to the file OUT instead of stdout, skipping "
                        "the inputs it already records (text, csv or jsonl)")
    parser.add_argument("--top", type=_positive(int), default=top, metavar="K",
                        help=f"{what} listed per file (default {top})")
    parser.add_argument("--no-progress", action="store_true",
                        help="never show the progress bar on stderr")


def _add_offset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offset", type=_offset, default="center", metavar="center|all|SECONDS",
        help="what is analysed: 'center' (default) the middle 29.92 s of long songs, a number "
        "the window from that many seconds, 'all' the whole song, window by window",
    )  # fmt: skip
    parser.add_argument(
        "--max-windows", type=_positive(int), default=None, metavar="N",
        help=f"with --offset all, analyse at most N windows, evenly spread over longer songs "
        f"(default 20, at most {MAX_WINDOWS})",
    )  # fmt: skip


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _offset(text: str) -> float | str:
    if text in ("center", "all"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'center', 'all' or a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_OFFSET_SECONDS):  # as the estimators
        raise argparse.ArgumentTypeError(
            f"must be 'center', 'all' or a number of seconds in [0, {MAX_OFFSET_SECONDS:g}] "
            f"({OFFSET_REASON}), got {text}")
    return value


def _genre_choice(text: str) -> dict[str, int | list[str] | None]:
    """``--timeline-genres``: a number of genres, or genre names separated by commas."""
    if text.strip().isdigit():
        return {"top": _positive(int)(text), "genres": None}
    genres = [name.strip() for name in text.split(",") if name.strip()]
    if not genres:
        raise argparse.ArgumentTypeError(f"give a number or genre names, got {text!r}")
    return {"top": None, "genres": genres}


# --------------------------------------------------------------------------- records

#: Output formats, and those a run can append to (``--resume``): JSON is one list.
FORMATS = ("text", "csv", "json", "jsonl")
APPENDABLE = ("text", "csv", "jsonl")

#: Characters that would break a line, reorder the text around them or are not valid
#: UTF-8, each with its escape: C0 and C1 control characters, the Unicode line separators
#: and bidirectional controls (``\uXXXX``), and the surrogates Python decodes a file name's
#: undecodable bytes into (``os.fsdecode``: byte 0xFF is U+DCFF, written ``\xff``).
_ESCAPES = (
    {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
    | {c: f"\\u{c:04x}" for c in (0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
                                     *range(0x2066, 0x206A), *range(0xD800, 0xE000))}
    | {c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)}
)


def escape(text: str) -> str:
    r"""``text`` as one line of valid UTF-8 that reads as it is stored.

    Control characters become ``\xNN``; Unicode line separators, bidirectional controls
    and lone surrogates become ``\uXXXX``, except the surrogates that stand for a file
    name's undecodable bytes, which become the byte, ``\xNN``.

    >>> escape("a\tb\nc.wav")
    'a\\x09b\\x0ac.wav'
    >>> escape(os.fsdecode(b"bad\xff.wav")), escape("evil\u202egnp.mp3")
    ('bad\\xff.wav', 'evil\\u202egnp.mp3')
    """
    return text.translate(_ESCAPES)


def warn(program: str, message: str) -> None:
    """A message on stderr, prefixed with the program and command, escaped to one line."""
    print(f"{program}: {escape(message)}", file=sys.stderr)


def csv_header(top: int, label: str, novelty: bool = False) -> list[str]:
    """The CSV columns for ``top`` ranked labels called ``label`` (and the novelty score
    of a model that can answer "unknown")."""
    header = ["path", label, "probability"]
    for k in range(2, top + 1):
        header += [f"{label}_{k}", f"probability_{k}"]
    return [*header, *(["novelty"] if novelty else []), "analysed", "notes", "error"]


class Records:
    """Writes one record per input: ``ranked`` labels with probabilities, or an error.

    Parameters
    ----------
    fmt : {"text", "csv", "json", "jsonl"}
    top : int
        Labels per record.
    label : str
        What a ranked item is called in CSV and JSON ("genre" or "tag").
    stream : text stream
    header : bool, default=True
        Write the CSV header (not when appending to a file that has it).
    novelty : bool, default=False
        The model scores novelty (it can answer "unknown"): CSV has a ``novelty`` column,
        JSON a ``novelty`` field.
    """

    def __init__(self, fmt: str, top: int, label: str, stream: TextIO, *,
                 header: bool = True, novelty: bool = False) -> None:
        self.fmt, self.top, self.label, self.stream = fmt, top, label, stream
        self.novelty = novelty
        self.records: list[dict] = []
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            if header:
                self.csv.writerow(csv_header(top, label, novelty))

    def write(self, path: str, ranked: list[tuple[str, float]], analysed: str = "all",
              notes: tuple[str, ...] = (), *, novelty: float | None = None,
              unknown: str | None = None) -> None:
        """A file's ranked labels; ``analysed`` says which part of it was, and ``notes``
        what else makes the answer less trustworthy (silence, a low sample rate).

        ``unknown`` is the model's answer for a file unlike its training music (its
        ``novelty`` above 1): it replaces the top label, and ``ranked`` become the nearest.
        """
        ranked = [(escape(str(g)), p) for g, p in ranked]
        answer = escape(str(unknown)) if unknown is not None else ranked[0][0]
        record = {
            "path": escape(path), self.label: answer,
            "probability": None if unknown is not None else round(ranked[0][1], 6),
            "top": [{self.label: g, "probability": round(p, 6)} for g, p in ranked],
            **({"novelty": round(novelty, 4)} if self.novelty else {}),
            "analysed": escape(analysed), "notes": [escape(n) for n in notes], "error": None,
        }  # fmt: skip
        if self.fmt == "text":
            if unknown is None:
                others = ", ".join(f"{g} {p:.2f}" for g, p in ranked[1:])
                line = f"{record['path']}\t{answer}\t{ranked[0][1]:.2f}"
                line += f"\t({others})" if others else ""
            else:
                nearest = ", ".join(f"{g} {p:.2f}" for g, p in ranked)
                line = f"{record['path']}\t{answer}\t-\t(nearest: {nearest})"
            remarks = [f"novelty {novelty:.2f}: unlike the training music"] if unknown else []
            remarks += [f"analysed {record['analysed']}"] if analysed != "all" else []
            remarks += record["notes"]
            line += f"\t[{'; '.join(remarks)}]" if remarks else ""
            self.stream.write(line + "\n")
        elif self.fmt == "csv":
            shown = ranked if unknown is None else [(answer, None), *ranked[: self.top - 1]]
            cells = [x for g, p in shown for x in (g, "" if p is None else f"{p:.4f}")]
            cells += [""] * (2 * self.top - len(cells))
            extra = [f"{novelty:.4f}"] if self.novelty else []
            self.csv.writerow([record["path"], *cells, *extra, record["analysed"],
                               "; ".join(record["notes"]), ""])
        self._add(record)

    def fail(self, path: str, reason: str) -> None:
        """A file that gave no answer: a record with its error (text: nothing on stdout)."""
        if self.fmt == "csv":
            self.csv.writerow([escape(path), *[""] * (2 * self.top + self.novelty), "none", "",
                               escape(reason)])
        self._add({"path": escape(path), self.label: None, "probability": None, "top": [],
                   **({"novelty": None} if self.novelty else {}),
                   "analysed": "none", "notes": [], "error": escape(reason)})

    def _add(self, record: dict) -> None:
        if self.fmt == "json":
            self.records.append(record)
        elif self.fmt == "jsonl":
            self.stream.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        self.stream.flush()

    def sync(self) -> None:
        """Flush, and when the records go to a file, have the system write them to disk."""
        self.stream.flush()
        try:
            descriptor = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (io.UnsupportedOperation)
            return
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fsync(descriptor)

    def close(self) -> None:
        """Write what waits for the end (the JSON list), and flush."""
        if self.fmt == "json":
            json.dump(self.records, self.stream, indent=1, ensure_ascii=False, allow_nan=False)
            self.stream.write("\n")
        self.stream.flush()


@dataclass
class Recorded:
    """What a records file already holds: the inputs (as written, escaped) and those of
    them that failed, whether it has its CSV header, and the bytes of a cut-off last line
    dropped from it."""

    paths: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    has_header: bool = False
    dropped: int = 0


def open_for_resume(path: str, fmt: str, top: int, label: str,
                    novelty: bool = False) -> tuple[TextIO, Recorded]:
    """Open the records file ``path`` for appending, and read what it already records.

    A last line without its newline (a record an interrupted run was writing) is cut off
    the file.  The file is created if it does not exist.

    Parameters
    ----------
    path : str
    fmt : {"text", "csv", "jsonl"}
    top : int
        Labels per record: a CSV file must have the header this gives.
    label : str
        ``"genre"`` or ``"tag"``: a CSV or JSON Lines file must hold records of that kind.
    novelty : bool, default=False
        Whether the records have the ``novelty`` column (a CSV file must have its header).

    Returns
    -------
    stream : text stream
        The file, opened for appending (UTF-8, lines ending in ``\n``).
    recorded : Recorded

    Raises
    ------
    ValueError
        If the file holds anything but complete records of this layout, naming the line.
    OSError
        If the file cannot be read or written.
    """
    with open(path, "a+b") as fh:
        fh.seek(0)
        data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        try:
            text = complete.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{escape(path)} is not a records file of sk-audio-genre: it is "
                             "not UTF-8 text; give another file.") from None
        recorded = _read_records(path, text, fmt, csv_header(top, label, novelty), label)
        recorded.dropped = len(data) - len(complete)
        if recorded.dropped:
            fh.truncate(len(complete))
    return open(path, "a", encoding="utf-8", newline=""), recorded


def _read_records(path: str, text: str, fmt: str, header: list[str], label: str) -> Recorded:
    recorded = Recorded()
    lines = text.splitlines()
    if fmt == "csv" and lines:
        if next(csv.reader(lines[:1])) != header:
            raise ValueError(
                f"{escape(path)} holds CSV records of another layout (columns "
                f"{escape(lines[0])}; this run writes {','.join(header)}): resume with the "
                "command and --top that wrote it, or give another file."
            )
        recorded.has_header = True
    for number, line in enumerate(lines, start=1):
        if fmt == "csv" and number == 1:
            continue
        fields = _fields(line, fmt, len(header), label)
        if fields is None:
            raise ValueError(f"{escape(path)} line {number} is not a record of sk-audio-genre "
                             f"({fmt}, {label}s): give another file to resume into.")
        record_path, failed = fields
        recorded.paths.add(record_path)
        if failed:
            recorded.failed.add(record_path)
    return recorded


def _fields(line: str, fmt: str, n_columns: int, label: str) -> tuple[str, bool] | None:
    """A record line's path and whether it is a failure; None if it is no record."""
    if fmt == "csv":
        row = next(csv.reader([line]), [])
        return (row[0], bool(row[-1])) if len(row) == n_columns else None
    if fmt == "jsonl":
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not (isinstance(record, dict) and isinstance(record.get("path"), str)
                and label in record and "error" in record):
            return None
        return record["path"], record["error"] is not None
    cells = line.split("\t")  # text: PATH, LABEL, P, ...; failures are not in the file
    try:
        float(cells[2])
    except (IndexError, ValueError):
        return None
    return cells[0], False


def format_confusion(truth, predicted, labels: list[str]) -> str:
    """The confusion matrix as text: true genres down the side, predicted ones across.

    Columns are headed by the shortest prefix (3 letters at least) that tells the labels
    apart, so ten genres fit in 60 columns.

    >>> print(format_confusion(["jazz", "rock", "rock"], ["jazz", "jazz", "rock"],
    ...                        ["jazz", "rock"]))
    confusion matrix (rows: true genre, columns: predicted)
          jaz  roc
    jazz    1    0
    rock    1    1
    """
    matrix = confusion_matrix(truth, predicted, labels=labels)
    names = [escape(str(label)) for label in labels]
    longest = max(len(name) for name in names)
    size = next((k for k in range(3, longest) if len({n[:k] for n in names}) == len(names)),
                longest)
    width = max(size, len(str(matrix.max()))) + 2
    lines = ["confusion matrix (rows: true genre, columns: predicted)",
             " " * longest + "".join(f"{name[:size]:>{width}}" for name in names)]
    lines += [f"{name:<{longest}}" + "".join(f"{count:>{width}}" for count in row)
              for name, row in zip(names, matrix, strict=True)]
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on a stream: redrawn in place on a terminal, else a line per step."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.done = 0
        self.start = time.monotonic()
        self.tty = stream.isatty()

    def update(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        filled = int(self.width * self.done / self.total)
        elapsed = time.monotonic() - self.start
        bar = "#" * filled + "." * (self.width - filled)
        text = f"[{bar}] {self.done}/{self.total} files, {elapsed:.0f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def interrupt(self) -> None:
        """End the bar's line before another message is printed."""
        if self.tty and 0 < self.done < self.total:
            self.stream.write("\n")


def save_confusion_png(truth, predicted, labels: list[str], path: str, *, title: str) -> None:
    """scikit-learn's ``ConfusionMatrixDisplay`` of the predictions, saved as an image.

    Raises
    ------
    ImportError
        If matplotlib is missing.
    OSError
        If the file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = 1.0 + 0.6 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        ConfusionMatrixDisplay.from_predictions(
            truth, predicted, labels=labels, ax=ax, colorbar=False, xticks_rotation=45
        )
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
