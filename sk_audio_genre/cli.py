"""The ``sk-audio-genre`` command line: predict, train and evaluate.

``sk-audio-genre predict song.mp3 music/`` prints the likely genres of audio files with the
pretrained model (or ``--model`` a saved one); ``train`` fits a model on a GTZAN-style folder;
``evaluate`` scores a model on one.  ``python -m sk_audio_genre`` is the same program.

TensorFlow is imported only by the commands that need it, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

#: Folders are searched for files with these extensions (libsndfile's formats and mp3/ogg).
FOLDER_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".aiff", ".aif", ".aifc", ".au", ".snd", ".ogg", ".oga", ".opus",
     ".mp3", ".caf", ".w64", ".rf64"}
)
#: Files classified per batch (each batch's features are computed together).
BATCH_SIZE = 16
#: A progress bar is shown on a non-terminal stderr only above this many files.
PROGRESS_MIN_FILES = 20
#: The models ``train`` builds, with the learning rate each uses unless told.
MODELS = {
    "cnn": ("CNNGenreClassifier", 1e-3),
    "mlp": ("MLPGenreClassifier", 1e-4),
    "lstm": ("LSTMGenreClassifier", 1e-3),
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A user-facing error: printed as ``sk-audio-genre: error: ...`` with exit status 1."""


# --------------------------------------------------------------------------- parser

_MAIN_EPILOG = """\
examples:
  sk-audio-genre predict song.mp3                 genre of one file (pretrained model)
  sk-audio-genre predict ~/Music --format csv     every audio file below a folder, as CSV
  sk-audio-genre train gtzan/ --model cnn --out my_model/
  sk-audio-genre evaluate my_model/ other_gtzan/ --confusion-png cm.png

Run 'sk-audio-genre COMMAND --help' for a command's options.
"""

_PREDICT_EPILOG = """\
output (one line per file, stdout):
  text  PATH<TAB>GENRE<TAB>P  (NEXT P, NEXT P)
  json  a list of {"path", "genre", "probability", "top": [{"genre", "probability"}, ...]}
  csv   path,genre,probability,genre_2,probability_2,genre_3,probability_3
Files that cannot be read are named on stderr with the reason and skipped; the
exit status is then 1.

examples:
  sk-audio-genre predict song.wav
  sk-audio-genre predict ~/Music/album --format json > genres.json
  sk-audio-genre predict a.flac b.ogg --offset 60        analyse from 60 s on
  sk-audio-genre predict song.mp3 --model my_model/      a model saved by 'train'
"""

_TRAIN_EPILOG = """\
DATA_DIR holds one sub-folder per genre (its name is the label) with the audio
files inside, as GTZAN does: DATA_DIR/jazz/jazz.00054.wav.  The model is saved
as a folder (JSON + Keras weights, loads without unpickling) unless OUT ends in
.joblib or .pkl (a joblib pickle of the fitted Pipeline).

examples:
  sk-audio-genre train gtzan/ --model cnn --out my_model/
  sk-audio-genre train gtzan/ --model lstm --epochs 50 --out lstm.joblib
  sk-audio-genre train gtzan/ --model cnn --members 3 --out ensemble/
"""

