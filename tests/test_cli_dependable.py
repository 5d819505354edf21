"""The command line and its prediction engine on hostile input (issue 14, items 2, 4, 5, 7, 8).

Most tests call :func:`sk_audio_genre.cli.main` in-process with a tiny MFCC model (no
TensorFlow, no musicnn) so that they run in seconds; the few behaviours that need a real
process (a closed pipe, C libraries writing to file descriptor 2, tracebacks) run
``python -m sk_audio_genre``.  ``docs/refusals.rst`` lists the guarantee each test holds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sk_audio_genre import MFCCSegmenter, cli, inference
from sk_audio_genre.cli import escape
from sk_audio_genre._segments import aggregate_segments, predict_from_proba
from sk_audio_genre.model_format import _content_digest, load_pipeline, save_pipeline
from sk_audio_genre.preprocessing import SegmentStatistics

from conftest import SMALL_SEGMENTER, tone

SR = SMALL_SEGMENTER["sr"]
#: What a non-UTF-8 file name looks like on Linux once Python has decoded it.
BAD_NAME = os.fsdecode(b"bad\xff\xfename.wav")
FORMATS = ["text", "csv", "json", "jsonl"]


# --------------------------------------------------------------------------- fixtures


def write_tone(path: Path, freq: float, *, seconds: float = 1.0, seed: int = 0) -> Path:
    sf.write(path, tone(seconds, freq=freq, sr=SR, noise=0.05, seed=seed), SR)
    return path


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Twelve 1 s tone files at 8 kHz: low and high pitches in turn."""
    folder = tmp_path_factory.mktemp("songs")
    return [write_tone(folder / f"song{i:02d}.wav", 300.0 if i % 2 else 2000.0, seed=i)
            for i in range(12)]


def tiny_pipeline(steps_between=()) -> Pipeline:
    return Pipeline([("mfcc", MFCCSegmenter(**SMALL_SEGMENTER)), ("stats", SegmentStatistics()),
                     *steps_between, ("scale", StandardScaler()), ("clf", LogisticRegression())])


def fit_and_save(pipe: Pipeline, songs: list[Path], labels: tuple[str, str], folder: Path) -> Path:
    pipe.fit([str(p) for p in songs], [labels[i % 2] for i in range(len(songs))])
    save_pipeline(pipe, folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model(songs, tmp_path_factory) -> str:
    """A saved MFCC + logistic regression model of two genres, "high" and "low"."""
    return str(fit_and_save(tiny_pipeline(), songs, ("high", "low"),
                            tmp_path_factory.mktemp("models") / "tiny"))


def main(*argv) -> int:
    return cli.main([str(a) for a in argv])


def rewrite(folder: Path, edit) -> None:
    """Apply ``edit`` to pipeline.json and record its new digest, as a careful forger would."""
    path = folder / "pipeline.json"
    document = json.loads(path.read_text())
    edit(document)
    document["sha256"] = _content_digest(document)
    path.write_text(json.dumps(document))


def strict_json(text: str):
    """``json.loads`` that refuses the bare NaN and Infinity Python writes by default."""
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def records_of(fmt: str, out: str) -> list[dict]:
    """Each record of ``out`` as a dict with at least ``path`` and ``error``."""
    if fmt == "json":
        return strict_json(out)
    if fmt == "jsonl":
        return [strict_json(line) for line in out.splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(out)))
    return [{"path": line.split("\t")[0], "genre": line.split("\t")[1], "error": None}
            for line in out.splitlines()]


# --------------------------------------------------------------------------- 2: one file


class RefusesLoudRows(TransformerMixin, BaseEstimator):
    """Passes features through, but refuses any batch holding a row above ``limit``, as a
    scikit-learn estimator refuses values it cannot handle."""

    def __init__(self, limit: float = 0.0) -> None:
        self.limit = limit

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X):
        if (np.asarray(X)[:, 0] > self.limit).any():
            raise ValueError("Input X contains a value this estimator refuses.")
        return X


