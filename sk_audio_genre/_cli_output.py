"""What the command line prints: one record per input file, in text, CSV, JSON or JSON Lines.

Every input the user gave gets exactly one record, failures included (with an ``error``
field in CSV, JSON and JSON Lines), so scripts see every outcome on stdout.  Everything a
record holds that came from outside (file names, genre labels from a model folder, reasons)
is escaped the same way in every format (:func:`escape`), so one record is always one line
of valid UTF-8 and a name cannot forge or reverse another record.

A records file in text, CSV or JSON Lines can be appended to and read back
(:func:`open_for_resume`), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

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
    from sklearn.metrics import confusion_matrix

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
    from sklearn.metrics import ConfusionMatrixDisplay

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