_EVALUATE_EPILOG = """\
Prints the track accuracy, scikit-learn's per-genre classification report and
the confusion matrix (rows: true genre, columns: predicted).

examples:
  sk-audio-genre evaluate pretrained gtzan/
  sk-audio-genre evaluate my_model/ gtzan/ --confusion-png confusion.png
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sk-audio-genre``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sk-audio-genre",
        description="Music genre classification of audio files (GTZAN's 10 genres by default).",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    predict = commands.add_parser(
        "predict",
        help="print the likely genres of audio files",
        description="Print the top genre of each audio file with its probability, and the "
        "next two.  Folders are searched recursively for audio files.",
        epilog=_PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    _add_model_option(predict)
    predict.add_argument(
        "--format", choices=("text", "json", "csv"), default="text", help="output format"
    )
    _add_offset_option(predict)
    predict.add_argument(
        "--top", type=_positive_int, default=3, metavar="K", help="genres listed per file"
    )
    predict.add_argument(
        "--no-progress", action="store_true", help="never show the progress bar on stderr"
    )
    predict.set_defaults(handler=cmd_predict)

    train = commands.add_parser(
        "train",
        help="train a model on a GTZAN-style folder",
        description="Train a genre classifier (MFCC segments -> SegmentScaler -> network) on "
        "every audio file of DATA_DIR and save it.",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("data_dir", metavar="DATA_DIR", help="folder of genre sub-folders")
    train.add_argument("--model", choices=sorted(MODELS), default="cnn", help="network to train")
    train.add_argument(
        "--out", required=True, metavar="OUT", help="where to save: a folder, or a .joblib file"
    )
    train.add_argument("--epochs", type=_positive_int, default=30, help="training epochs")
    train.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=None,
        metavar="X",
        help="Adam learning rate (default: 1e-3 for cnn and lstm, 1e-4 for mlp)",
    )
    train.add_argument(
        "--scale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="standardise the MFCCs with SegmentScaler",
    )
    train.add_argument(
        "--members",
        type=_positive_int,
        default=1,
        metavar="N",
        help="train N networks with different seeds and average their probabilities "
        "(a soft-voting ensemble; N times the training time)",
    )
    train.add_argument("--random-state", type=int, default=0, metavar="N", help="seed")
    train.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="files decoded in parallel"
    )
    train.add_argument("--verbose", action="store_true", help="Keras' per-epoch output")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on a GTZAN-style folder",
        description="Predict every audio file of DATA_DIR with MODEL and compare with the "
        "genre folders.",
        epilog=_EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument(
        "model",
        metavar="MODEL",
        help="'pretrained', a saved model folder, or a .joblib file",
    )
    evaluate.add_argument("data_dir", metavar="DATA_DIR", help="folder of genre sub-folders")
    evaluate.add_argument(
        "--confusion-png", metavar="FILE", help="also draw the confusion matrix (matplotlib)"
    )
    _add_offset_option(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)
    return parser


def _add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="pretrained",
        metavar="MODEL",
        help="'pretrained' (default, the shipped model), a folder written by 'train' or "
        "save_pipeline, or a .joblib file of a fitted Pipeline (only load pickles you trust)",
    )


def _add_offset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offset",
        type=_offset,
        default="center",
        metavar="center|SECONDS",
        help="where the analysed window starts: 'center' (default) takes the middle of long "
        "songs, a number the seconds from the start",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _offset(text: str) -> float | str:
    if text == "center":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be 'center' or a number of seconds, got {text!r}"
        ) from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sk-audio-genre`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"sk-audio-genre {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- models


def load_model(spec: str, *, offset: float | str = "center"):
    """The model named on the command line, its segmenter set to ``offset`` and NaN errors.

    ``spec`` is ``"pretrained"``, a folder written by
    :func:`~sk_audio_genre.pretrained.save_pipeline`, or a joblib file of a fitted Pipeline.
    """
    from sklearn.pipeline import Pipeline

    from .pretrained import load_pipeline, load_pretrained
    from .segmenter import MFCCSegmenter

    path = Path(spec)
    try:
        if spec == "pretrained" and not path.exists():
            pipe = load_pretrained()
        elif path.is_dir() or path.suffix == ".json":
            pipe = load_pipeline(path)
        elif path.is_file():
            import joblib

            pipe = joblib.load(path)
        else:
            raise CommandError(
                f"model {spec!r} not found: give 'pretrained', a saved model folder, or a "
                ".joblib file."
            )
    except (ValueError, OSError, EOFError) as exc:
        raise CommandError(f"cannot load model {spec!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - unpickling can raise anything
        raise CommandError(f"cannot load model {spec!r}: {type(exc).__name__}: {exc}") from None
    if not (
        isinstance(pipe, Pipeline)
        and len(pipe.steps) >= 2
        and isinstance(pipe.steps[0][1], MFCCSegmenter)
    ):
        raise CommandError(
            f"model {spec!r} is a {type(pipe).__name__}, not a fitted Pipeline starting with "
            "MFCCSegmenter (e.g. MFCCSegmenter -> SegmentScaler -> CNNGenreClassifier)."
        )
    pipe.steps[0][1].set_params(offset=offset, on_error="nan")
    return pipe


def _classes(pipe) -> list[str]:
    return [str(c) for c in pipe.steps[-1][1].classes_]


def predict_files(pipe, paths: Sequence[str], progress: Progress | None = None):
    """Yield ``(path, probabilities or None, reason)`` for every file, in order."""
    segmenter, rest = pipe.steps[0][1], pipe[1:]
    for start in range(0, len(paths), BATCH_SIZE):
        batch = list(paths[start : start + BATCH_SIZE])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            features = segmenter.transform(batch)
        reasons = _reasons_from_warnings(caught, batch)
        present = ~_all_nan(features)
        proba = None
        if present.any():
            proba = rest.predict_proba(features[present])
        k = 0
        for i, path in enumerate(batch):
            if present[i]:
                yield path, proba[k], None
                k += 1
            else:
                yield path, None, reasons.get(path, "no features could be computed")
        if progress is not None:
            progress.update(len(batch))


def _all_nan(features) -> Any:
    import numpy as np

    return np.isnan(features.reshape(len(features), -1)).all(axis=1)


def _reasons_from_warnings(caught, batch: Sequence[str]) -> dict[str, str]:
    """Each failed file's reason, from the segmenter's ``on_error="nan"`` warning listing."""
    reasons: dict[str, str] = {}
    wanted = set(batch)
    for warning in caught:
        for line in str(warning.message).splitlines():
            line = line.strip()
            for path in wanted:
                if line.startswith(f"{path}: "):
                    reasons.setdefault(path, line[len(path) + 2 :])
    return reasons


# --------------------------------------------------------------------------- predict


def find_audio_files(paths: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files named directly, plus audio files below named folders (sorted); and missing paths."""
    files: list[str] = []
    missing: list[tuple[str, str]] = []
    for given in paths:
        if os.path.isdir(given):
            found = []
            for root, dirs, names in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    os.path.join(root, name)
                    for name in names
                    if not name.startswith(".")
                    and os.path.splitext(name)[1].lower() in FOLDER_EXTENSIONS
                )
            if not found:
                missing.append((given, "folder holds no audio files"))
            files.extend(sorted(found))
        elif os.path.exists(given):
            files.append(given)
        else:
            missing.append((given, "no such file or folder"))
    return files, missing


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


