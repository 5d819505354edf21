"""The sk-audio-genre command line, driven as a user would, in this process (``cli.main``);
in a subprocess only where a fresh process is the point (the installed script).  That
``--help`` loads no TensorFlow is checked in a fresh process by test_package.py."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import tone

SR = 22050


def run(*args: str) -> subprocess.CompletedProcess:
    """``sk-audio-genre ARGS`` run by ``cli.main`` in this process: its exit status, and
    stdout and stderr as text."""
    from sk_audio_genre import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            status = exc.code
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("command", ["predict", "tags", "train", "evaluate"])
def test_every_command_has_help_with_examples(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert f"sk-audio-genre {command}" in result.stdout
    assert "examples:" in result.stdout


def test_console_script_is_installed():
    script = shutil.which("sk-audio-genre")
    if script is None:
        pytest.skip("sk-audio-genre is not on PATH (pip install -e . installs it)")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("sk-audio-genre ")


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("predict").returncode == 2
    result = run("predict", "x.wav", "--offset", "middle")
    assert result.returncode == 2 and "--offset" in result.stderr


def test_missing_paths_fail_clearly(tmp_path):
    result = run("predict", tmp_path / "nope.wav", tmp_path)
    assert result.returncode == 1
    assert "nope.wav: no such file or folder" in result.stderr
    assert "folder holds no audio files" in result.stderr
    assert "no audio files to classify" in result.stderr
    assert result.stdout == ""


def test_bad_model_fails_clearly(tmp_path):
    audio = tmp_path / "a.wav"
    sf.write(audio, tone(1.0), SR)
    result = run("predict", audio, "--model", tmp_path / "missing_model")
    assert result.returncode == 1
    assert "not found" in result.stderr
    bad = tmp_path / "bad_model"
    bad.mkdir()
    (bad / "pipeline.json").write_text('{"format": "other"}')
    result = run("predict", audio, "--model", bad)
    assert result.returncode == 1
    assert "not a valid model file" in result.stderr


# ------------------------------------------------------------- pretrained model, real files


@pytest.fixture(scope="module")
def music_dir(gtzan_root, tmp_path_factory):
    """Two real GTZAN tracks (one .au, one as FLAC), a corrupt file and a text file in a tree."""
    root = tmp_path_factory.mktemp("music")
    (root / "album" / "disc 1").mkdir(parents=True)
    shutil.copy(next((gtzan_root / "pop").glob("pop.00000.*")), root / "album" / "pop.au")
    samples, sr = sf.read(next((gtzan_root / "metal").glob("metal.00001.*")))
    sf.write(root / "album" / "disc 1" / "metal.flac", samples, sr)
    (root / "album" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(64))
    (root / "album" / "notes.txt").write_text("not audio, and not listed")
    return root


def test_predict_text_with_a_corrupt_file_among_good_ones(music_dir):
    result = run("predict", music_dir)
    assert result.returncode == 1  # one file failed
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # both good files are still classified, and right
    genres = {os.path.basename(line.split("\t")[0]): line.split("\t")[1] for line in lines}
    assert genres == {"pop.au": "pop", "metal.flac": "metal"}
    for line in lines:
        _, _, probability, others = line.split("\t")
        assert float(probability) > 0.5
        assert others.startswith("(") and others.count(",") == 1  # the next two genres
    assert "broken.wav" in result.stderr and "notes.txt" not in result.stdout
    assert "notes.txt: skipped (not an audio file extension)" in result.stderr  # never silent
    assert "1 of 3 inputs failed" in result.stderr


def test_predict_json_and_csv_parse(music_dir):
    files = [music_dir / "album" / "pop.au", music_dir / "album" / "disc 1" / "metal.flac"]
    result = run("predict", *files, "--format", "json", "--offset", "0")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(f) for f in files]
    for record in records:
        assert len(record["top"]) == 3
        assert record["top"][0] == {"genre": record["genre"], "probability": record["probability"]}
        probabilities = [t["probability"] for t in record["top"]]
        assert probabilities == sorted(probabilities, reverse=True)

    assert [r["genre"] for r in records] == ["pop", "metal"]
    assert all(r["error"] is None and r["analysed"] == "all" for r in records)

    result = run("predict", *files, "--format", "csv", "--top", "2", "--offset", "0")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["path", "genre", "probability", "genre_2", "probability_2",
                             "novelty", "analysed", "notes", "error"]
    assert [r["genre"] for r in rows] == [r["genre"] for r in records]
    assert all(float(r["probability"]) >= float(r["probability_2"]) for r in rows)


def test_failures_get_one_record_each_in_json_and_csv(music_dir, tmp_path):
    """Scripts see every input on stdout: an error record for each file that failed."""
    missing = tmp_path / "missing.wav"
    inputs = [music_dir / "album" / "broken.wav", missing, music_dir / "album" / "pop.au"]
    result = run("predict", *inputs, "--format", "json")
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert [r["path"] for r in records][:2] == [str(missing), str(inputs[0])]
    assert len(records) == 3  # the count is what the user gave
    errors = {r["path"]: r["error"] for r in records}
    assert "no such file" in errors[str(missing)]
    assert "corrupt or truncated WAV data" in errors[str(inputs[0])]
    assert errors[str(inputs[2])] is None
    assert "2 of 3 inputs failed" in result.stderr
    rows = list(csv.DictReader(io.StringIO(run("predict", *inputs, "--format", "csv").stdout)))
    assert sorted(bool(r["error"]) for r in rows) == [False, True, True]


def test_file_names_with_tabs_and_newlines_stay_on_one_line(music_dir, tmp_path):
    tricky = tmp_path / "evil\tjazz\t1.00\nfake.au"
    shutil.copy(music_dir / "album" / "pop.au", tricky)
    result = run("predict", tricky)
    assert result.returncode == 0, result.stderr
    line, = result.stdout.splitlines()
    assert line.split("\t")[0].endswith("evil\\x09jazz\\x091.00\\x0afake.au")
    assert line.split("\t")[1] == "pop"
    rows = run("predict", tricky, "--format", "csv").stdout.splitlines()
    assert len(rows) == 2  # header and one line


def test_progress_bar_only_on_stderr_for_many_files(music_dir, tmp_path, monkeypatch):
    from sk_audio_genre import cli

    monkeypatch.setattr(cli, "PROGRESS_MIN_FILES", 1)
    files = [music_dir / "album" / "pop.au", music_dir / "album" / "disc 1" / "metal.flac"]
    err, out = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["predict", *map(str, files), "--format", "csv"]) == 0
    assert "[" in err.getvalue() and "2/2 files" in err.getvalue()
    assert "files" not in out.getvalue().split("\n", 1)[1]
    assert len(out.getvalue().splitlines()) == 3


def test_evaluate_pretrained_on_real_tracks(music_dir, tmp_path):
    data = tmp_path / "data"
    (data / "pop").mkdir(parents=True)
    (data / "metal").mkdir()
    shutil.copy(music_dir / "album" / "pop.au", data / "pop" / "pop.00000.au")
    shutil.copy(music_dir / "album" / "disc 1" / "metal.flac", data / "metal" / "metal.00001.flac")
    png = tmp_path / "cm.png"
    result = run("evaluate", "pretrained", data, "--confusion-png", png)
    assert result.returncode == 0, result.stderr
    assert "accuracy: 1.000 (2/2)" in result.stdout and "precision" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # metal.00001 was one of the shipped model's training tracks (the FLAC copy has other
    # bytes, so only the .au copy of pop.00000, held out from training, is compared here)
    assert "were used to train" not in result.stderr


def test_evaluate_warns_when_the_files_trained_the_model(gtzan_root, tmp_path):
    data = tmp_path / "data"
    for genre in ("jazz", "pop"):
        (data / genre).mkdir(parents=True)
    shutil.copy(next((gtzan_root / "jazz").glob("jazz.00000.*")), data / "jazz")
    shutil.copy(next((gtzan_root / "pop").glob("pop.00000.*")), data / "pop")
    result = run("evaluate", "pretrained", data)
    assert "1 of the 2 files were used to train this model (jazz.00000)" in result.stderr


# ------------------------------------------------------------- train + evaluate round trip


@pytest.fixture(scope="module")
def long_tones_dir(tmp_path_factory):
    """A GTZAN-style folder of 30 s synthetic tracks, 3 per genre, 2 genres."""
    root = tmp_path_factory.mktemp("long_tones")
    for i in range(3):
        for genre, freq, noise in (("low", 200.0, 0.0), ("high", 3500.0, 0.3)):
            path = root / genre / f"{genre}.{i:05d}.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, tone(30.5, freq=freq + 30 * i, noise=noise, seed=i), SR)
    return root


def predicted_genres(model, folder) -> set[str]:
    """The genres ``sk-audio-genre predict --model MODEL FOLDER`` gives its files."""
    result = run("predict", folder, "--model", model, "--format", "json")
    assert result.returncode == 0, result.stderr
    return {r["genre"] for r in json.loads(result.stdout)}


def test_train_then_evaluate_round_trip(long_tones_dir, tmp_path):
    out = tmp_path / "model_dir"
    result = run(
        "train", long_tones_dir, "--model", "mlp", "--out", out, "--epochs", "3",
        "--learning-rate", "0.01", "--random-state", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "saved to" in result.stdout
    assert (out / "pipeline.json").is_file()  # a model folder (its layout: model_format)

    result = run("evaluate", out, long_tones_dir)
    assert result.returncode == 0, result.stderr
    assert "accuracy: 1.000 (6/6)" in result.stdout  # two trivially separable "genres"
    assert "6 of the 6 files were used to train this model" in result.stderr

    assert predicted_genres(out, long_tones_dir / "low") == {"low"}


def test_train_the_default_musicnn_recipe(long_tones_dir, tmp_path):
    out = tmp_path / "musicnn_model"
    result = run("train", long_tones_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "training musicnn on 6 tracks of 2 genres" in result.stderr
    assert (out / "pipeline.json").is_file()  # a model folder (its layout: model_format)
    assert predicted_genres(out, long_tones_dir / "high") == {"high"}
    result = run("train", long_tones_dir, "--out", out, "--epochs", "3")
    assert result.returncode == 1 and "takes no ['epochs']" in result.stderr


def test_train_an_ensemble_and_predict_with_it(long_tones_dir, tmp_path):
    out = tmp_path / "ensemble"
    result = run(
        "train", long_tones_dir, "--model", "mlp", "--members", "2", "--out", out,
        "--epochs", "3", "--learning-rate", "0.01",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "training mlp" in result.stderr
    assert (out / "pipeline.json").is_file()  # a model folder (its layout: model_format)
    document = json.loads((out / "pipeline.json").read_text())
    ensemble = document["model"]["steps"][2]["estimator"]
    assert [m["name"] for m in ensemble["members"]] == ["member0", "member1"]
    assert predicted_genres(out, long_tones_dir / "high") == {"high"}


def test_train_to_joblib_and_predict_with_it(long_tones_dir, tmp_path):
    out = tmp_path / "model.joblib"
    result = run(
        "train", long_tones_dir, "--model", "cnn", "--out", out, "--epochs", "1", "--no-scale",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "joblib" in result.stdout and out.is_file()
    result = run("predict", long_tones_dir, "--model", out, "--format", "csv")
    assert result.returncode == 1 and "--trust-pickle" in result.stderr  # never by default
    result = run("predict", long_tones_dir, "--model", out, "--format", "csv", "--trust-pickle")
    assert result.returncode == 0, result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 6


def test_a_broken_pickle_is_a_clear_error(tmp_path):
    audio = tmp_path / "a.wav"
    sf.write(audio, tone(4.0, noise=0.1), SR)
    (tmp_path / "m.joblib").write_bytes(b"not a pickle")
    result = run("predict", audio, "--model", tmp_path / "m.joblib", "--trust-pickle")
    assert result.returncode == 1
    assert "could not be unpickled" in result.stderr and "Traceback" not in result.stderr


def test_train_refuses_a_folder_without_genres(tmp_path):
    result = run("train", tmp_path, "--out", tmp_path / "m")
    assert result.returncode == 1
    assert "sk-audio-genre train: error:" in result.stderr


# ------------------------------------------------------------- security: no code from files


class _Exploit:
    """Unpickling this runs a shell command that writes a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["pretrained", "model.joblib", "model.bin"])