def test_a_model_refusing_one_file_costs_only_that_file(songs, tmp_path, capsys):
    pipe = tiny_pipeline([("refuse", RefusesLoudRows(limit=np.inf))])
    pipe.fit([str(p) for p in songs], ["high", "low"] * 6)
    features = pipe[:2].transform([str(p) for p in songs[:4]])
    pipe.set_params(refuse__limit=float(np.sort(features[:, 0])[-2]))  # refuses one file
    guilty = int(np.argmax(features[:, 0]))

    predictions = list(inference.predict_files(pipe, [str(p) for p in songs[:4]]))
    assert [p.proba is None for p in predictions] == [i == guilty for i in range(4)]
    assert predictions[guilty].report.reason == (
        "the model refused its features (ValueError: Input X contains a value this "
        "estimator refuses.)")

    import joblib

    joblib.dump(pipe, tmp_path / "refusing.joblib")
    status = main("predict", *songs[:4], "--model", tmp_path / "refusing.joblib",
                  "--trust-pickle", "--format", "csv")
    out, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [bool(r["error"]) for r in rows] == [i == guilty for i in range(4)]
    assert "the model refused its features" in rows[guilty]["error"]


@pytest.fixture(scope="module")
def overflowing_model(songs, tmp_path_factory) -> str:
    """The tiny model with coefficients of 1e308: its arithmetic overflows."""
    pipe = tiny_pipeline()
    folder = fit_and_save(pipe, songs, ("high", "low"), tmp_path_factory.mktemp("m") / "huge")
    pipe[-1].coef_[:] = 1e308
    save_pipeline(pipe, folder)
    return str(folder)


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_finite_probabilities_are_a_failure_never_nan(overflowing_model, songs, fmt, capsys):
    status = main("predict", *songs, "--model", overflowing_model, "--format", fmt)
    out, err = capsys.readouterr()
    assert status == 1
    assert "nan" not in out.lower()
    records = records_of(fmt, out)  # valid JSON: no bare NaN
    reason = ("the model's output is not finite: its arithmetic overflowed; the model's "
              "weights may be extreme")
    assert f"{reason}" in err
    n_failed = sum(1 for line in err.splitlines() if line.endswith(reason))
    assert n_failed >= 1 and f"{n_failed} of {len(songs)} inputs failed" in err
    if fmt != "text":
        assert sum(r["error"] == reason for r in records) == n_failed
    assert len(records) == len(songs) - (n_failed if fmt == "text" else 0)


def test_predict_from_proba_tells_no_features_from_overflow():
    classes = np.array(["jazz", "rock"])
    proba = np.array([[0.2, 0.8], [np.nan, np.nan], [np.nan, np.nan], [np.inf, 0.0]])
    with pytest.raises(ValueError) as info:
        predict_from_proba(classes, proba, n_present=np.array([2, 0, 3, 1]))
    message = str(info.value)
    assert message.startswith("Tracks [1] have no present segment (all NaN), so they have "
                              "no genre")
    assert ("The model's output for tracks [2, 3] is not finite: its arithmetic overflowed; "
            "the model's weights may be extreme.") in message
    with pytest.raises(ValueError, match=r"^The model's output for tracks \[1\] is not finite"):
        predict_from_proba(classes, proba[[0, 3]])  # infinity is never a missing track


def test_aggregate_segments_keeps_a_present_segments_non_finite_output():
    p = np.array([[[0.6, 0.4], [np.nan, np.nan], [np.nan, np.nan]]])
    present = np.array([[True, True, False]])  # segment 1 was there; its output overflowed
    for how in ("mean", "vote"):
        assert not np.isnan(aggregate_segments(p, how)[0]).any()  # seen as missing
        assert np.isnan(aggregate_segments(p, how, present=present)[0]).all()


