"""Hostile and concurrent model folders: crafted arrays files, links, killed and racing saves.

A model folder may come from anyone, and a folder in use may be re-saved while another
process loads it.  Each test here reproduces one way that went wrong: a crafted folder
must be refused with a ``ValueError`` naming the file and field (quickly, before anything
large is allocated), and a save must never leave a folder that holds neither the old model
nor the new one.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.lib import format as npy_format
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre.model_format import JSON_NAME, load_pipeline, model_digest, save_pipeline

from test_model_format import replace_arrays_file, saved_files

# --------------------------------------------------------------------------- models


def two_models(n_features: int) -> list[SimpleNamespace]:
    """Two fitted scaler + logistic regression models on the same ``n_features`` features
    that differ in their intercepts, with their probabilities on those features."""
    X = np.random.default_rng(0).normal(size=(6, n_features))
    first = make_pipeline(StandardScaler(), LogisticRegression(tol=0.1)).fit(X, [0, 1, 2] * 2)
    second = copy.deepcopy(first)
    second[-1].intercept_ = first[-1].intercept_ + [1.0, 0.0, -1.0]
    return [SimpleNamespace(model=model, X=X, proba=model.predict_proba(X))
            for model in (first, second)]


@pytest.fixture(scope="module")
def small_models() -> list[SimpleNamespace]:
    return two_models(20)


@pytest.fixture(scope="module")
def large_models() -> list[SimpleNamespace]:
    """Two models of 4 arrays of 8 MB each, so that a kill can land while one is written."""
    return two_models(1_000_000)


def which_model(folder: Path, models: list[SimpleNamespace]) -> int:
    """The index of the model ``folder`` holds; fails unless it is exactly one of ``models``.

    Exact equality is guaranteed: the loaded arrays are the saved ones bit for bit, and the
    probabilities are computed by the same code on the same input, in this process, with the
    same (BLAS) settings as the expected ones.
    """
    proba = load_pipeline(folder).predict_proba(models[0].X)
    matches = [i for i, case in enumerate(models) if np.array_equal(case.proba, proba)]
    assert len(matches) == 1, f"{folder} holds neither model"
    return matches[0]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- crafted arrays


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    npy_format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(descr: str | tuple, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buffer.getvalue()


def zip_of(members: list[tuple[str, bytes]], comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        archive.comment = comment
    return buffer.getvalue()


def crafted(change):
    """Arrays file bytes: the saved members as ``(name, npy bytes)``, changed by ``change``."""

    def make(folder: Path) -> bytes:
        with np.load(saved_files(folder)[0], allow_pickle=False) as data:
            members = [(f"{key}.npy", npy_bytes(data[key])) for key in data.files]
        return zip_of(change(members))

    return make


def first_member_as(data: bytes):
    return crafted(lambda members: [(members[0][0], data), *members[1:]])


def nested_members(folder: Path) -> bytes:
    """An archive whose member ``outer.npy`` holds, inside its data, all of ``inner.npy``:
    a directory entry per nesting level would make each byte of the file count again."""
    inner = zip_of([("inner.npy", npy_bytes(np.zeros(1000)))])
    inner_record, inner_directory = inner[:inner.rindex(b"PK\x01\x02")], inner[
        inner.rindex(b"PK\x01\x02"):inner.rindex(b"PK\x05\x06")]
    outer_data = npy_header("|u1", (len(inner_record),)) + inner_record
    outer = zip_of([("outer.npy", outer_data)])
    directory_at = outer.rindex(b"PK\x01\x02")
    inner_at = 30 + len("outer.npy") + len(outer_data) - len(inner_record)
    directory = outer[directory_at:outer.rindex(b"PK\x05\x06")] + (
        inner_directory[:42] + struct.pack("<L", inner_at) + inner_directory[46:])
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(directory), directory_at, 0)
    return outer[:directory_at] + directory + end


HUGE = npy_header("<f8", (10**12,)) + bytes(8)
ONE = npy_bytes(np.zeros(1))


@pytest.mark.parametrize("make, message", [
    (first_member_as(HUGE), r"\.npy: its header claims shape \(1000000000000,\) of float64"),
    (first_member_as(npy_header("|O", (3,)) + bytes(24)), r"\.npy: dtype object"),
    (first_member_as(npy_header(("<f8", (2,)), (3,)) + bytes(48)),
     r"\.npy: dtype \('<f8', \(2,\)\) \(a saved model holds plain numbers and booleans only\)"),
    (first_member_as(npy_header("<f8", (4,)) + bytes(8)), r"shape \(4,\) of float64 .*32 "
                                                          r"bytes.*holds 8"),
    (first_member_as(b"not an array"), r"\.npy: not a NumPy \.npy array"),
    (crafted(lambda m: [*m, ("notes.txt", b"hello")]), r"'notes\.txt' is not a \.npy member"),
    (crafted(lambda m: [*m, m[0]]), r"holds '.*\.npy' twice"),
    (crafted(lambda m: [*m, *((f"a{i}.npy", ONE) for i in range(100_000))]),
     r"more members than"),
    (nested_members, r"its members claim more bytes than the file holds"),
    (lambda folder: b"not a zip file", r"not a valid arrays file"),
    (lambda folder: zip_of([("a.npy", ONE)], comment=b"a comment after the end record"),
     r"not a zip archive as np\.savez writes it \(no end record at its end\)"),
], ids=["shape-1e12", "object-dtype", "subarray-dtype", "short-data", "not-npy",
        "not-npy-member", "duplicate-member", "100000-members", "nested-members", "not-zip",
        "zip-comment"])  # fmt: skip
@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # the crafted zip's own
def test_crafted_arrays_file_is_refused_quickly(small_models, tmp_path, make, message):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    path = replace_arrays_file(folder, make(folder))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message) as info:
        load_pipeline(folder)
    # refused before the members are read: 27 s for 100,000 members before the bound
    assert time.perf_counter() - start < 3.0
    assert str(path) in str(info.value)


def with_end_record(data: bytes, *, n_members: int | None = None,
                    directory_size: int | None = None) -> bytes:
    """``data``, a zip archive without comment, with its end record's member count (both
    fields) or central directory size replaced: zipfile reads the directory itself and
    ignores the count."""
    end = struct.Struct("<4s4H2LH")
    fields = list(end.unpack(data[-end.size:]))
    if n_members is not None:
        fields[3] = fields[4] = n_members
    if directory_size is not None:
        fields[5] = directory_size
    return data[:-end.size] + end.pack(*fields)


@pytest.mark.parametrize("claim", [{"n_members": 4097}, {"directory_size": 4096 * 512 + 1}])
def test_an_end_record_claiming_too_large_a_directory_is_refused_before_it_is_read(
        small_models, tmp_path, claim):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    replace_arrays_file(folder, with_end_record(saved_files(folder)[0].read_bytes(), **claim))
    with pytest.raises(ValueError, match=r"it has more members than the 4,096 a model can "
                                         r"reference$"):
        load_pipeline(folder)


@pytest.mark.parametrize("n_members", [4096, 4097])
def test_a_directory_holding_more_members_than_its_end_record_says_is_counted(
        small_models, tmp_path, n_members):
    """zipfile reads every entry of the directory, whatever count the end record gives."""
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    with np.load(saved_files(folder)[0], allow_pickle=False) as data:
        members = [(f"{key}.npy", npy_bytes(data[key])) for key in data.files]
    fillers = [(f"x{i}.npy", ONE) for i in range(n_members - len(members))]
    data = with_end_record(zip_of(members + fillers), n_members=len(members))
    replace_arrays_file(folder, data)
    if n_members > 4096:
        with pytest.raises(ValueError,
                           match=r"more members than the 4,096 a model can reference$"):
            load_pipeline(folder)
    else:  # members the model does not reference are read and left aside
        assert which_model(folder, small_models) == 0


def encrypted_first_member(folder: Path) -> bytes:
    """The saved archive with bit 0 of its first directory entry's flags set: encrypted."""
    data = bytearray(saved_files(folder)[0].read_bytes())
    flags_at = data.index(b"PK\x01\x02") + 8
    data[flags_at] |= 0x1
    return bytes(data)