def test_a_pickle_in_the_working_directory_never_runs(tmp_path, name, monkeypatch):
    import pickle

    marker = tmp_path / "PWNED"
    (tmp_path / name).write_bytes(pickle.dumps(_Exploit(str(marker))))
    audio = tmp_path / "song.wav"
    sf.write(audio, tone(4.0, noise=0.2), SR)
    monkeypatch.chdir(tmp_path)  # the pickle lies where the user runs the command
    args = ["predict", audio] + ([] if name == "pretrained" else ["--model", name])
    result = run(*args)
    assert not marker.exists(), "a pickle from the working directory was run"
    if name == "pretrained":
        assert result.returncode == 0, result.stderr  # the shipped model, not the file
    else:
        assert result.returncode == 1
        assert ("--trust-pickle" in result.stderr) == name.endswith(".joblib")


# ------------------------------------------------------------- tags and timeline


def test_tags_of_real_tracks(gtzan_root):
    jazz = next((gtzan_root / "jazz").glob("jazz.00000.*"))
    metal = next((gtzan_root / "metal").glob("metal.00000.*"))
    result = run("tags", jazz, metal, "--top", "3", "--format", "json")
    assert result.returncode == 0, result.stderr
    jazz_record, metal_record = json.loads(result.stdout)
    assert jazz_record["tag"] == "jazz"
    assert {"metal", "heavy metal"} & {t["tag"] for t in metal_record["top"]}


