"""The ``sk-audio-genre`` argument parser: commands, options, help texts and examples.

Kept apart from :mod:`sk_audio_genre.cli` (what the commands do), and importing nothing
heavy, so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import math

from ._cli_output import APPENDABLE, FORMATS
from ._limits import MAX_OFFSET_SECONDS, MAX_WINDOWS, OFFSET_REASON

PROGRAM = "sk-audio-genre"

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