# --------------------------------------------------------------------------- 2: streaming


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl"])
def test_records_stream_as_each_batch_finishes(tiny_model, songs, fmt, monkeypatch, capsys):
    seen_before_batch = []
    original = inference.transform_with_report

    def spy(step, paths):
        lines = capsys.readouterr().out.splitlines()
        seen_before_batch.append(len([line for line in lines if not line.startswith("path,")]))
        return original(step, paths)

    monkeypatch.setattr(inference, "transform_with_report", spy)
    monkeypatch.setattr(inference, "BATCH_SIZE", 4)
    assert main("predict", *songs, "--model", tiny_model, "--format", fmt) == 0
    assert seen_before_batch == [0, 4, 4]  # each batch's records were out before the next


def test_jsonl_is_one_json_object_per_record(tiny_model, songs, tmp_path, capsys):
    missing = tmp_path / "missing.wav"
    assert main("predict", songs[0], missing, "--model", tiny_model, "--format", "jsonl") == 1
    first, second = [strict_json(line) for line in capsys.readouterr().out.splitlines()]
    assert first["path"] == str(missing) and "no such file" in first["error"]
    assert second["path"] == str(songs[0]) and second["genre"] == "high"
    assert set(second) == {"path", "genre", "probability", "top", "analysed", "notes", "error"}


# --------------------------------------------------------------------------- 2: resuming


def counting_paths(monkeypatch) -> list[str]:
    """Every path the model's feature step is asked for, from now on."""
    asked: list[str] = []
    original = inference.transform_with_report

    def spy(step, paths):
        asked.extend(paths)
        return original(step, paths)

    monkeypatch.setattr(inference, "transform_with_report", spy)
    return asked


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl"])
def test_resume_skips_what_is_recorded_and_appends_the_rest(tiny_model, songs, tmp_path, fmt,
                                                            monkeypatch, capsys):
    out = tmp_path / f"out.{fmt}"
    assert main("predict", *songs[:5], "--model", tiny_model, "--format", fmt,
                "--resume", out) == 0
    assert capsys.readouterr().out == ""  # the records went to OUT
    with open(out, "ab") as fh:  # an interrupted run's half-written record
        fh.write(escape(str(songs[5])).encode()[:-3])

    asked = counting_paths(monkeypatch)
    assert main("predict", *songs, "--model", tiny_model, "--format", fmt,
                "--resume", out) == 0
    assert asked == [str(p) for p in songs[5:]]  # nothing finished is redone
    err = capsys.readouterr().err
    assert f"{out}: 5 of 12 inputs already recorded; resuming with the other 7" in err
    assert "dropped an incomplete last record" in err
    text = out.read_text(encoding="utf-8")
    records = records_of(fmt, text)
    assert [r["path"] for r in records] == [str(p) for p in songs]
    assert [r["genre"] for r in records] == ["high", "low"] * 6
    if fmt == "csv":
        assert text.count("path,genre,probability") == 1


def test_resume_matches_paths_as_written_escaped(tiny_model, songs, tmp_path, monkeypatch,
                                                 capsys):
    names = [tmp_path / "tab\there.wav", tmp_path / BAD_NAME, tmp_path / "plain.wav"]
    for name, source in zip(names, songs, strict=False):
        os.link(source, name)
    out = tmp_path / "out.csv"
    assert main("predict", *names[:2], "--model", tiny_model, "--format", "csv",
                "--resume", out) == 0
    asked = counting_paths(monkeypatch)
    assert main("predict", *names, "--model", tiny_model, "--format", "csv",
                "--resume", out) == 0
    assert asked == [str(names[2])]
    paths = [r["path"] for r in records_of("csv", out.read_text(encoding="utf-8"))]
    assert paths == [escape(str(n)) for n in names]


def test_resume_records_failures_so_they_are_not_retried(tiny_model, songs, tmp_path,
                                                         monkeypatch, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(64))
    out = tmp_path / "out.jsonl"
    assert main("predict", broken, songs[0], "--model", tiny_model, "--format", "jsonl",
                "--resume", out) == 1
    asked = counting_paths(monkeypatch)
    assert main("predict", broken, songs[0], songs[1], "--model", tiny_model,
                "--format", "jsonl", "--resume", out) == 1  # the job's status: one failed
    assert asked == [str(songs[1])]
    assert "1 of 3 inputs failed" in capsys.readouterr().err


