"""How a song's genre changes over time: a model's probabilities window by window.

:func:`genre_timeline` runs a fitted model on successive windows of one file, each window
the model's own unit of analysis (a 2.992 s musicnn patch for the shipped model, one
segment for MFCC models) and analysed alone; :class:`GenreTimelineDisplay` draws the result
in scikit-learn's Display style.  A window's probabilities are the model's view of those
few seconds only; the track's prediction combines a whole window of them (the middle
29.92 s for the shipped model), so it is steadier than any single point of the timeline.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline

from .embedder import PATCH_SECONDS, MusicnnEmbedder
from .inference import transform_with_report
from .reading import read_header
from .segmenter import MFCCSegmenter

__all__ = ["GenreTimeline", "GenreTimelineDisplay", "check_genre_choice", "genre_timeline"]

#: Bands a plot tells apart by colour: matplotlib's "tab10" map has 10 distinct colours,
#: "tab20" 20; past that, the likeliest genres are drawn and the rest summed as "other".
MAX_BANDS = 20


@dataclass(frozen=True)
class GenreTimeline:
    """Genre probabilities of successive windows of one file.

    Attributes
    ----------
    path : str
    starts : ndarray of shape (n_windows,)
        Start of each window, in seconds from the start of the file.
    window : float
        Length of each window, in seconds.
    proba : ndarray of shape (n_windows, n_classes)
        NaN rows for windows that gave no features (digital silence is still analysed).
    classes : ndarray of shape (n_classes,)
    """

    path: str
    starts: np.ndarray
    window: float
    proba: np.ndarray
    classes: np.ndarray


def _readers(model: Any) -> list[Any]:
    """Every MusicnnEmbedder and MFCCSegmenter inside ``model``."""
    return [v for v in model.get_params(deep=True).values()
            if isinstance(v, (MusicnnEmbedder, MFCCSegmenter))]


def analysis_unit(model: Any) -> float:
    """Seconds of one unit of the model's analysis: a musicnn patch or an MFCC segment.

    Raises
    ------
    ValueError
        If the model reads no audio, or its readers' units differ by more than 10 ms.
    """
    units = {round(PATCH_SECONDS if isinstance(r, MusicnnEmbedder) else r.segment_duration, 2)
             for r in _readers(model)}
    if len(units) != 1:
        raise ValueError(
            "a timeline needs a model whose audio readers (MusicnnEmbedder, MFCCSegmenter) "
            f"share one unit of analysis; this one has {sorted(units) or 'none'} seconds."
        )
    reader = _readers(model)[0]
    return PATCH_SECONDS if isinstance(reader, MusicnnEmbedder) else float(reader.segment_duration)


def _point_readers(readers: list[Any], offset: float, seconds: float) -> None:
    """Make the fitted audio readers analyse ``seconds`` from ``offset`` (NaN on error);
    ``set_params`` checks the parameters and keeps their fitted attributes in step."""
    for reader in readers:
        if isinstance(reader, MusicnnEmbedder):
            reader.set_params(offset=offset, duration=seconds, on_error="nan")
        else:
            reader.set_params(offset=offset, n_segments=1, on_error="nan")


def _copy_fitted(model: Any) -> Any:
    """A shallow copy of a fitted pipeline whose audio readers are fresh copies."""
    duplicate = copy.copy(model)
    duplicate.steps = [(name, _copy_readers(step)) for name, step in model.steps]
    return duplicate


def _copy_readers(step: Any) -> Any:
    if isinstance(step, (MusicnnEmbedder, MFCCSegmenter)):
        return copy.deepcopy(step)
    if isinstance(step, Pipeline):
        duplicate = copy.copy(step)
        duplicate.steps = [(n, _copy_readers(s)) for n, s in step.steps]
        return duplicate
    if isinstance(step, FeatureUnion):
        duplicate = copy.copy(step)
        duplicate.transformer_list = [(n, _copy_readers(s)) for n, s in step.transformer_list]
        return duplicate
    return step


def genre_timeline(model: Any, path: str | os.PathLike, *, hop: float | None = None) -> GenreTimeline:
    """The model's genre probabilities for every window of one file.

    Parameters
    ----------
    model : fitted Pipeline
        A model whose first step reads audio (``load_pretrained()`` or a saved model).
    path : str or path-like
        One audio file.
    hop : float, default=None
        Seconds between window starts; None is one window (no overlap).

    Returns
    -------
    GenreTimeline

    Raises
    ------
    ValueError
        If the file cannot be read or is shorter than one window.

    Examples
    --------
    >>> from sk_audio_genre import load_pretrained
    >>> from sk_audio_genre.timeline import genre_timeline
    >>> timeline = genre_timeline(load_pretrained(), "song.mp3")     # doctest: +SKIP
    >>> timeline.proba.shape                                        # doctest: +SKIP
    (80, 10)
    """
    path = os.fspath(path)
    window = analysis_unit(model)
    info = read_header(path)
    seconds = info.frames / info.samplerate
    step = window if hop is None else float(hop)
    if step <= 0:
        raise ValueError(f"hop must be positive, got {hop!r}.")
    starts = np.arange(0.0, seconds - window + 1e-9, step)
    if starts.size == 0:
        raise ValueError(f"{path}: {seconds:.3f} s of audio, shorter than one {window:.3f} s window.")
    proba = []
    windowed = _copy_fitted(model)  # the caller's model keeps its readers' settings
    readers = _readers(windowed)
    for start in starts:
        _point_readers(readers, float(start), window)
        features, reports = transform_with_report(windowed.steps[0][1], [path])
        if reports[0].status == "failed" or np.isnan(features).all():
            proba.append(np.full(len(model.classes_), np.nan))
        else:
            proba.append(windowed[1:].predict_proba(features)[0])
    return GenreTimeline(path, starts, window, np.asarray(proba), np.asarray(model.classes_))


def check_genre_choice(classes: Any, *, top: int | None = None,
                       genres: Any = None) -> None:
    """Check which genres a timeline plot is asked to draw, before anything is computed.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The model's genres.
    top : int, default=None
        Draw the ``top`` likeliest genres.
    genres : sequence of str, default=None
        Draw these genres.

    Raises
    ------
    ValueError
        If both are given, ``top`` is below 1, or ``genres`` is empty or names a genre
        the model does not know (the message lists those it knows).
    """
    if top is not None and genres is not None:
        raise ValueError(f"give top or genres, not both (got top={top!r}, genres={genres!r}).")
    if top is not None and top < 1:
        raise ValueError(f"top must be 1 or more, got {top!r}.")
    if genres is None:
        return
    known = [str(c) for c in classes]
    if len(genres) == 0:
        raise ValueError(f"genres is empty: name one or more of the model's genres "
                         f"({', '.join(known)}).")
    for genre in genres:
        if str(genre) not in known:
            raise ValueError(f"{str(genre)!r} is not one of the model's genres "
                             f"({', '.join(known)}).")


class GenreTimelineDisplay:
    """Genre probabilities over time, drawn as stacked bands (scikit-learn's Display style).

    Create it with :meth:`from_model`, then :meth:`plot` (done by ``from_model``).

    Parameters
    ----------
    timeline : GenreTimeline

    Attributes
    ----------
    ax_, figure_ : matplotlib Axes and Figure
        Where it was drawn, after :meth:`plot`.

    Examples
    --------
    >>> from sk_audio_genre import load_pretrained
    >>> from sk_audio_genre.timeline import GenreTimelineDisplay
    >>> display = GenreTimelineDisplay.from_model(load_pretrained(), "song.mp3")  # doctest: +SKIP
    >>> display.figure_.savefig("timeline.png")                                   # doctest: +SKIP
    """

    def __init__(self, timeline: GenreTimeline) -> None:
        self.timeline = timeline

    @classmethod
    def from_model(cls, model: Any, path: str | os.PathLike, *, hop: float | None = None,
                   ax: Any = None, top: int | None = None,
                   genres: Any = None) -> GenreTimelineDisplay:
        """Compute :func:`genre_timeline` and plot it (see :meth:`plot` for ``top`` and
        ``genres``, which are checked first)."""
        check_genre_choice(model.classes_, top=top, genres=genres)
        return cls(genre_timeline(model, path, hop=hop)).plot(ax=ax, top=top, genres=genres)

    def plot(self, ax: Any = None, *, top: int | None = None,
             genres: Any = None) -> GenreTimelineDisplay:
        """Stacked probabilities of the genres, each in its own colour.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        top : int, default=None
            Draw the ``top`` likeliest genres (by mean probability), the rest as "other".
        genres : sequence of str, default=None
            Draw these genres, in this order, the rest as "other".  With neither, every
            genre is drawn when there are at most :data:`MAX_BANDS` (20), else the 19
            likeliest and "other".

        Returns
        -------
        self

        Raises
        ------
        ValueError
            As :func:`check_genre_choice`.
        """
        import matplotlib.pyplot as plt

        t = self.timeline
        check_genre_choice(t.classes, top=top, genres=genres)
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 3.5))
        proba = np.nan_to_num(t.proba, nan=0.0)
        likeliest = np.argsort(-proba.mean(axis=0), kind="stable")
        if genres is not None:
            order = np.array([list(map(str, t.classes)).index(str(g)) for g in genres])
        elif top is not None:
            order = likeliest[:top]
        else:
            order = likeliest if len(likeliest) <= MAX_BANDS else likeliest[: MAX_BANDS - 1]
        bands = [proba[:, i] for i in order]
        labels = [str(t.classes[i]) for i in order]
        colours = plt.get_cmap("tab10" if len(order) <= 10 else "tab20").colors[: len(order)]
        if len(order) < len(t.classes):
            bands.append(np.clip(1 - proba[:, order].sum(axis=1), 0, 1))
            labels.append("other")
            colours = (*colours, "0.8")  # light grey
        centres = t.starts + t.window / 2
        ax.stackplot(centres, *bands, labels=labels, colors=colours, step="mid", alpha=0.85)
        ax.set_xlim(t.starts[0], t.starts[-1] + t.window)
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("probability")
        ax.set_title(f"{os.path.basename(t.path)}: genre per {t.window:.2f} s window")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        self.figure_.tight_layout()
        return self
