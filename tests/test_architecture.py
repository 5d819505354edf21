"""The package's architecture: imports point one way, and importing changes nothing.

The layers, bottom to top (``docs/development.rst``, *Architecture*): a module may import
modules of its own layer or of lower ones, never a higher one, not even inside a function,
and the import graph has no cycle.  Every import is read from the source with :mod:`ast`
(at module level and inside functions, relative and absolute), so an import hidden in a
function to dodge a cycle is seen like any other.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sk_audio_genre

PACKAGE = Path(sk_audio_genre.__file__).parent
NAME = "sk_audio_genre"

#: Each module's layer.  A new module must be added here (the tests below refuse a module
#: they do not know).
READING, FEATURES, MODELS, PERSISTENCE, APPLICATIONS, SURFACE = 1, 2, 3, 4, 5, 6
LEAF = 0
LAYERS = {
    # leaves: imported from anywhere, import nothing of the package
    "_limits": LEAF, "_segments": LEAF, "_version": LEAF,
    "reading": READING,
    "segmenter": FEATURES, "embedder": FEATURES, "_musicnn": FEATURES,
    "preprocessing": FEATURES,
    "networks": MODELS, "_tensorflow": MODELS, "classifiers": MODELS,
    "segment_classifier": MODELS, "ensemble": MODELS, "open_set": MODELS,
    "model_format": PERSISTENCE,
    "datasets": APPLICATIONS, "recipes": APPLICATIONS, "pretrained": APPLICATIONS,
    "inference": APPLICATIONS, "timeline": APPLICATIONS, "cli": APPLICATIONS,
    "__main__": APPLICATIONS,
    "__init__": SURFACE,  # the package itself: the public names
}  # fmt: skip
LAYER_NAMES = {LEAF: "leaf", READING: "reading", FEATURES: "features", MODELS: "models",
               PERSISTENCE: "persistence", APPLICATIONS: "applications", SURFACE: "package"}


def modules() -> list[str]:
    """The package's modules, by file name without ``.py``."""
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def imported(module: str, source: str) -> set[str]:
    """The package's modules that ``source`` (module ``module``) imports, anywhere in it.

    ``from . import name`` counts as an import of module ``name`` when there is one, else
    of the package itself (``__init__``); ``from .mod import name`` of ``mod``.
    """
    known = set(modules())
    found: set[str] = set()

    def target(dotted: str) -> str | None:
        if dotted == NAME:
            return "__init__"
        if dotted.startswith(NAME + "."):
            return dotted.split(".")[1]
        return None

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(t for t in (target(alias.name) for alias in node.names) if t)
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:
                raise AssertionError(f"{module}: relative import beyond the package")
            base = NAME + ("." + node.module if node.module else "") if node.level else node.module
            first = target(base or "")
            if first == "__init__":  # from . import x / from sk_audio_genre import x
                found.update(alias.name if alias.name in known else "__init__"
                             for alias in node.names)
            elif first:
                found.add(first)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module: imported(module, (PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
            for module in modules()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({LAYER_NAMES[LAYERS[a]]}) imports {b} ({LAYER_NAMES[LAYERS[b]]})"
        for a, targets in graph.items() for b in targets if LAYERS[b] > LAYERS[a]
    )  # fmt: skip


# --- the import graph -------------------------------------------------------------------------


def test_every_module_has_a_layer_and_every_layer_entry_a_module():
    assert not sorted(set(modules()) - set(LAYERS)), "add the new module to LAYERS"
    assert not sorted(set(LAYERS) - set(modules())), "remove the deleted module from LAYERS"


def test_the_import_graph_has_no_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_imports_point_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_leaves_import_nothing_of_the_package():
    graph = import_graph()
    assert {m: graph[m] for m in modules() if LAYERS[m] == LEAF and graph[m]} == {}


# The checks above can fail: each of these sources breaks one rule.


def test_imports_are_found_at_any_depth_relative_or_absolute():
    source = (
        "import os\n"
        "from . import reading, __version__\n"
        "from .segmenter import MFCCSegmenter\n"
        "def f():\n"
        "    import sk_audio_genre.embedder\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from sk_audio_genre.cli import main\n"
        "            from sk_audio_genre import datasets\n"
    )
    assert imported("recipes", source) == {"reading", "__init__", "segmenter", "embedder",
                                           "cli", "datasets"}


def test_a_function_level_upward_import_is_refused():
    graph = import_graph()
    graph["reading"] = graph["reading"] | imported("reading", "def f():\n    from . import cli\n")
    added = set(upward_imports(graph)) - set(upward_imports(import_graph()))
    assert added == {"reading (reading) imports cli (applications)"}


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    graph = import_graph()
    graph["reading"] = graph["reading"] | imported("reading", "def f():\n    import sk_audio_genre.segmenter\n")
    assert find_cycle({m: graph[m] for m in ("reading", "segmenter")}) == [
        "reading", "segmenter", "reading"]


# --- importing changes nothing in the process -------------------------------------------------

SNAPSHOT = """
import json, os
def snapshot():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed by now
            pass
    return {"environ": dict(os.environ), "fds": fds}
"""


def _snapshots(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", SNAPSHOT + code], capture_output=True,
                            text=True, check=True, timeout=300, env=env)
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_importing_the_package_changes_no_environment_variable_or_file_descriptor():
    shots = _snapshots(
        "before = snapshot()\n"
        "import sk_audio_genre\n"
        "from sk_audio_genre import MFCCSegmenter, MusicnnEmbedder, load_pretrained\n"
        "import sk_audio_genre.cli, sk_audio_genre.inference\n"
        "print(json.dumps({'before': before, 'after': snapshot()}))\n"
    )
    assert shots["after"]["environ"] == shots["before"]["environ"]
    assert shots["after"]["fds"] == shots["before"]["fds"]
    assert "2" in shots["after"]["fds"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_the_keras_classifiers_change_nothing_beyond_importing_tensorflow():
    # TensorFlow sets environment variables of its own when imported (TF2_BEHAVIOR,
    # KMP_INIT_AT_FORK, ...): the comparison starts after importing TensorFlow, Keras
    # and scikeras directly, so that it sees what this library adds.
    shots = _snapshots(
        "import tensorflow, keras, scikeras.wrappers\n"
        "before = snapshot()\n"
        "import sk_audio_genre\n"
        "from sk_audio_genre import CNNGenreClassifier\n"
        "import sk_audio_genre.networks, sk_audio_genre.ensemble\n"
        "print(json.dumps({'before': before, 'after': snapshot()}))\n"
    )
    assert shots["after"]["environ"] == shots["before"]["environ"]
    assert shots["after"]["fds"] == shots["before"]["fds"]


def test_the_snapshot_sees_a_changed_environment_and_descriptor():
    # the comparison above can fail: a module that set a variable or moved fd 2 is seen
    shots = _snapshots(
        "before = snapshot()\n"
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')\n"
        "saved = os.dup(2)\n"
        "os.dup2(os.open(os.devnull, os.O_WRONLY), 2)\n"
        "print(json.dumps({'before': before, 'after': snapshot()}))\n"
    )
    assert shots["after"]["environ"] != shots["before"]["environ"]
    assert shots["after"]["fds"]["2"] == os.devnull != shots["before"]["fds"]["2"]
