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
from ._header import ALL_EXTENSIONS

#: A progress bar is shown on a non-terminal stderr only above this many files.
PROGRESS_MIN_FILES = 20
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRAM = "sk-audio-genre"


class UserError(Exception):
    """A problem the user can fix: printed as ``sk-audio-genre COMMAND: error: ...``."""


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
output (one record per input file, stdout):
  text  PATH<TAB>GENRE<TAB>P<TAB>(NEXT P, NEXT P)[<TAB>[analysed 4 of 10 patches; notes]]
  json  a list of {"path", "genre", "probability", "top", "analysed", "notes", "error"}
  csv   path,genre,probability,genre_2,probability_2,...,analysed,notes,error
A file that cannot be read is named on stderr with the reason (and gets an
"error" record in json/csv); the others are still classified, and the exit
status is 1.  Control characters in file names are printed as \\xNN.

examples:
  sk-audio-genre predict song.wav
  sk-audio-genre predict ~/Music/album --format json > genres.json
  sk-audio-genre predict a.flac b.ogg --offset 60        analyse from 60 s on
  sk-audio-genre predict song.mp3 --model my_model/      a model saved by 'train'
  sk-audio-genre predict song.mp3 --timeline song.png    genre over time, 3 s steps
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
cnn, mlp, lstm = the seed's networks trained from scratch on MFCCs.

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
    from . import __version__

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
        sub.set_defaults(handler=globals()[f"cmd_{name}"])
        return sub

    predict = command("predict", "print the likely genres of audio files",
                      "Print the top genre of each audio file with its probability, and the "
                      "next two.  Folders are searched recursively for audio files.")
    predict.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    _add_model_options(predict)
    _add_output_options(predict, "genres")
    predict.add_argument("--timeline", metavar="PNG",
                         help="also draw the genre probabilities over time (one file only)")

    tags = command("tags", "print musicnn's Million Song Dataset tags of audio files",
                   "Print the most likely of musicnn's 50 Million Song Dataset tags for each "
                   "audio file (mean over the 3 s patches of the analysed 29.92 s).")
    tags.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    _add_output_options(tags, "tags", top=5)
    _add_offset_option(tags)

    train = command("train", "train a model on a GTZAN-style folder",
                    "Train a genre classifier on every audio file of DATA_DIR and save it.")
    from .recipes import RECIPES

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


def _add_output_options(parser: argparse.ArgumentParser, what: str, top: int = 3) -> None:
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text",
                        help="output format")
    parser.add_argument("--top", type=_positive(int), default=top, metavar="K",
                        help=f"{what} listed per file (default {top})")
    parser.add_argument("--no-progress", action="store_true",
                        help="never show the progress bar on stderr")


def _add_offset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offset", type=_offset, default="center", metavar="center|SECONDS",
        help="where the analysed window starts: 'center' (default) takes the middle of long "
        "songs, a number the seconds from the start",
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
    if text == "center":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'center' or a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sk-audio-genre`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
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
        if progress is not None and (done % 16 == 0 or done == len(files)):
            progress.update(16 if done % 16 == 0 else done % 16)
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
    from .recipes import musicnn_recipe

    files, problems = _inputs(args)
    window = musicnn_recipe().get_params()["features__musicnn__duration"]  # the model's window
    embedder = MusicnnEmbedder(layer="taggram", offset=args.offset, duration=window,
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
    from .model_format import model_digest, save_pipeline

    if Path(out).suffix.lower() in (".joblib", ".pkl", ".pickle"):
        import joblib

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, out)
        return f"{out} (joblib pickle; loads only with --trust-pickle)"
    trained_on = [{"track": str(t), "sha256": _file_digest(p)}
                  for t, p in zip(data.track_ids, data.paths, strict=True)]
    save_pipeline(pipe, out, metadata={"trained_on": trained_on})
    return f"{out}/ (no pickle; digest {model_digest(out)})"


def _file_digest(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    from .model_format import model_metadata
    from .pretrained import pretrained_dir

    folder = pretrained_dir() if spec == "pretrained" else Path(spec)
    if not (folder.is_dir() or folder.suffix == ".json"):
        return
    trained = model_metadata(folder).get("trained_on", [])
    digests = {t.get("sha256") for t in trained if isinstance(t, dict)}
    overlap = [str(track) for track, path in zip(data.track_ids, data.paths, strict=True)
               if _file_digest(path) in digests]
    if overlap:
        shown = ", ".join(overlap[:10]) + (f" and {len(overlap) - 10} more" if len(overlap) > 10
                                           else "")
        warn(PROGRAM, f"warning: {len(overlap)} of the {len(data.paths)} files were used to "
             f"train this model ({shown}); accuracy on them says little about new music.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
