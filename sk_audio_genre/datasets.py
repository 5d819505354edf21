"""GTZAN-style folders -> paths and labels; the fault-filtered split lists.

:func:`load_gtzan` lists the audio files of a folder laid out like GTZAN (one sub-folder per
genre). :func:`load_split_lists`, :func:`fault_filtered_split` and :func:`fault_filtered_cv` give
the artist-conscious, fault-filtered train/valid/test split of Kereliuk, Sturm & Larsen (2015),
whose track lists ship with this package.

Only :mod:`numpy`, :mod:`soundfile` and :mod:`sklearn.utils` are imported here; no audio is decoded
(files are only probed with :func:`soundfile.info`).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from . import reading

__all__ = [
    "AUDIO_EXTENSIONS",
    "SPLIT_NAMES",
    "fault_filtered_cv",
    "fault_filtered_split",
    "load_gtzan",
    "load_split_lists",
]

#: File extensions :func:`load_gtzan` reads by default (the decoder's own list). The order is
#: also the preference when one track id exists in several formats: lossless before lossy.
AUDIO_EXTENSIONS = reading.AUDIO_EXTENSIONS

#: Names of the three fault-filtered lists, in the order train, valid, test.
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")

_SPLIT_FILES = {name: f"{name}_filtered.txt" for name in SPLIT_NAMES}
_PACKAGE = __package__ or "sk_audio_genre"


def _normalize_extensions(extensions: str | Iterable[str] | None) -> frozenset[str]:
    if extensions is None:
        return frozenset(AUDIO_EXTENSIONS)
    if isinstance(extensions, str):
        extensions = [extensions]
    normalized = set()
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip(". "):
            raise ValueError(
                f"extensions must hold non-empty strings such as '.wav' or 'flac', got {ext!r}"
            )
        ext = ext.strip().lower()
        normalized.add(ext if ext.startswith(".") else "." + ext)
    if not normalized:
        raise ValueError("extensions must name at least one file extension, got an empty set")
    return frozenset(normalized)


def _matching_extension(name: str, extensions: frozenset[str]) -> str | None:
    """The extension of ``name`` (lower-case) if it is one of ``extensions``, else None."""
    lower = name.lower()
    for ext in sorted(extensions, key=lambda e: (-len(e), e)):  # longest match wins
        if lower.endswith(ext) and len(name) > len(ext):
            return ext
    return None


def _preference(ext: str, name: str) -> tuple[int, str, str]:
    """Sort key: formats earlier in AUDIO_EXTENSIONS first, then others by name."""
    rank = AUDIO_EXTENSIONS.index(ext) if ext in AUDIO_EXTENSIONS else len(AUDIO_EXTENSIONS)
    return rank, ext, name


def _unreadable_reason(path: str) -> str | None:
    """Why ``path`` cannot be used as audio, or None if it can."""
    try:
        reading.read_header(path)
    except reading.AudioFileError as exc:
        return exc.reason
    return None


def load_gtzan(
    root: str | os.PathLike, *, extensions: str | Iterable[str] | None = None
) -> Bunch:
    """List the audio tracks of a GTZAN-style folder, with their genres.

    The folder holds one sub-folder per genre (its name is the genre) with the audio files of
    that genre directly inside, e.g. ``root/jazz/jazz.00054.wav``. No audio is decoded; each file
    is only probed with :func:`soundfile.info`.

    Parameters
    ----------
    root : str or path-like
        The folder holding the genre sub-folders.
    extensions : str or iterable of str, default=None
        File extensions to read, with or without the leading dot, matched case-insensitively.
        ``None`` means :data:`AUDIO_EXTENSIONS` (wav, flac, aiff, au, ogg, opus, mp3, ...).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes below, all arrays of length ``n_tracks``
        sorted by ``(genre, track id)``:

        paths : ndarray of str, shape (n_tracks,)
            Absolute path of each file: ``os.path.abspath(root)`` joined with
            ``<genre>/<file name>`` (symbolic links are not resolved).
        genres : ndarray of str, shape (n_tracks,)
            Genre of each track: the name of its sub-folder.
        track_ids : ndarray of str, shape (n_tracks,)
            File name without its extension, e.g. ``"jazz.00054"``.
        target_names : ndarray of str, shape (n_genres,)
            Sorted unique genres.
        root : str
            ``os.path.abspath(root)``.

    Raises
    ------
    ValueError
        If ``root`` is not an existing folder, if no genre sub-folder holds a readable audio
        file, or if ``extensions`` is empty or holds an empty string.

    Warns
    -----
    UserWarning
        Once, listing every file that was left out because :func:`soundfile.info` failed on it
        or it has no audio frames; and once, listing every duplicate left out.

    Notes
    -----
    - Files whose extension is not in ``extensions`` (``.txt``, ``.csv``, ...), hidden files and
      folders (names starting with ``.``, e.g. macOS ``._*.wav`` files), files directly in
      ``root`` and anything nested deeper than ``root/<genre>/`` are ignored silently.
    - Duplicates: if one genre folder holds the same track id in several readable files
      (``blues.00000.wav`` and ``blues.00000.au``), the file kept is the one whose extension comes
      first in :data:`AUDIO_EXTENSIONS` (other extensions after them, alphabetically), ties broken
      by file name; the others are left out with a warning. Unreadable files are dropped before
      this, so a broken ``.wav`` never hides a good ``.au``. The same id in two *different*
      genre folders is two tracks.
    - Genre sub-folders with no readable audio do not appear in ``target_names``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from sk_audio_genre.datasets import load_gtzan
    >>> samples = np.sin(2 * np.pi * 440 * np.arange(2205) / 22050).astype("float32")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ["jazz/jazz.00054.wav", "blues/blues.00012.au", "blues/blues.00000.wav"]:
    ...         path = pathlib.Path(tmp, name)
    ...         path.parent.mkdir(exist_ok=True)
    ...         sf.write(path, samples, 22050)
    ...     data = load_gtzan(tmp)
    >>> data.track_ids.tolist()
    ['blues.00000', 'blues.00012', 'jazz.00054']
    >>> data.genres.tolist()
    ['blues', 'blues', 'jazz']
    >>> data.target_names.tolist()
    ['blues', 'jazz']
    >>> [pathlib.Path(p).name for p in data.paths]
    ['blues.00000.wav', 'blues.00012.au', 'jazz.00054.wav']
    """
    exts = _normalize_extensions(extensions)
    abs_root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(abs_root):
        raise ValueError(f"GTZAN root {os.fspath(root)!r} does not exist or is not a folder")

    # (genre, track_id) -> [(preference key, path)] of readable files
    candidates: dict[tuple[str, str], list[tuple[tuple[int, str, str], str]]] = {}
    unreadable: list[str] = []
    with os.scandir(abs_root) as genre_entries:
        genre_dirs = sorted(
            e.name for e in genre_entries if e.is_dir() and not e.name.startswith(".")
        )
    for genre in genre_dirs:
        with os.scandir(os.path.join(abs_root, genre)) as file_entries:
            files = sorted(
                e.name for e in file_entries if e.is_file() and not e.name.startswith(".")
            )
        for name in files:
            ext = _matching_extension(name, exts)
            if ext is None:
                continue
            path = os.path.join(abs_root, genre, name)
            reason = _unreadable_reason(path)
            if reason is not None:
                unreadable.append(f"{path} ({reason})")
                continue
            track_id = name[: -len(ext)]
            candidates.setdefault((genre, track_id), []).append((_preference(ext, name), path))

    if unreadable:
        warnings.warn(
            f"load_gtzan left out {len(unreadable)} unreadable audio file(s) under {abs_root}:\n  "
            + "\n  ".join(unreadable),
            UserWarning,
            stacklevel=2,
        )
    if not candidates:
        raise ValueError(
            f"no readable audio found in genre sub-folders of GTZAN root {os.fspath(root)!r} "
            f"(looked for {', '.join(sorted(exts))})"
        )

    keys = sorted(candidates)
    paths = []
    duplicates = []
    for key in keys:
        ranked = [path for _, path in sorted(candidates[key])]
        paths.append(ranked[0])
        if len(ranked) > 1:
            skipped = ", ".join(os.path.basename(p) for p in ranked[1:])
            duplicates.append(f"{key[0]}/{key[1]}: kept {os.path.basename(ranked[0])}, "
                              f"left out {skipped}")
    if duplicates:
        warnings.warn(
            f"load_gtzan found {len(duplicates)} track id(s) in more than one file under "
            f"{abs_root}; kept one file each (preferring {' '.join(AUDIO_EXTENSIONS)}):\n  "
            + "\n  ".join(duplicates),
            UserWarning,
            stacklevel=2,
        )

    genres = np.array([genre for genre, _ in keys], dtype=str)
    return Bunch(
        paths=np.array(paths, dtype=str),
        genres=genres,
        track_ids=np.array([track_id for _, track_id in keys], dtype=str),
        target_names=np.unique(genres),
        root=abs_root,
    )


def _track_id(name: str) -> str:
    """Track id of a list line, file name or path: no folders, no audio extension."""
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and "." + ext.lower() in AUDIO_EXTENSIONS:
        return stem
    return base


@functools.cache
def _split_lists() -> tuple[tuple[str, frozenset[str]], ...]:
    folder = resources.files(_PACKAGE) / "data" / "splits"
    lists = []
    for split, filename in _SPLIT_FILES.items():
        text = (folder / filename).read_text(encoding="utf-8")
        ids = (_track_id(line) for line in text.splitlines())
        lists.append((split, frozenset(i for i in ids if i and not i.startswith("#"))))
    return tuple(lists)


def load_split_lists() -> dict[str, frozenset[str]]:
    """Read the shipped fault-filtered GTZAN split lists.

    Returns
    -------
    lists : dict of str to frozenset of str
        Keys ``"train"``, ``"valid"``, ``"test"``; values the track ids in each list, e.g.
        ``"blues.00012"`` (the lists name files as ``blues/blues.00012.wav``; folder and
        extension are dropped so tracks match by id whatever their format).

    See Also
    --------
    fault_filtered_split : Boolean masks of the three lists for given track ids.

    Notes
    -----
    The lists (443 train, 197 valid, 290 test tracks) are the artist-conscious, fault-filtered
    split of Kereliuk, Sturm & Larsen (2015); see :func:`fault_filtered_split`. They are read with
    :mod:`importlib.resources` from ``sk_audio_genre/data/splits/`` and cached.

    Examples
    --------
    >>> from sk_audio_genre.datasets import load_split_lists
    >>> lists = load_split_lists()
    >>> {name: len(ids) for name, ids in lists.items()}
    {'train': 443, 'valid': 197, 'test': 290}
    >>> "blues.00012" in lists["test"]
    True
    """
    return dict(_split_lists())


def _as_track_ids(track_ids: Iterable[str | os.PathLike]) -> list[str]:
    if isinstance(track_ids, (str, os.PathLike)):
        raise TypeError(
            "track_ids must be a sequence of track ids such as ['blues.00012'], "
            f"got a single {type(track_ids).__name__}"
        )
    ids = np.asarray(track_ids, dtype=object)
    if ids.ndim != 1:
        raise ValueError(f"track_ids must be 1-D, got an array of shape {ids.shape}")
    out = []
    for track_id in ids:
        if isinstance(track_id, os.PathLike):
            track_id = os.fspath(track_id)
        if not isinstance(track_id, str):
            raise TypeError(
                f"track_ids must hold strings such as 'blues.00012', got {track_id!r}"
            )
        out.append(_track_id(track_id))
    return out


def fault_filtered_split(track_ids: Iterable[str | os.PathLike]) -> Bunch:
    """Masks of the artist-conscious, fault-filtered GTZAN split for the given tracks.

    GTZAN has repeated tracks, mislabelings and distortions, and many tracks by the same artist
    (Sturm 2013), so a random split puts one artist's songs on both sides and overstates
    accuracy. Kereliuk, Sturm & Larsen (2015) give a split of 930 of its 1,000 tracks into
    train (443), valid (197) and test (290) lists that are artist-disjoint and leave out the
    faulty tracks. This function tells which of ``track_ids`` fall in each list.

    Parameters
    ----------
    track_ids : sequence of str or path-like
        Track ids such as ``"blues.00012"`` (e.g. ``load_gtzan(root).track_ids``). File names or
        paths are accepted too: folders and an audio extension (one of
        :data:`AUDIO_EXTENSIONS`) are dropped, so tracks match by id whatever their format.

    Returns
    -------
    masks : :class:`~sklearn.utils.Bunch`
        Boolean arrays of shape ``(len(track_ids),)``, aligned with ``track_ids``:

        train, valid, test : ndarray of bool
            Whether each track is in that list. The three never overlap.
        unlisted : ndarray of bool
            Tracks in none of the lists (faulty tracks, or ids not from GTZAN):
            ``~(train | valid | test)``.

    Raises
    ------
    TypeError
        If ``track_ids`` is a single string or holds something other than strings/paths.
    ValueError
        If ``track_ids`` is not one-dimensional.

    See Also
    --------
    load_split_lists : The three lists as sets of track ids.
    fault_filtered_cv : A train/valid split for ``GridSearchCV(cv=...)``.

    References
    ----------
    .. [1] C. Kereliuk, B. L. Sturm and J. Larsen, "Deep learning and music adversaries",
       IEEE Transactions on Multimedia 17(11), 2015.
    .. [2] B. L. Sturm, "The GTZAN dataset: its contents, its faults, their effects on
       evaluation, and the future use of GTZAN", arXiv:1306.1461, 2013.

    Examples
    --------
    >>> from sk_audio_genre.datasets import fault_filtered_split
    >>> ids = ["blues.00000", "blues.00012", "blues.00029", "disco.00050"]
    >>> masks = fault_filtered_split(ids)
    >>> masks.train.tolist(), masks.valid.tolist(), masks.test.tolist()
    ([False, False, True, False], [True, False, False, False], [False, True, False, False])
    >>> masks.unlisted.tolist()
    [False, False, False, True]
    >>> fault_filtered_split(["blues/blues.00012.au"]).test.tolist()
    [True]
    """
    ids = _as_track_ids(track_ids)
    lists = load_split_lists()
    masks = {
        split: np.fromiter((i in lists[split] for i in ids), dtype=bool, count=len(ids))
        for split in SPLIT_NAMES
    }
    masks["unlisted"] = ~(masks["train"] | masks["valid"] | masks["test"])
    return Bunch(**masks)


def fault_filtered_cv(
    track_ids: Iterable[str | os.PathLike],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One train/valid split of the fault-filtered lists, for ``cv=`` in scikit-learn.

    Parameters
    ----------
    track_ids : sequence of str or path-like
        Track id of each sample (row of ``X``), as in :func:`fault_filtered_split`. If a track
        gives several rows, repeat its id for each.

    Returns
    -------
    cv : list of one (train_idx, valid_idx) tuple
        Integer indices into ``track_ids`` of the tracks in the train list and in the valid
        list. Tracks in the test list or in no list are in neither. Usable as ``cv`` in
        :class:`~sklearn.model_selection.GridSearchCV`, ``cross_validate`` and the like.

    Raises
    ------
    ValueError
        If no track is in the train list or none in the valid list.

    See Also
    --------
    fault_filtered_split : The masks this is built from.

    Notes
    -----
    After the search, ``GridSearchCV(refit=True)`` refits on *all* rows passed to ``fit``. Pass
    it only the train and valid rows (as in the example) so the test tracks stay unseen, and
    score the refitted model on the test rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_audio_genre.datasets import fault_filtered_cv, fault_filtered_split
    >>> ids = np.array(["blues.00000", "blues.00012", "blues.00029", "blues.00030", "disco.00050"])
    >>> masks = fault_filtered_split(ids)
    >>> keep = masks.train | masks.valid
    >>> [(train.tolist(), valid.tolist()) for train, valid in fault_filtered_cv(ids[keep])]
    [([1, 2], [0])]

    With ``X[keep]`` and ``y[keep]``: ``GridSearchCV(model, grid, cv=fault_filtered_cv(ids[keep]))
    .fit(X[keep], y[keep])``, then score on ``X[masks.test]``.
    """
    masks = fault_filtered_split(track_ids)
    train, valid = np.flatnonzero(masks.train), np.flatnonzero(masks.valid)
    for split, idx in (("train", train), ("valid", valid)):
        if idx.size == 0:
            raise ValueError(
                f"none of the {masks.train.size} track ids is in the fault-filtered {split} list"
            )
    return [(train, valid)]
