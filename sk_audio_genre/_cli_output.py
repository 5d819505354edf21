"""What the command line prints: one record per input file, in text, JSON or CSV.

Every input the user gave gets exactly one record, failures included (with an ``error``
field in JSON and CSV), so scripts see every outcome on stdout.  File names are escaped in
text and CSV output (control characters as ``\\xNN``), so one file is always one line.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from typing import TextIO

#: Control characters (and the Unicode line separators) that would break a line.
_BREAKING = {c: f"\\x{c:02x}" for c in range(32)} | {127: "\\x7f", 0x2028: "\\u2028",
                                                         0x2029: "\\u2029"}


def escape(name: str) -> str:
    r"""``name`` with its control characters escaped: one file, one line.

    >>> escape("a\tb\nc.wav")
    'a\\x09b\\x0ac.wav'
    """
    return name.translate(_BREAKING)


def warn(program: str, message: str) -> None:
    """A message on stderr, prefixed with the program and command, escaped to one line."""
    print(f"{program}: {escape(message)}", file=sys.stderr)


class Records:
    """Writes one record per input: ``ranked`` labels with probabilities, or an error.

    Parameters
    ----------
    fmt : {"text", "json", "csv"}
    top : int
        Labels per record.
    label : str
        What a ranked item is called in JSON/CSV ("genre" or "tag").
    stream : text stream
    """

    def __init__(self, fmt: str, top: int, label: str, stream: TextIO) -> None:
        self.fmt, self.top, self.label, self.stream = fmt, top, label, stream
        self.records: list[dict] = []
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            header = ["path", label, "probability"]
            for k in range(2, top + 1):
                header += [f"{label}_{k}", f"probability_{k}"]
            self.csv.writerow([*header, "analysed", "notes", "error"])

    def write(self, path: str, ranked: list[tuple[str, float]], analysed: str = "",
              notes: tuple[str, ...] = ()) -> None:
        """A file's ranked labels; ``analysed`` says how much of it was, if not all, and
        ``notes`` what else makes the answer less trustworthy (silence, a low sample rate)."""
        if self.fmt == "json":
            self.records.append({
                "path": path, self.label: ranked[0][0], "probability": round(ranked[0][1], 6),
                "top": [{self.label: g, "probability": round(p, 6)} for g, p in ranked],
                "analysed": analysed or "all", "notes": list(notes), "error": None,
            })  # fmt: skip
            return
        if self.fmt == "csv":
            cells = [x for g, p in ranked for x in (g, f"{p:.4f}")]
            cells += [""] * (2 * self.top - len(cells))
            self.csv.writerow([escape(path), *cells, analysed or "all", "; ".join(notes), ""])
        else:
            others = ", ".join(f"{g} {p:.2f}" for g, p in ranked[1:])
            line = f"{escape(path)}\t{ranked[0][0]}\t{ranked[0][1]:.2f}"
            line += f"\t({others})" if others else ""
            remarks = ([f"analysed {analysed}"] if analysed else []) + list(notes)
            line += f"\t[{'; '.join(remarks)}]" if remarks else ""
            self.stream.write(line + "\n")
        self.stream.flush()

    def fail(self, path: str, reason: str) -> None:
        """A file that gave no answer: a record with its error (text: nothing on stdout)."""
        if self.fmt == "json":
            self.records.append({"path": path, self.label: None, "probability": None,
                                 "top": [], "analysed": "none", "notes": [], "error": reason})
        elif self.fmt == "csv":
            self.csv.writerow([escape(path), *[""] * (2 * self.top), "none", "", escape(reason)])
            self.stream.flush()

    def close(self) -> None:
        if self.fmt == "json":
            json.dump(self.records, self.stream, indent=1)
            self.stream.write("\n")
        self.stream.flush()


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