def test_resume_refuses_a_file_it_did_not_write_or_another_layout(tiny_model, songs, tmp_path,
                                                                   capsys):
    out = tmp_path / "out.csv"
    assert main("predict", songs[0], "--model", tiny_model, "--format", "csv",
                "--resume", out) == 0
    before = out.read_bytes()
    assert main("predict", *songs[:2], "--model", tiny_model, "--format", "csv", "--top", "1",
                "--resume", out) == 1
    err = capsys.readouterr().err
    assert f"{out} holds CSV records of another layout" in err and "--top" in err
    assert out.read_bytes() == before  # nothing appended
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my own notes\nnot records\n")
    assert main("predict", songs[0], "--model", tiny_model, "--format", "jsonl",
                "--resume", notes) == 1
    assert f"{notes} line 1 is not a record" in capsys.readouterr().err
    assert notes.read_text() == "my own notes\nnot records\n"


def test_resume_needs_a_format_that_appends(songs, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main("predict", songs[0], "--format", "json", "--resume", tmp_path / "out.json")
    assert info.value.code == 2
    assert "--resume needs --format text, csv or jsonl" in capsys.readouterr().err


def test_resume_syncs_its_file_after_each_batch(tiny_model, songs, tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    monkeypatch.setattr(inference, "BATCH_SIZE", 4)
    assert main("predict", *songs, "--model", tiny_model, "--format", "csv",
                "--resume", tmp_path / "out.csv") == 0
    assert len(synced) == 3  # once per batch of 4


# --------------------------------------------------------------------------- 2: pipes


def python_m(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sk_audio_genre", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_closed_pipe_ends_the_run_quietly(tiny_model, songs, fmt):
    """``sk-audio-genre predict ... | head -1``: no BrokenPipeError, and the work stops."""
    inputs = songs * 30  # 360 records: more than a pipe holds, even as one JSON list
    process = python_m("predict", *inputs, "--model", tiny_model, "--format", fmt)
    assert process.stdout.readline()
    process.stdout.close()  # as head -1 does
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
    if fmt != "json":  # the work stopped: the progress bar never reached the end
        assert f"{len(inputs)}/{len(inputs)} files" not in err


# --------------------------------------------------------------------------- 4: CLI errors


@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "604800.5", "-1"])
def test_offset_is_finite_and_at_most_a_week(value, capsys):
    with pytest.raises(SystemExit) as info:
        main("predict", "x.wav", "--offset", value)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert ("argument --offset: must be 'center', 'all' or a number of seconds in [0, 604800] (one "
            f"week of audio, longer than any recording), got {value}") in err
    assert "Traceback" not in err
    week = cli.build_parser().parse_args(["predict", "x.wav", "--offset", "604800"]).offset
    assert week == 604800


def test_train_refuses_an_unusable_out_before_training(songs, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    for genre in ("high", "low"):
        (data / genre).mkdir(parents=True)
    for i, song in enumerate(songs[:4]):
        os.link(song, data / ("high", "low")[i % 2] / f"{('high', 'low')[i % 2]}.{i:05d}.wav")
    monkeypatch.setattr(Pipeline, "fit", lambda *a, **k: pytest.fail("trained before refusing"))
    existing = tmp_path / "model.txt"
    existing.write_text("keep me")
    for out, why in [(existing, "is an existing file"),
                     (existing / "model", "cannot be written"),
                     (tmp_path / "folder.joblib", "is an existing folder")]:
        if out.suffix == ".joblib":
            out.mkdir()
        assert main("train", data, "--out", out) == 1
        err = capsys.readouterr().err
        assert f"sk-audio-genre train: error: --out {out} {why}" in err, err
        assert "Traceback" not in err
    assert existing.read_text() == "keep me"


def test_a_model_that_does_not_read_audio_is_refused_at_load(songs, tmp_path, capsys):
    features = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    features.fit(np.random.default_rng(0).normal(size=(6, 3)), ["a", "b"] * 3)
    save_pipeline(features, tmp_path / "features_only")
    assert main("predict", songs[0], "--model", tmp_path / "features_only") == 1
    err = capsys.readouterr().err
    assert ("error: cannot use model " in err and "its first step is a StandardScaler, which "
            "does not read audio files") in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize(("trained_on", "why"), [
    (5, "metadata.trained_on must be a list, got int"),
    ([{"track": "a", "sha256": ["x"]}], "metadata.trained_on[0].sha256 must be a string"),
])  # fmt: skip
def test_malformed_trained_on_is_a_clear_error_never_a_type_error(tiny_model, songs, tmp_path,
                                                                   trained_on, why, capsys):
    import shutil

    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    rewrite(model, lambda d: d.setdefault("metadata", {}).update(trained_on=trained_on))
    data = tmp_path / "data"
    for i, song in enumerate(songs[:4]):
        genre = ("high", "low")[i % 2]
        (data / genre).mkdir(parents=True, exist_ok=True)
        os.link(song, data / genre / f"{genre}.{i:05d}.wav")
    assert main("evaluate", model, data) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sk-audio-genre evaluate: error: cannot load model '{model}'")
    assert why in err and err.count("\n") == 1


def test_a_model_folder_that_cannot_be_read_is_one_line(songs, tmp_path, capsys):
    model = tmp_path / "model"
    (model / "pipeline.json").mkdir(parents=True)  # an OSError, not a ValueError, to read
    assert main("predict", songs[0], "--model", model) == 1
    err = capsys.readouterr().err
    assert err.startswith("sk-audio-genre predict: error: cannot load model")
    assert err.count("\n") == 1


# --------------------------------------------------------------------------- 7: names, labels


def test_escape_makes_any_name_one_safe_line():
    assert escape("a\tb\nc\x85d") == "a\\x09b\\x0ac\\x85d"
    assert escape(BAD_NAME) == "bad\\xff\\xfename.wav"
    assert escape("evil\u202egnp.exe \u2066x\u2069 \u200e\u200f") == (
        "evil\\u202egnp.exe \\u2066x\\u2069 \\u200e\\u200f")
    assert escape("Björk – Jóga.flac") == "Björk – Jóga.flac"  # printable text stays


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_name_that_is_not_utf8_is_read_and_written_escaped(tiny_model, songs, tmp_path, fmt,
                                                             capsysbinary):
    os.link(songs[0], os.fsencode(tmp_path) + b"/bad\xff\xfename.wav")
    assert main("predict", tmp_path, "--model", tiny_model, "--format", fmt) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")  # strict: valid UTF-8
    record, = records_of(fmt, out)
    assert record["path"] == f"{tmp_path}/bad\\xff\\xfename.wav" and record["genre"] == "high"


@pytest.fixture(scope="module")
def forging_model(songs, tmp_path_factory) -> str:
    """A model whose genre labels try to forge output lines and reverse the text."""
    return str(fit_and_save(tiny_pipeline(), songs, ("jazz\t0.99\nfake.wav", "pop\u202e"),
                            tmp_path_factory.mktemp("m") / "forging"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_from_a_model_folder_are_escaped_like_names(forging_model, songs, fmt, capsys):
    assert main("predict", songs[0], songs[1], "--model", forging_model, "--format", fmt) == 0
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\t0.99\n" not in out
    records = records_of(fmt, out)
    assert len(records) == 2
    assert [r["genre"] for r in records] == ["jazz\\x090.99\\x0afake.wav", "pop\\u202e"]


# --------------------------------------------------------------------------- 8: readable


def test_each_files_problem_is_said_once_in_the_clis_words(tiny_model, songs, tmp_path, capsys):
    text = tmp_path / "text.mp3"
    text.write_text("not audio\n" * 20)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(range(256)) * 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the CLI would fail the test
        assert main("predict", songs[0], text, corrupt, "--model", tiny_model) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"sk-audio-genre predict: {text}: not audio: its content is text",
        f"sk-audio-genre predict: {corrupt}: corrupt or truncated MP3 data",
        "sk-audio-genre predict: 2 of 3 inputs failed",
    ]
    with pytest.warns(UserWarning, match="text.mp3"):  # library users still get warnings
        load_pipeline(tiny_model)[0].set_params(on_error="nan").transform(
            [str(songs[0]), str(text)])


def test_other_warnings_are_shown_once_in_the_clis_words(tiny_model, songs, monkeypatch,
                                                         capsys):
    load = inference.load_model

    def load_with_warnings(*args, **kwargs):
        for _ in range(2):
            warnings.warn("this model was saved by another version\n  of the library",
                          UserWarning)
        return load(*args, **kwargs)

    monkeypatch.setattr(inference, "load_model", load_with_warnings)
    assert main("predict", songs[0], "--model", tiny_model) == 0
    err = capsys.readouterr().err
    assert err == ("sk-audio-genre predict: warning: this model was saved by another version\n"
                   "  of the library\n")


def test_c_library_chatter_never_reaches_the_terminal(tiny_model, tmp_path):
    """libmpg123 writes "Note: Illegal Audio-MPEG-Header" to fd 2 for a damaged mp3."""
    if "MP3" not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} has no MP3 support (1.1 and later)")
    sf.write(tmp_path / "good.mp3", tone(8.0, freq=440.0, sr=22050, noise=0.05), 22050)
    damaged = bytearray((tmp_path / "good.mp3").read_bytes())
    for i in range(2000, len(damaged), 997):
        damaged[i : i + 40] = bytes(40)
    (tmp_path / "damaged.mp3").write_bytes(damaged)
    library = subprocess.run(
        [sys.executable, "-c", "from sk_audio_genre.inference import load_model; "
         f"load_model({tiny_model!r})[0].set_params(offset='center', on_error='nan')"
         f".transform([{str(tmp_path / 'damaged.mp3')!r}])"],
        capture_output=True, text=True, timeout=120)
    assert "Illegal Audio-MPEG-Header" in library.stderr  # the library does chatter
    assert "UserWarning" in library.stderr

    process = python_m("predict", tmp_path / "damaged.mp3", "--model", tiny_model)
    out, err = (s.decode() for s in process.communicate(timeout=120))
    assert "MPEG" not in err and "Warning" not in err and "Note:" not in err
    assert all(line.startswith("sk-audio-genre predict: ") for line in err.splitlines())


def test_tracebacks_of_a_bug_stay_visible():
    def run(body: str) -> subprocess.CompletedProcess:
        code = ("import os, sys\nfrom sk_audio_genre import cli\n"
                f"def command(args):\n    {body}\n"
                "cli.cmd_predict = command\n"
                "status = cli.main(['predict', 'x.wav'])\n"
                "os.write(2, b'after\\n')\nsys.exit(status)\n")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)

    bug = run("raise RuntimeError('a bug of ours')")
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "RuntimeError: a bug of ours" in bug.stderr
    chatter = run("os.write(2, b'C says hi\\n'); return 0")
    assert chatter.returncode == 0
    assert chatter.stderr == "after\n"  # fd 2 is quiet inside the CLI, and restored after it


@pytest.mark.parametrize("fmt", ["text", "csv", "json", "jsonl"])
def test_a_long_song_says_which_window_was_analysed(tiny_model, tmp_path, fmt, capsys):
    song = write_tone(tmp_path / "long.wav", 2000.0, seconds=300.0)
    assert main("predict", song, "--model", tiny_model, "--format", fmt) == 0
    out = capsys.readouterr().out
    window = "149.5-150.5 s of 300.0 s"
    if fmt == "text":
        assert out.rstrip("\n").endswith(f"\t[analysed {window}]")
    else:
        record, = records_of(fmt, out)
        assert record["analysed"] == window
    assert main("predict", song, "--model", tiny_model, "--format", fmt, "--offset", "0") == 0
    assert "0.0-1.0 s of 300.0 s" in capsys.readouterr().out


def test_near_silence_is_no_answer(tiny_model, songs, tmp_path, capsys):
    dither = np.random.default_rng(0).integers(-1, 2, 2 * SR).astype(np.int16)  # 1 LSB
    sf.write(tmp_path / "dither.wav", dither, SR, subtype="PCM_16")
    assert main("predict", tmp_path / "dither.wav", songs[0], "--model", tiny_model,
                "--format", "csv") == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["genre"] == "" and rows[0]["error"].startswith(
        "silent throughout (peak -90.3 dBFS, below -60 dBFS)")
    assert rows[1]["genre"] == "high"


GTZAN = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
         "reggae", "rock"]