def cmd_predict(args: argparse.Namespace) -> int:
    files, missing = find_audio_files(args.paths)
    for path, reason in missing:
        print(f"sk-audio-genre predict: {path}: {reason}", file=sys.stderr)
    if not files:
        raise CommandError("no audio files to classify.")
    pipe = load_model(args.model, offset=args.offset)
    classes = _classes(pipe)
    top = min(args.top, len(classes))
    show = not args.no_progress and (sys.stderr.isatty() or len(files) > PROGRESS_MIN_FILES)
    progress = Progress(len(files), sys.stderr) if show else None
    writer = _Writer(args.format, top, sys.stdout)
    n_failed = len(missing)
    import numpy as np

    for path, proba, reason in predict_files(pipe, files, progress):
        if proba is None:
            n_failed += 1
            if progress is not None and progress.tty:
                sys.stderr.write("\n")
            print(f"sk-audio-genre predict: {path}: {reason}", file=sys.stderr)
            continue
        order = np.argsort(-proba, kind="stable")[:top]
        writer.write(path, [(classes[i], float(proba[i])) for i in order])
    writer.close()
    if n_failed:
        print(
            f"sk-audio-genre predict: {n_failed} of {len(files) + len(missing)} paths failed",
            file=sys.stderr,
        )
    return EXIT_FAILED if n_failed else EXIT_OK


class _Writer:
    """Writes predictions to stdout in the chosen format, line by line where it can."""

    def __init__(self, fmt: str, top: int, stream: TextIO) -> None:
        self.fmt, self.top, self.stream = fmt, top, stream
        self.records: list[dict] = []
        if fmt == "csv":
            import csv

            self.csv = csv.writer(stream, lineterminator="\n")
            header = ["path", "genre", "probability"]
            for k in range(2, top + 1):
                header += [f"genre_{k}", f"probability_{k}"]
            self.csv.writerow(header)

    def write(self, path: str, ranked: list[tuple[str, float]]) -> None:
        if self.fmt == "json":
            self.records.append(
                {
                    "path": path,
                    "genre": ranked[0][0],
                    "probability": round(ranked[0][1], 6),
                    "top": [{"genre": g, "probability": round(p, 6)} for g, p in ranked],
                }
            )
            return
        if self.fmt == "csv":
            self.csv.writerow([path] + [x for g, p in ranked for x in (g, f"{p:.4f}")])
        else:
            others = ", ".join(f"{g} {p:.2f}" for g, p in ranked[1:])
            line = f"{path}\t{ranked[0][0]}\t{ranked[0][1]:.2f}"
            self.stream.write(line + (f"\t({others})" if others else "") + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            json.dump(self.records, self.stream, indent=1)
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------- train


def _load_folder(data_dir: str):
    from .datasets import load_gtzan

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load_gtzan(data_dir)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return data


def build_pipeline(
    model: str,
    *,
    epochs: int = 30,
    learning_rate: float | None = None,
    scale: bool = True,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    verbose: int = 0,
    members: int = 1,
):
    """The pipeline ``train`` fits: MFCCSegmenter [-> SegmentScaler] -> the chosen network.

    With ``members`` > 1 the last step is a soft-voting ensemble of that many networks
    (:func:`~sk_audio_genre.ensemble.seed_ensemble`), seeded from ``random_state``.
    """
    from sklearn.pipeline import Pipeline

    from . import classifiers
    from .preprocessing import SegmentScaler
    from .segmenter import MFCCSegmenter

    class_name, default_rate = MODELS[model]
    clf = getattr(classifiers, class_name)(
        epochs=epochs,
        learning_rate=default_rate if learning_rate is None else learning_rate,
        random_state=random_state,
        verbose=verbose,
    )
    steps = [("mfcc", MFCCSegmenter(offset="center", n_jobs=n_jobs))]
    if scale:
        steps.append(("scale", SegmentScaler()))
    if members > 1:
        from .ensemble import seed_ensemble

        clf = seed_ensemble(clf, n_members=members, random_state=random_state)
    steps.append(("clf", clf))
    return Pipeline(steps)


def _save(pipe, out: str) -> str:
    if Path(out).suffix.lower() in (".joblib", ".pkl", ".pickle"):
        import joblib

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, out)
        return f"{out} (joblib pickle)"
    from .pretrained import save_pipeline

    save_pipeline(pipe, out)
    return f"{out}/ (pipeline.json + weights; load with sk_audio_genre.load_pipeline)"