def test_an_encrypted_member_is_refused_by_name(small_models, tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    replace_arrays_file(folder, encrypted_first_member(folder))
    with pytest.raises(ValueError, match=r"\.npy is compressed or encrypted \(save_pipeline "
                                         r"stores arrays as they are\)$"):
        load_pipeline(folder)


def test_an_end_record_claiming_the_most_members_loads(small_models, tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    replace_arrays_file(folder, with_end_record(saved_files(folder)[0].read_bytes(),
                                                n_members=4096))
    assert which_model(folder, small_models) == 0


def test_every_byte_of_a_member_is_read(small_models, tmp_path, monkeypatch):
    """The memory ``np.empty`` hands out may still hold the bytes of an earlier load of the
    same model: here it holds 7s, so that a byte left unread changes the answer."""
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    empty = np.empty
    monkeypatch.setattr(np, "empty", lambda shape, dtype=float, **kwargs: np.full(
        shape, 7, dtype=dtype) if kwargs == {} else empty(shape, dtype, **kwargs))
    assert which_model(folder, small_models) == 0


def test_members_in_npy_version_2_and_fortran_order_load_as_saved(small_models, tmp_path):
    """np.save writes format version 2.0 for headers over 64 KiB, and keeps Fortran order."""
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    with np.load(saved_files(folder)[0], allow_pickle=False) as data:
        members = []
        for key in data.files:
            buffer = io.BytesIO()
            npy_format.write_array(buffer, np.asfortranarray(data[key]), version=(2, 0),
                                   allow_pickle=False)
            members.append((f"{key}.npy", buffer.getvalue()))
    assert any(np.load(io.BytesIO(b)).ndim == 2 for _, b in members)  # a transposed layout
    replace_arrays_file(folder, zip_of(members))
    assert which_model(folder, small_models) == 0


# --------------------------------------------------------------------------- links


def test_pipeline_json_linked_out_of_the_folder_is_refused(small_models, tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    outside = tmp_path / "elsewhere" / JSON_NAME
    outside.parent.mkdir()
    shutil.move(folder / JSON_NAME, outside)
    (folder / JSON_NAME).symlink_to(outside)
    with pytest.raises(ValueError, match=rf"Model file {re.escape(str(folder / JSON_NAME))} "
                       rf"resolves to {re.escape(str(outside))}, outside the model folder"):
        load_pipeline(folder)


def test_an_arrays_file_linked_out_of_the_folder_is_refused_naming_the_json(small_models,
                                                                            tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    [path] = saved_files(folder)
    outside = tmp_path / path.name
    shutil.move(path, outside)
    path.symlink_to(outside)
    with pytest.raises(ValueError, match=re.escape(
            f"Model file {path} (named in {folder / JSON_NAME}) resolves to {outside}, outside "
            "the model folder; refused.")):
        load_pipeline(folder)


def test_a_link_swapped_in_after_the_check_is_not_followed(small_models, tmp_path, monkeypatch):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    [path] = saved_files(folder)
    outside = tmp_path / path.name
    shutil.move(path, outside)
    path.symlink_to(outside)
    # the link appears between resolving the name (which then saw a plain file) and opening it
    resolve = Path.resolve
    monkeypatch.setattr(Path, "resolve",
                        lambda self, strict=False: self if self == path else resolve(self, strict))
    with pytest.raises(ValueError, match=re.escape(f"Model file {path} (named in "
                                                   f"{folder / JSON_NAME}) cannot be opened: ")):
        load_pipeline(folder)


@pytest.mark.parametrize("make", [os.mkfifo, os.mkdir], ids=["fifo", "directory"])
def test_a_model_file_that_is_not_a_plain_file_is_refused_without_waiting(small_models,
                                                                          tmp_path, make):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    [path] = saved_files(folder)
    path.unlink()
    make(path)  # opening a pipe for reading waits for a writer, unless told not to
    errors = []

    def load():
        try:
            load_pipeline(folder)
        except ValueError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY))  # a writer that lets the waiting open return
        thread.join()
        pytest.fail("loading waited on a pipe")
    assert errors == [f"Model file {path} (named in {folder / JSON_NAME}) is not a plain "
                      "file; refused."]


def test_a_link_inside_the_folder_is_followed(small_models, tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    (folder / JSON_NAME).rename(folder / "real.json")
    (folder / JSON_NAME).symlink_to("real.json")
    assert which_model(folder, small_models) == 0


# --------------------------------------------------------------------------- saving


def test_a_save_removes_what_killed_saves_left(small_models, tmp_path):
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    (folder / ".saving-abc123").mkdir()  # a killed save of format version 2
    (folder / ".saving-abc123" / JSON_NAME).write_text("{}")
    (folder / ".saving-0123abcd.npz").write_bytes(b"half written")
    (folder / "arrays.npz").write_bytes(b"version 2 arrays")
    (folder / "old.weights.h5").write_bytes(b"version 1 weights")
    (folder / ("arrays-" + "0" * 64 + ".npz")).write_bytes(b"arrays of an older save")
    (folder / "notes.txt").write_text("the user's own file")
    save_pipeline(small_models[1].model, folder)
    assert listing(folder) == sorted([JSON_NAME, saved_files(folder)[0].name, "notes.txt"])
    assert which_model(folder, small_models) == 1


def test_a_save_removes_a_stale_name_that_links_elsewhere_and_nothing_it_points_to(
        small_models, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the model's")
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    (folder / ("arrays-" + "1" * 64 + ".npz")).symlink_to(outside, target_is_directory=True)
    save_pipeline(small_models[1].model, folder)
    assert listing(folder) == sorted([JSON_NAME, saved_files(folder)[0].name])
    assert (outside / "keep.txt").read_text() == "not the model's"


def test_a_stale_file_removed_by_someone_else_during_a_save_is_no_error(small_models, tmp_path,
                                                                      monkeypatch):
    import sk_audio_genre.model_format as model_format

    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    (folder / ".saving-0123abcd").write_bytes(b"left by a killed save")
    scandir = os.scandir

    def removed_while_listed(path):
        for entry in list(scandir(path)):
            if entry.name == ".saving-0123abcd":
                os.remove(entry.path)  # as another program might, between listing and unlink
            yield entry

    monkeypatch.setattr(model_format.os, "scandir", removed_while_listed)
    save_pipeline(small_models[1].model, folder)
    assert which_model(folder, small_models) == 1


def test_a_failed_write_removes_its_temporary_file_and_nothing_else(small_models, tmp_path,
                                                                   monkeypatch):
    import sk_audio_genre.model_format as model_format

    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    before = listing(folder)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_format.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        save_pipeline(small_models[1].model, folder)
    assert listing(folder) == before
    assert which_model(folder, small_models) == 0
    monkeypatch.undo()
    # a temporary name already taken (by chance, or by someone else) is not ours to remove
    monkeypatch.setattr(model_format.secrets, "token_hex", lambda n: "0" * (2 * n))
    taken = folder / (model_format.TEMPORARY_PREFIX + "0" * 16)
    taken.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        save_pipeline(small_models[1].model, folder)
    assert taken.read_bytes() == b"someone else's"


def test_a_version_2_folder_loads_and_is_replaced_by_a_save(small_models, tmp_path):
    from sk_audio_genre.pretrained import PRETRAINED_SHA256, pretrained_dir

    folder = Path(shutil.copytree(pretrained_dir(), tmp_path / "model"))
    assert model_digest(folder) == PRETRAINED_SHA256  # test_pretrained.py loads it
    save_pipeline(small_models[0].model, folder)
    assert listing(folder) == sorted([JSON_NAME, saved_files(folder)[0].name])
    assert which_model(folder, small_models) == 0


#: Runs in a second process: loads the two models, then for each line read from stdin forks
#: a saver that re-saves them into the folder in turn, starting with the one the line names,
#: until it is killed; prints the saver's process id, then "gone" once it has been killed.
KILLED_SAVER = """
import itertools, os, sys
from sk_audio_genre.model_format import load_pipeline, save_pipeline
folder, *sources = sys.argv[1:]
models = [load_pipeline(source) for source in sources]
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        for i in itertools.count(int(line)):
            save_pipeline(models[i % 2], folder)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("gone", flush=True)
"""


def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_model(large_models, tmp_path):
    sources = [save_pipeline(case.model, tmp_path / f"source{i}")
               for i, case in enumerate(large_models)]
    folder = tmp_path / "model"
    start = time.perf_counter()
    save_pipeline(large_models[0].model, folder)
    seconds_per_save = time.perf_counter() - start
    rng = np.random.default_rng(0)
    saver = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, folder, *sources],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    held, seen = 0, set()
    try:
        for attempt in range(8):
            before = (folder / JSON_NAME).read_bytes()
            saver.stdin.write(f"{1 - held}\n")  # the saver starts with the other model
            saver.stdin.flush()
            pid = int(saver.stdout.readline())
            if attempt % 2:  # let one save complete first, however loaded the machine is
                deadline = time.monotonic() + 60
                while (folder / JSON_NAME).read_bytes() == before and time.monotonic() < deadline:
                    time.sleep(0.01)
            time.sleep(rng.uniform(0, 1.5 * seconds_per_save))
            os.kill(pid, signal.SIGKILL)
            assert saver.stdout.readline() == "gone\n"
            held = which_model(folder, large_models)
            seen.add(held)
    finally:
        saver.kill()
        saver.wait()
    assert seen == {0, 1}  # the kills did land while saves replaced the model
    save_pipeline(large_models[held].model, folder)
    assert listing(folder) == sorted([JSON_NAME, saved_files(folder)[0].name])


#: Runs in a second process: re-saves the two models into the folder in turn until killed.
RACING_SAVER = """
import itertools, sys
from sk_audio_genre.model_format import load_pipeline, save_pipeline
folder, *sources = sys.argv[1:]
models = [load_pipeline(source) for source in sources]
print("ready", flush=True)
for i in itertools.count():
    save_pipeline(models[i % 2], folder)
"""


def test_loads_while_another_process_re_saves_give_one_of_the_two_models(small_models,
                                                                           tmp_path):
    sources = [save_pipeline(case.model, tmp_path / f"source{i}")
               for i, case in enumerate(small_models)]
    folder = save_pipeline(small_models[0].model, tmp_path / "model")
    saver = subprocess.Popen([sys.executable, "-c", RACING_SAVER, folder, *sources],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert saver.stdout.readline() == "ready\n"
        held = [which_model(folder, small_models) for _ in range(300)]
    finally:
        saver.kill()
        saver.wait()
    assert set(held) == {0, 1}  # the saves did replace the model while it was loaded
