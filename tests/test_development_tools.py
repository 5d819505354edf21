"""The developer tools in ``tools/`` that are not tested elsewhere."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mutation_report_counts_each_functions_outcomes():
    mutation_run = load_tool("mutation_run")
    codes = {"sk_audio_genre.m.x_f__mutmut_1": 1, "sk_audio_genre.m.x_f__mutmut_2": 0,
             "sk_audio_genre.m.x_f__mutmut_3": None, "sk_audio_genre.m.xǁCǁg__mutmut_1": 36,
             "sk_audio_genre.m.x_f__mutmut_10": 0, "sk_audio_genre.m.x_h__mutmut_1": 33}
    lines = [line.split() for line in mutation_run.report(codes).splitlines()]
    assert lines[1:] == [
        ["x_f", "4", "1", "2", "0", "0", "1", "[2,", "10]"],
        ["x_h", "1", "0", "0", "0", "1", "0", "[]"],
        ["xǁCǁg", "1", "0", "0", "1", "0", "0", "[]"],
        ["all", "6", "1", "2", "1", "1", "1"],
    ]


def test_the_mutation_plan_puts_the_patterns_first_and_again_runs_survivors(tmp_path):
    mutation_run = load_tool("mutation_run")
    codes = {"p.x_f__mutmut_1": None, "p.x_g__mutmut_1": 0, "p.x_g__mutmut_2": None,
             "p.x_f__mutmut_2": 0, "p.x_h__mutmut_1": 1, "p.x_k__mutmut_1": 33}
    assert mutation_run.plan(codes, "p.", ["x_g__*"]) == ["p.x_g__mutmut_2", "p.x_f__mutmut_1"]
    assert mutation_run.plan(codes, "p.", [], again=True) == [  # survived, no tests
        "p.x_g__mutmut_1", "p.x_f__mutmut_2", "p.x_k__mutmut_1"]
    assert mutation_run.plan(codes, "p.", ["x_f__*"], again=True) == ["p.x_f__mutmut_2"]
    meta = tmp_path / "m.py.meta"
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {"a": 1}}))
    mutation_run.mark_unchecked(meta, ["p.x_g__mutmut_1"])
    document = json.loads(meta.read_text())
    assert document["exit_code_by_key"] == {**codes, "p.x_g__mutmut_1": None}
    assert document["durations_by_key"] == {"a": 1}  # the rest of mutmut's file is kept
