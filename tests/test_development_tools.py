"""The developer tools in ``tools/`` that are not tested elsewhere."""

from __future__ import annotations

import importlib.util
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