def test_timeline_of_a_long_song(gtzan_root, tmp_path):
    first, _ = sf.read(next((gtzan_root / "classical").glob("classical.00001.*")))
    second, sr = sf.read(next((gtzan_root / "metal").glob("metal.00000.*")))
    song = tmp_path / "medley.wav"
    sf.write(song, np.concatenate([first[: 12 * sr], second[: 12 * sr]]), sr)
    png = tmp_path / "timeline.png"
    result = run("predict", song, "--timeline", png)
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "timeline of" in result.stderr
    result = run("predict", song, song, "--timeline", png)
    assert result.returncode == 1 and "one file" in result.stderr


# ------------------------------------------------------------- formats libsndfile cannot read


def write_m4a(path, samples, sr: int = 22050) -> None:
    av = pytest.importorskip("av", reason="the formats extra: pip install 'sk-audio-genre[formats]'")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = sr
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def test_an_m4a_in_a_folder_is_classified(music_dir, tmp_path):
    samples, sr = sf.read(music_dir / "album" / "pop.au")
    folder = tmp_path / "phone"
    folder.mkdir()
    write_m4a(folder / "pop.m4a", samples, sr)
    result = run("predict", folder, "--format", "json")
    assert result.returncode == 0, result.stderr
    record, = json.loads(result.stdout)
    assert record["genre"] == "pop" and record["path"].endswith("pop.m4a")


def test_without_the_decoder_an_m4a_names_the_extra(tmp_path, monkeypatch):
    from sk_audio_genre import MusicnnEmbedder

    write_m4a(tmp_path / "a.m4a", tone(4.0, noise=0.1))
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    with pytest.raises(ValueError, match=r"a.m4a: .m4a files need the optional FFmpeg decoder: "
                                         r"pip install 'sk-audio-genre\[formats\]'"):
        MusicnnEmbedder().fit_transform([str(tmp_path / "a.m4a")])