def test_the_confusion_matrix_is_readable_for_ten_genres():
    from sklearn.metrics import confusion_matrix

    from sk_audio_genre.cli import format_confusion

    rng = np.random.default_rng(0)
    truth = rng.choice(GTZAN, 200)
    predicted = np.where(rng.random(200) < 0.7, truth, rng.choice(GTZAN, 200))
    table = format_confusion(truth, predicted, GTZAN)
    lines = table.splitlines()
    assert all(len(line) <= 79 for line in lines)
    assert lines[0] == "confusion matrix (rows: true genre, columns: predicted)"
    header = lines[1].split()
    assert header == ["blu", "cla", "cou", "dis", "hip", "jaz", "met", "pop", "reg", "roc"]
    body = [line.split() for line in lines[2:]]
    assert [row[0] for row in body] == GTZAN
    np.testing.assert_array_equal([[int(v) for v in row[1:]] for row in body],
                                  confusion_matrix(truth, predicted, labels=GTZAN))
    assert format_confusion(["a\tb", "c"], ["c", "c"], ["a\tb", "c"]).count("\t") == 0


def test_evaluate_prints_the_confusion_matrix(tiny_model, songs, tmp_path, capsys):
    data = tmp_path / "data"
    for i, song in enumerate(songs[:6]):
        genre = ("high", "low")[i % 2]
        (data / genre).mkdir(parents=True, exist_ok=True)
        os.link(song, data / genre / f"{genre}.{i:05d}.wav")
    assert main("evaluate", tiny_model, data) == 0
    out = capsys.readouterr().out
    assert "confusion matrix (rows: true genre, columns: predicted)" in out
    table = out.split("confusion matrix", 1)[1].splitlines()
    assert table[1].split() == ["hig", "low"]
    assert table[2].split() == ["high", "3", "0"] and table[3].split() == ["low", "0", "3"]