def cmd_train(args: argparse.Namespace) -> int:
    data = _load_folder(args.data_dir)
    if len(data.target_names) < 2:
        raise CommandError(
            f"{args.data_dir} has audio for {len(data.target_names)} genre; training needs 2 "
            "or more genre folders."
        )
    pipe = build_pipeline(
        args.model,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        scale=args.scale,
        random_state=args.random_state,
        n_jobs=args.jobs,
        verbose=2 if args.verbose else 0,
        members=args.members,
    )
    networks = f"{args.members} x {args.model}" if args.members > 1 else args.model
    print(
        f"training {networks} on {len(data.paths)} tracks of {len(data.target_names)} genres "
        f"({', '.join(map(str, data.target_names))}), {args.epochs} epochs...",
        file=sys.stderr,
    )
    start = time.monotonic()
    try:
        pipe.fit(list(data.paths), data.genres)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    seconds = time.monotonic() - start
    clf = pipe.steps[-1][1]
    histories = [m.history_ for m in getattr(clf, "estimators_", [clf])]
    loss = sum(h["loss"][-1] for h in histories) / len(histories)
    accuracy = sum(h["accuracy"][-1] for h in histories) / len(histories)
    where = _save(pipe, args.out)
    mean = " (mean of the networks)" if len(histories) > 1 else ""
    print(
        f"trained in {seconds:.0f} s; final training loss {loss:.3f}, "
        f"segment accuracy {accuracy:.3f}{mean}; saved to {where}"
    )
    return EXIT_OK


# --------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    data = _load_folder(args.data_dir)
    pipe = load_model(args.model, offset=args.offset)
    classes = _classes(pipe)
    truth, predicted, n_failed = [], [], 0
    for (path, proba, reason), genre in zip(
        predict_files(pipe, list(data.paths)), data.genres, strict=True
    ):
        if proba is None:
            n_failed += 1
            print(f"sk-audio-genre evaluate: {path}: {reason} (left out)", file=sys.stderr)
            continue
        truth.append(str(genre))
        predicted.append(classes[int(np.argmax(proba))])
    if not truth:
        raise CommandError("no file of the folder could be classified.")
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        print(
            f"warning: genres {unknown} are not among the model's genres; their tracks count "
            "as errors",
            file=sys.stderr,
        )
    labels = sorted(set(classes) | set(truth))
    accuracy = accuracy_score(truth, predicted)
    print(f"model: {args.model}")
    print(f"data: {args.data_dir} ({len(truth)} tracks classified, {n_failed} failed)")
    n_right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    print(f"accuracy: {accuracy:.3f} ({n_right}/{len(truth)})")
    print()
    print(classification_report(truth, predicted, labels=labels, zero_division=0))
    matrix = confusion_matrix(truth, predicted, labels=labels)
    print("confusion matrix (rows: true genre, columns: predicted):")
    width = max(len(label) for label in labels)
    print(" " * (width + 1) + " ".join(f"{label[:4]:>4}" for label in labels))
    for label, row in zip(labels, matrix, strict=True):
        print(f"{label:>{width}} " + " ".join(f"{n:>4}" for n in row))
    if args.confusion_png:
        _confusion_png(matrix, labels, args.confusion_png, title=f"{args.model}: {accuracy:.2f}")
        print(f"\nconfusion matrix drawn to {args.confusion_png}")
    return EXIT_FAILED if n_failed else EXIT_OK


def _confusion_png(matrix, labels: list[str], path: str, *, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CommandError(
            "--confusion-png needs matplotlib: pip install matplotlib "
            "(or pip install 'sk-audio-genre[benchmarks]')"
        ) from None
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(labels), 0.8 + 0.6 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    ax.set_title(title)
    for (i, j), n in _cells(matrix):
        ax.text(j, i, str(n), ha="center", va="center",
                color="white" if n > matrix.max() / 2 else "black")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)


def _cells(matrix) -> Iterator[tuple[tuple[int, int], int]]:
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            yield (i, j), int(n)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
