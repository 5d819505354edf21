"""The many-files engine (``sk_audio_genre.reading``) with a fake extractor: no audio decoded.

The fake reads everything a real extractor would learn from a file (its header, its
features, how much of it is silent) from a table, so each outcome is exact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pytest

from sk_audio_genre import reading
from sk_audio_genre.reading import (
    AudioFileError,
    Extraction,
    FileReport,
    Note,
    extract_files,
    extract_or_reason,
    format_listing,
    merge_reports,
    validate_paths,
)

NAN = np.nan


@dataclass(frozen=True)
class Plan:
    path: str
    samplerate: int
    expected: int  # units a complete analysis gives
    n_filled: int  # units this file fills
    n_silent: int
    decode_error: str
    start: int = 0  # the planned window: the whole 1 s file
    stop: int = 0
    frames: int = 0

    @property
    def spans(self):
        return ((self.start, self.stop),)


class FakeExtractor:
    """Features ``(n_filled, 2)`` full of the file's ``value``; errors as the table says.
    Every file is 1 s long, and its whole length is the window."""

    def __init__(self, table: dict[str, dict], sr: int = 8000, units: str = "segments"):
        self.table = table
        self.sr = sr
        self.units = units
        self.extracted: list[str] = []

    def plan(self, path):
        spec = self.table[path]
        if "header_error" in spec:
            raise AudioFileError(path, spec["header_error"])
        rate = spec.get("samplerate", self.sr)
        return Plan(
            path,
            rate,
            spec.get("expected", 3),
            spec.get("n_filled", spec.get("expected", 3)),
            spec.get("n_silent", 0),
            spec.get("decode_error", ""),
            0,
            rate,
            rate,
        )

    def shape(self, plans):
        return (max(plan.expected for plan in plans), 2)

    def expected(self, plan):
        return plan.expected

    def extract(self, plan):
        self.extracted.append(plan.path)
        if plan.decode_error:
            raise AudioFileError(plan.path, plan.decode_error)
        value = self.table[plan.path]["value"]
        features = np.full((plan.n_filled, 2), value)
        return Extraction(features, plan.n_filled, plan.n_silent, abs(value))


def run(table, *, on_error="raise", units="segments", sr=8000, n_jobs=None):
    extractor = FakeExtractor(table, sr=sr, units=units)
    out, reports = extract_files(
        list(table), extractor, n_jobs=n_jobs, verbose=0, on_error=on_error
    )
    return out, reports, extractor


def report(path, status, reason="", filled=0, expected=0, notes=(), units="segments"):
    """The report of a file that was read (every fake file is 1 s long, all analysed)."""
    return FileReport(path, status, reason, filled, expected, notes, units, ((0.0, 1.0),), 1.0)


def messages(record):
    return [str(w.message) for w in record]


# --- extract_files -----------------------------------------------------------------------


def test_both_feature_extractors_and_the_fake_follow_the_protocol():
    from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder
    from sk_audio_genre.reading import Extractor

    for extractor in (MFCCSegmenter()._spec(), MusicnnEmbedder()._spec(), FakeExtractor({})):
        assert isinstance(extractor, Extractor), type(extractor).__name__
    assert not isinstance(object(), Extractor)


def test_features_fill_their_rows_and_every_file_gets_a_report():
    table = {
        "full.wav": {"value": 1.0},
        "long.wav": {"value": 2.0, "expected": 4},  # shape follows the longest plan
        "short.wav": {"value": 3.0, "n_filled": 1},
    }
    with pytest.warns(UserWarning) as record:
        out, reports, _ = run(table)
    assert out.dtype == np.float32 and out.shape == (3, 4, 2)
    np.testing.assert_array_equal(
        out[:, :, 0],
        [[1.0, 1.0, 1.0, NAN], [2.0, 2.0, 2.0, 2.0], [3.0, NAN, NAN, NAN]],
    )
    assert reports == [
        report("full.wav", "ok", "", 3, 3),
        report("long.wav", "ok", "", 4, 4),
        report("short.wav", "partial", "1 of 3 segments filled", 1, 3),
    ]
    assert [r.analysed for r in reports] == ["all", "all", "all (1 of 3 segments)"]
    assert messages(record) == [
        "1 file(s) are shorter than the requested window; their unfilled segments are NaN:\n"
        + "  short.wav: 1 of 3 segments filled"
    ]


def test_bad_headers_are_reported_together_before_any_extraction():
    table = {
        "a.wav": {"header_error": "not an audio file"},
        "b.wav": {"value": 1.0},
        "c.wav": {"header_error": "empty"},
    }
    message = (
        "2 of the input files cannot be used (checking the files); set on_error='nan' to "
        "give them NaN features instead:\n  a.wav: not an audio file\n  c.wav: empty"
    )
    extractor = FakeExtractor(table)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        extract_files(list(table), extractor, n_jobs=None, verbose=0, on_error="raise")
    assert extractor.extracted == []


def test_bad_headers_under_on_error_nan_give_nan_rows():
    table = {"a.wav": {"header_error": "not an audio file"}, "b.wav": {"value": 1.0}}
    with pytest.warns(UserWarning) as record:
        out, reports, extractor = run(table, on_error="nan")
    assert messages(record) == [
        "1 input file(s) gave no features (checking the files); their rows are NaN:\n"
        + "  a.wav: not an audio file"
    ]
    assert np.isnan(out[0]).all() and (out[1] == 1.0).all()
    assert reports == [
        FileReport("a.wav", "failed", "not an audio file", units="segments"),
        report("b.wav", "ok", "", 3, 3),
    ]
    assert reports[0].analysed == "none"
    assert extractor.extracted == ["b.wav"]


def test_decoding_failures_raise_after_decoding():
    table = {"a.wav": {"value": 1.0}, "b.wav": {"decode_error": "truncated frame"}}
    message = (
        "1 of the input files cannot be used (decoding the files); set on_error='nan' to "
        "give them NaN features instead:\n  b.wav: truncated frame"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run(table)


@pytest.mark.parametrize("units", ["segments", "patches"])
def test_decoding_failures_and_silence_fail_under_on_error_nan(units):
    table = {
        "a.wav": {"decode_error": "truncated frame"},
        "b.wav": {"value": 0.0, "n_silent": 3},
        "c.wav": {"value": 1e-4, "n_silent": 3},  # -80 dBFS: silent, but not digitally
        "d.wav": {"value": 1.0},
    }
    with pytest.warns(UserWarning) as record:
        out, reports, _ = run(table, on_error="nan", units=units)
    quiet = "silent throughout (peak -80.0 dBFS, below -60 dBFS): nothing to classify"
    assert messages(record) == [
        "3 input file(s) gave no features (decoding the files); their rows are NaN:\n"
        + "  a.wav: truncated frame\n  b.wav: digital silence throughout: nothing to "
        + f"classify\n  c.wav: {quiet}"
    ]
    assert np.isnan(out[:3]).all() and (out[3] == 1.0).all()
    assert reports == [
        report("a.wav", "failed", "truncated frame", 0, 3, units=units),
        report("b.wav", "failed", "digital silence throughout: nothing to classify", 0, 3,
               units=units),
        report("c.wav", "failed", quiet, 0, 3, units=units),
        report("d.wav", "ok", "", 3, 3, units=units),
    ]


def test_silent_parts_and_a_low_sample_rate_are_noted():
    table = {
        "quiet.wav": {"value": 1.0, "n_silent": 1},
        "phone.wav": {"value": 2.0, "samplerate": 16000},
        "edge.wav": {"value": 3.0, "samplerate": 33075},  # exactly 0.75 x 44100: no note
    }
    with pytest.warns(UserWarning) as record:
        _, reports, _ = run(table, sr=44100)
    low_rate = "recorded at 16000 Hz: it holds nothing above 8.0 kHz"
    silence = "1 of 3 segments are silent (below -60 dBFS)"
    assert [r.notes for r in reports] == [(silence,), (low_rate,), ()]
    assert [[n.kind for n in r.notes] for r in reports] == [["silence"], ["low_rate"], []]
    assert all(r.status == "ok" for r in reports)
    assert messages(record) == [
        "features of 2 file(s) are less trustworthy:\n"
        + f"  quiet.wav: {silence}\n  phone.wav: {low_rate}"
    ]


def test_n_jobs_and_verbose_reach_joblib(monkeypatch):
    seen = []

    class Recording(joblib.Parallel):
        def __init__(self, **kwargs):
            seen.append(kwargs)
            super().__init__(**{**kwargs, "n_jobs": 1, "verbose": 0})

    monkeypatch.setattr(reading, "Parallel", Recording)
    out, _, _ = run({"a.wav": {"value": 1.0}}, n_jobs=3)
    assert (out == 1.0).all()
    assert seen == [{"n_jobs": 3, "verbose": 0, "return_as": "generator"}]
    reading._parallel(2, 7)
    assert seen[-1] == {"n_jobs": 2, "verbose": 7, "return_as": "generator"}


@pytest.mark.skipif(os.environ.get("JOBLIB_MULTIPROCESSING") == "0",
                    reason="joblib's multiprocessing backend is switched off")
def test_backends_that_cannot_yield_get_a_list():
    with joblib.parallel_config(backend="multiprocessing"):
        parallel = reading._parallel(2, 5)  # no worker starts before a call
    assert (parallel.n_jobs, parallel.verbose, parallel.return_as) == (2, 5, "list")


def test_other_joblib_errors_are_not_swallowed(monkeypatch):
    def refuse(**kwargs):
        if "return_as" in kwargs:
            raise ValueError("no such backend")
        return "a Parallel without return_as"

    monkeypatch.setattr(reading, "Parallel", refuse)
    with pytest.raises(ValueError, match="^no such backend$"):
        reading._parallel(2, 0)


def test_extract_or_reason_turns_a_file_error_into_a_reason():
    extractor = FakeExtractor({"a.wav": {"value": 1.0}, "b.wav": {"decode_error": "bad"}})
    extraction, reason = extract_or_reason(extractor, extractor.plan("a.wav"))
    assert (extraction.features.shape, extraction.n_filled, reason) == ((3, 2), 3, "")
    assert extract_or_reason(extractor, extractor.plan("b.wav")) == (None, "bad")


@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_features_that_are_not_finite_fail_only_their_file(value):
    table = {"a.wav": {"value": 1.0}, "overflow.wav": {"value": value}, "c.wav": {"value": 3.0}}
    with pytest.warns(UserWarning, match="overflow.wav: its features are not finite"):
        out, reports, _ = run(table, on_error="nan")
    assert [r.status for r in reports] == ["ok", "failed", "ok"]
    assert (out[0] == 1.0).all() and np.isnan(out[1]).all() and (out[2] == 3.0).all()


def test_any_exception_while_extracting_fails_only_its_file(monkeypatch):
    table = {"a.wav": {"value": 1.0}, "surprise.wav": {"value": 2.0}}
    extractor = FakeExtractor(table)
    extract = extractor.extract

    def explode_on_one(plan):
        if plan.path == "surprise.wav":
            raise ZeroDivisionError("division by zero")
        return extract(plan)

    monkeypatch.setattr(extractor, "extract", explode_on_one)
    with pytest.warns(UserWarning, match=re.escape(
            "surprise.wav: analysis failed (ZeroDivisionError: division by zero)")):
        out, reports = extract_files(list(table), extractor, n_jobs=None, verbose=0,
                                     on_error="nan")
    assert [r.status for r in reports] == ["ok", "failed"] and (out[0] == 1.0).all()


def test_merged_reports_keep_one_note_per_fact_and_the_first_reason():
    mfcc = report("a.wav", "failed", "silent throughout (peak -90.0 dBFS)", 0, 10,
                  notes=(Note("recorded at 8000 Hz: x", "low_rate"),), units="segments")
    musicnn = report("a.wav", "failed", "digital silence throughout", 0, 10,
                     notes=(Note("recorded at 8000 Hz: x", "low_rate"),
                            Note("3 of 10 patches are silent", "silence")), units="patches")
    merged = merge_reports([musicnn, mfcc])
    assert merged.reason == "digital silence throughout" and merged.units == "patches"
    assert merged.notes == ("recorded at 8000 Hz: x", "3 of 10 patches are silent")
    worst = merge_reports([report("a.wav", "ok", "", 10, 10), mfcc])
    assert worst.status == "failed" and worst.reason == mfcc.reason
    with pytest.raises(ValueError, match="no reports"):
        merge_reports([])


# --- validate_paths ----------------------------------------------------------------------


def test_validate_paths_gives_plain_strings():
    for X in (
        ["a.wav", Path("b.wav")],
        np.array(["a.wav", "b.wav"]),
        np.array([["a.wav"], ["b.wav"]]),  # one column
        ("a.wav", "b.wav"),
    ):
        paths = validate_paths(X)
        assert paths == ["a.wav", "b.wav"]
        assert all(type(path) is str for path in paths)


def test_validate_paths_takes_pandas():
    pd = pytest.importorskip("pandas")
    assert validate_paths(pd.Series(["a.wav", "b.wav"], index=[5, 7])) == ["a.wav", "b.wav"]
    assert validate_paths(pd.DataFrame({"path": ["a.wav", "b.wav"]})) == ["a.wav", "b.wav"]


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ("a.wav", ("X must be a sequence of audio file paths, got a single path 'a.wav'; "
                   "wrap it in a list.")),
        (Path("a.wav"), ("X must be a sequence of audio file paths, got a single path "
                         "PosixPath('a.wav'); wrap it in a list.")),
        ({"a.wav"}, ("X must be a sequence of audio file paths (list, 1-D array, Series or "
                     "one-column 2-D array), got set.")),
        (["a.wav", 3], "X must hold str or os.PathLike audio file paths; item 1 is int (3)."),
        (["a.wav", b"b.wav"], ("X must hold str or os.PathLike audio file paths; item 1 is "
                               "bytes (b'b.wav').")),
    ],
    ids=["str", "Path", "set", "int-item", "bytes-item"],
)
def test_validate_paths_type_errors(X, message):
    if isinstance(X, Path) and type(X).__name__ != "PosixPath":
        pytest.skip("the message shows the platform's Path class")
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        validate_paths(X)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([], "X contains no file paths (0 samples); at least 1 is required."),
        (np.array([["a", "b"], ["c", "d"]]), ("X must be a 1-D sequence of audio file paths "
                                              "or a single column; got an array of shape "
                                              "(2, 2).")),
        (np.array([[["a"]]]), ("X must be a 1-D sequence of audio file paths or a single "
                               "column; got an array of shape (1, 1, 1).")),
    ],
    ids=["empty", "two-columns", "3-D"],
)
def test_validate_paths_value_errors(X, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        validate_paths(X)


def test_validate_paths_ragged_nesting():
    ragged = [np.array([["a", "b"], ["c", "d"]]), np.array([["e", "f", "g"], ["h", "i", "j"]])]
    with pytest.raises(ValueError, match=r"^X must be a 1-D sequence of paths: \w"):
        validate_paths(ragged)


# --- format_listing ----------------------------------------------------------------------


def test_format_listing_shows_20_lines_then_counts_the_rest():
    lines = [f"f{i}.wav: bad" for i in range(23)]
    assert format_listing(lines[:20]) == "\n".join(f"  f{i}.wav: bad" for i in range(20))
    assert format_listing(lines) == (
        "\n".join(f"  f{i}.wav: bad" for i in range(20)) + "\n  ... and 3 more"
    )