def test_the_timeline_option_chooses_the_genres(tiny_model, tmp_path, capsys, monkeypatch):
    from sk_audio_genre import timeline
    from sk_audio_genre.timeline import GenreTimelineDisplay

    drawn, computed = [], []
    plot, compute = GenreTimelineDisplay.plot, timeline.genre_timeline

    def spy(self, ax=None, **kwargs):
        drawn.append(kwargs)
        return plot(self, ax, **kwargs)

    monkeypatch.setattr(GenreTimelineDisplay, "plot", spy)
    monkeypatch.setattr(timeline, "genre_timeline",
                        lambda *a, **k: computed.append(a) or compute(*a, **k))
    song = write_tone(tmp_path / "song.wav", 2000.0, seconds=3.0)
    png = tmp_path / "t.png"
    assert main("predict", song, "--model", tiny_model, "--timeline", png,
                "--timeline-genres", "low") == 0
    assert drawn[-1] == {"genres": ["low"], "top": None} and png.stat().st_size > 0
    assert main("predict", song, "--model", tiny_model, "--timeline", png,
                "--timeline-genres", "1") == 0
    assert drawn[-1] == {"genres": None, "top": 1}
    capsys.readouterr()
    n_computed = len(computed)
    assert main("predict", song, "--model", tiny_model, "--timeline", png,
                "--timeline-genres", "low,rock") == 1
    out, err = capsys.readouterr()
    assert "--timeline-genres: 'rock' is not one of the model's genres (high, low)" in err
    assert len(computed) == n_computed and out == ""  # refused before any work
