"""Tests for sk_audio_genre.datasets: GTZAN-style folders and the fault-filtered split lists."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.utils import Bunch

from conftest import shared_split_ids, tone
from sk_audio_genre.datasets import (
    AUDIO_EXTENSIONS,
    fault_filtered_cv,
    fault_filtered_split,
    load_gtzan,
    load_split_lists,
)

SHORT = tone(0.05)


@pytest.fixture
def gtzan_tree(tmp_path, write_audio):
    """A small GTZAN-style folder in ``tmp_path`` with mixed formats and some clutter."""
    write_audio("jazz/jazz.00054.wav", SHORT)
    write_audio("jazz/jazz.00001.flac", SHORT)
    write_audio("blues/blues.00012.au", SHORT)
    write_audio("blues/blues.00000.wav", SHORT)
    write_audio("rock/rock.00003.ogg", SHORT)
    write_audio("rock/rock.00002.aiff", SHORT)
    (tmp_path / "blues" / "notes.txt").write_text("not audio")
    (tmp_path / "blues" / "meta.csv").write_text("a,b\n")
    (tmp_path / "blues" / ".hidden.wav").write_text("not audio either")
    (tmp_path / "blues" / "._blues.00000.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS cruft
    (tmp_path / ".git").mkdir()
    write_audio(".git/evil.00000.wav", SHORT)
    (tmp_path / "README.wav").write_text("file directly in root")
    write_audio("jazz/nested/jazz.00099.wav", SHORT)
    (tmp_path / "empty_genre").mkdir()
    return tmp_path


def load_quietly(root, **kwargs) -> Bunch:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder must give no warning at all
        return load_gtzan(root, **kwargs)


# --- load_gtzan ---------------------------------------------------------------------------


def test_fields_sorting_and_ids(gtzan_tree):
    data = load_quietly(gtzan_tree)
    assert isinstance(data, Bunch)
    assert set(data) == {"paths", "genres", "track_ids", "target_names", "root"}
    assert data.track_ids.tolist() == [
        "blues.00000", "blues.00012", "jazz.00001", "jazz.00054", "rock.00002", "rock.00003",
    ]
    assert data.genres.tolist() == ["blues", "blues", "jazz", "jazz", "rock", "rock"]
    assert data.target_names.tolist() == ["blues", "jazz", "rock"]
    for arr in (data.paths, data.genres, data.track_ids, data.target_names):
        assert isinstance(arr, np.ndarray) and arr.dtype.kind == "U"
    assert data.root == os.path.abspath(gtzan_tree)


def test_paths_are_absolute_and_exist(gtzan_tree, monkeypatch):
    monkeypatch.chdir(gtzan_tree.parent)
    data = load_quietly(gtzan_tree.name)  # relative root
    assert data.root == str(gtzan_tree)
    for path, genre, track_id in zip(data.paths, data.genres, data.track_ids):
        assert os.path.isabs(path) and os.path.isfile(path)
        assert Path(path).parent == gtzan_tree / genre
        assert Path(path).name.startswith(track_id + ".")
    assert [Path(p).suffix for p in data.paths] == [".wav", ".au", ".flac", ".wav", ".aiff", ".ogg"]


def test_reproducible(gtzan_tree):
    a, b = load_quietly(gtzan_tree), load_quietly(str(gtzan_tree))
    for key in ("paths", "genres", "track_ids", "target_names"):
        np.testing.assert_array_equal(a[key], b[key])


def test_mp3_and_aif(tmp_path, write_audio):
    write_audio("pop/pop.00001.mp3", tone(0.5))
    write_audio("pop/pop.00002.aif", SHORT, format="AIFF")
    data = load_quietly(tmp_path)
    assert data.track_ids.tolist() == ["pop.00001", "pop.00002"]


def test_extension_case_insensitive(tmp_path, write_audio):
    write_audio("disco/disco.00007.WAV", SHORT, format="WAV")
    data = load_quietly(tmp_path)
    assert data.track_ids.tolist() == ["disco.00007"]


@pytest.mark.parametrize("extensions", ["au", ".au", [".AU"], ("au",), {"au"}])
def test_extensions_override(gtzan_tree, extensions):
    data = load_quietly(gtzan_tree, extensions=extensions)
    assert data.track_ids.tolist() == ["blues.00012"]
    assert data.target_names.tolist() == ["blues"]


@pytest.mark.parametrize("extensions", [[], [""], ["."], [3]])
def test_bad_extensions(gtzan_tree, extensions):
    with pytest.raises(ValueError, match="extensions"):
        load_gtzan(gtzan_tree, extensions=extensions)


def test_unreadable_files_warned_once_and_skipped(tmp_path, write_audio):
    write_audio("blues/blues.00000.wav", SHORT)
    (tmp_path / "blues" / "blues.00001.wav").write_text("a text file renamed .wav\n")
    write_audio("blues/blues.00002.wav", np.zeros(0, dtype=np.float32))  # header, no frames
    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "jazz.00003.au").write_bytes(b"")  # zero bytes
    with pytest.warns(UserWarning) as record:
        data = load_gtzan(tmp_path)
    assert len(record) == 1
    message = str(record[0].message)
    assert "3 unreadable" in message
    for name in ("blues.00001.wav", "blues.00002.wav", "jazz.00003.au"):
        assert name in message
    assert "blues.00000.wav" not in message
    assert data.track_ids.tolist() == ["blues.00000"]
    assert data.target_names.tolist() == ["blues"]


def test_only_unreadable_files_warns_then_raises(tmp_path):
    (tmp_path / "blues").mkdir()
    (tmp_path / "blues" / "blues.00001.wav").write_text("nope")
    with pytest.warns(UserWarning, match="blues.00001.wav"):
        with pytest.raises(ValueError, match="no readable audio"):
            load_gtzan(tmp_path)


def test_missing_root(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(ValueError, match="does-not-exist"):
        load_gtzan(missing)


def test_root_is_a_file(tmp_path, write_audio):
    path = write_audio("blues.00000.wav", SHORT)
    with pytest.raises(ValueError, match="not a folder"):
        load_gtzan(path)


@pytest.mark.parametrize("layout", ["empty", "no_genre_dirs", "no_audio"])
def test_no_audio_raises_naming_root(tmp_path, write_audio, layout):
    root = tmp_path / "myroot"
    root.mkdir()
    if layout == "no_genre_dirs":
        write_audio("myroot/blues.00000.wav", SHORT)  # audio, but not in a genre folder
    elif layout == "no_audio":
        (root / "blues").mkdir()
        (root / "blues" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="myroot"):
        load_gtzan(root)


def test_duplicate_id_prefers_wav(tmp_path, write_audio):
    write_audio("blues/blues.00000.au", SHORT)
    write_audio("blues/blues.00000.wav", SHORT)
    write_audio("blues/blues.00000.flac", SHORT)
    write_audio("blues/blues.00001.ogg", SHORT)
    write_audio("blues/blues.00001.au", SHORT)
    with pytest.warns(UserWarning, match="more than one file") as record:
        data = load_gtzan(tmp_path)
    assert len(record) == 1
    assert "kept blues.00000.wav" in str(record[0].message)
    assert [Path(p).name for p in data.paths] == ["blues.00000.wav", "blues.00001.au"]
    assert data.track_ids.tolist() == ["blues.00000", "blues.00001"]


def test_duplicate_broken_wav_does_not_hide_good_au(tmp_path, write_audio):
    write_audio("blues/blues.00000.au", SHORT)
    (tmp_path / "blues" / "blues.00000.wav").write_text("broken")
    with pytest.warns(UserWarning) as record:
        data = load_gtzan(tmp_path)
    assert len(record) == 1 and "unreadable" in str(record[0].message)
    assert [Path(p).name for p in data.paths] == ["blues.00000.au"]


def test_same_id_in_two_genres_is_two_tracks(tmp_path, write_audio):
    write_audio("blues/x.00000.wav", SHORT)
    write_audio("jazz/x.00000.wav", SHORT)
    data = load_quietly(tmp_path)
    assert data.genres.tolist() == ["blues", "jazz"]


# --- split lists --------------------------------------------------------------------------


def test_split_list_counts_and_disjoint():
    lists = load_split_lists()
    assert list(lists) == ["train", "valid", "test"]
    assert {k: len(v) for k, v in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    assert all(isinstance(v, frozenset) for v in lists.values())
    assert not lists["train"] & lists["valid"]
    assert not lists["train"] & lists["test"]
    assert not lists["valid"] & lists["test"]
    for ids in lists.values():
        for track_id in ids:
            genre, number = track_id.split(".")
            assert len(number) == 5 and number.isdigit() and genre.isalpha()


def test_load_split_lists_returns_fresh_dict():
    lists = load_split_lists()
    lists["train"] = frozenset()
    assert len(load_split_lists()["train"]) == 443


def test_shipped_lists_equal_shared(shared_data):
    for split in ("train", "valid", "test"):
        shipped = (
            Path(__file__).parents[1] / "sk_audio_genre" / "data" / "splits"
            / f"{split}_filtered.txt"
        )
        shared = shared_data / "splits" / f"{split}_filtered.txt"
        assert shipped.read_text() == shared.read_text()


def test_masks_for_listed_and_absent_ids():
    ids = ["blues.00029", "blues.00000", "blues.00012", "jazz.99999", "not-a-track"]
    masks = fault_filtered_split(ids)
    assert set(masks) == {"train", "valid", "test", "unlisted"}
    assert masks.train.tolist() == [True, False, False, False, False]
    assert masks.valid.tolist() == [False, True, False, False, False]
    assert masks.test.tolist() == [False, False, True, False, False]
    assert masks.unlisted.tolist() == [False, False, False, True, True]
    for mask in masks.values():
        assert mask.dtype == bool and mask.shape == (5,)


def test_masks_extension_and_folder_insensitive():
    names = [
        "blues.00012", "blues.00012.wav", "blues.00012.au", "blues.00012.WAV",
        "blues/blues.00012.flac", Path("/data/gtzan/blues/blues.00012.au"),
        "C:\\gtzan\\blues\\blues.00012.wav",
    ]
    masks = fault_filtered_split(names)
    assert masks.test.all()
    assert not (masks.train | masks.valid | masks.unlisted).any()
    # a non-audio suffix is part of the id, so it does not match
    assert fault_filtered_split(["blues.00012.txt"]).unlisted.tolist() == [True]


def test_masks_accept_numpy_and_empty():
    masks = fault_filtered_split(np.array(["blues.00000", "blues.00029"]))
    assert masks.valid.tolist() == [True, False]
    empty = fault_filtered_split([])
    assert all(m.shape == (0,) and m.dtype == bool for m in empty.values())


def test_masks_bad_input():
    with pytest.raises(TypeError, match="single str"):
        fault_filtered_split("blues.00000")
    with pytest.raises(TypeError, match="strings"):
        fault_filtered_split([12])
    with pytest.raises(ValueError, match="1-D"):
        fault_filtered_split([["blues.00000"]])


def test_cv_indices_and_gridsearch():
    ids = np.array(["blues.00000", "blues.00012", "blues.00029", "blues.00030",
                    "blues.00001", "jazz.99999"])
    cv = fault_filtered_cv(ids)
    assert len(cv) == 1
    train, valid = cv[0]
    assert train.tolist() == [2, 3] and valid.tolist() == [0, 4]
    X = np.arange(len(ids), dtype=float).reshape(-1, 1)
    y = np.array([0, 1, 0, 1, 0, 1])
    search = GridSearchCV(DummyClassifier(), {"strategy": ["prior", "uniform"]}, cv=cv)
    search.fit(X, y)
    assert search.n_splits_ == 1


def test_cv_needs_train_and_valid():
    with pytest.raises(ValueError, match="valid list"):
        fault_filtered_cv(["blues.00029"])
    with pytest.raises(ValueError, match="train list"):
        fault_filtered_cv(["blues.00000", "blues.00012"])


def test_default_extensions_are_the_decoders_lossless_first():
    from sk_audio_genre import reading

    assert AUDIO_EXTENSIONS is reading.AUDIO_EXTENSIONS  # one list for the loader and the CLI
    assert AUDIO_EXTENSIONS[0] == ".wav"
    assert AUDIO_EXTENSIONS.index(".flac") < AUDIO_EXTENSIONS.index(".ogg") < AUDIO_EXTENSIONS.index(".mp3")
    assert {".au", ".aiff", ".opus"} <= set(AUDIO_EXTENSIONS)


# --- real GTZAN subset (shared data) ------------------------------------------------------


@pytest.fixture(scope="module")
def real(gtzan_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real subset must load without any warning
        return load_gtzan(gtzan_root)


def test_real_gtzan_tracks(real, shared_sources, gtzan_root):
    """The loader finds exactly the tracks SOURCES.csv lists, whatever their number."""
    assert len(shared_sources) > 0
    expected_ids = sorted(row["track"] for row in shared_sources)
    assert real.track_ids.tolist() == expected_ids  # sorted by genre, then id
    assert len(real.paths) == len(real.genres) == len(set(real.track_ids)) == len(expected_ids)
    on_disk = [p for p in gtzan_root.glob("*/*") if p.is_file() and not p.name.startswith(".")]
    assert len(on_disk) == len(expected_ids)  # every file in the folder is one listed track
    genres = sorted({row["file"].split("/")[0] for row in shared_sources})
    assert real.target_names.tolist() == genres
    per_genre = {g: sum(row["file"].startswith(g + "/") for row in shared_sources) for g in genres}
    assert dict(zip(*np.unique(real.genres, return_counts=True))) == per_genre
    for genre, track_id in zip(real.genres, real.track_ids):
        name, number = track_id.split(".")
        assert name == genre and len(number) == 5 and number.isdigit()
    suffixes = {Path(row["file"]).suffix for row in shared_sources}
    assert {Path(p).suffix for p in real.paths} == suffixes


def test_real_gtzan_matches_sources_csv(real, shared_sources):
    files = sorted(row["file"] for row in shared_sources)
    root = Path(real.root)
    assert [Path(p).relative_to(root).as_posix() for p in real.paths] == files
    for row in shared_sources:  # the columns this library relies on
        assert Path(row["file"]).name.startswith(row["track"] + "."), row
        assert int(row["sr"]) > 0 and int(row["ch"]) >= 1 and float(row["dur"]) > 0, row


def test_real_gtzan_masks(real, shared_data):
    """The shipped lists put each shared track where the shared ``splits/`` files do."""
    masks = fault_filtered_split(real.track_ids)
    stacked = np.vstack([masks.train, masks.valid, masks.test, masks.unlisted])
    np.testing.assert_array_equal(stacked.sum(axis=0), 1)  # each track in exactly one group
    assert masks.train.sum() > 0 and masks.valid.sum() > 0 and masks.test.sum() > 0
    lists = shared_split_ids(shared_data)
    for name, ids in lists.items():
        assert set(real.track_ids[masks[name]]) == ids & set(real.track_ids), name
    listed = set().union(*lists.values())
    assert set(real.track_ids[masks.unlisted]) == set(real.track_ids) - listed
    train, valid = fault_filtered_cv(real.track_ids)[0]
    assert not set(train) & set(valid)
