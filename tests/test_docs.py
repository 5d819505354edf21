"""The documentation: it builds without a warning, and its examples run."""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.rst"))


def _copy_docs(target: Path) -> Path:
    """The docs sources without build output, so builds never touch the checkout."""
    shutil.copytree(
        DOCS, target, ignore=shutil.ignore_patterns("_build", "generated", "_generated")
    )
    return target


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One HTML build of a copy of the docs for this module's tests: (Sphinx's result, html/)."""
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    folder = tmp_path_factory.mktemp("docs_build")
    source = _copy_docs(folder / "docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source), str(folder / "html")],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    return result, folder / "html"


def test_docs_build_without_warnings(built_docs):
    result, html = built_docs
    assert result.returncode == 0, f"Sphinx failed:\n{result.stdout}\n{result.stderr}"
    for page in ["index", "install", "quickstart", "pretrained", "networks", "benchmarks",
                 "model_card", "refusals", "api"]:
        assert (html / f"{page}.html").is_file(), page
    heads = (html / "benchmarks.html").read_text(encoding="utf-8")
    assert "musicnn mean + MFCC statistics + LR" in heads  # the results were rendered
    for name in ["MFCCSegmenter", "MusicnnEmbedder", "SegmentScaler", "SegmentClassifier",
                 "MLPGenreClassifier", "CNNGenreClassifier", "LSTMGenreClassifier"]:
        text = (html / "generated" / f"sk_audio_genre.{name}.html").read_text(encoding="utf-8")
        assert "fit" in text and "Parameters" in text
    for name in ["networks.build_mlp", "networks.build_cnn", "networks.build_lstm",
                 "datasets.load_gtzan", "datasets.load_split_lists",
                 "datasets.fault_filtered_split", "datasets.fault_filtered_cv"]:
        assert (html / "generated" / f"sk_audio_genre.{name}.html").is_file(), name


# ----------------------------------------------------------------------------- machine paths

#: Top-level folders under which a path names one machine's files (Linux, macOS, containers).
MACHINE_ROOTS = ("home", "root", "tmp", "work", "Users", "mnt", "opt", "srv", "private",
                 "Volumes", "var/folders", "scratch")
#: An absolute POSIX path under one of those roots, or a Windows drive path.  It must not
#: continue a word, a relative path or a URL: "https://host/home/x", "../tmp/x", "a/work/b"
#: and "~/tmp" are not matched ("file:///home/x" is: a "/" may precede it).
MACHINE_PATH = re.compile(
    r"(?<![\w.~\-])/(?:" + "|".join(MACHINE_ROOTS) + r")/[\w.\-]"
    r"|(?<![\w.~\-:/])/[^\s\"'<>`]*/(?:site|dist)-packages/"
    r"|(?<![\w.])[A-Za-z]:(?:\\{1,2}|/)[\w$.\-]"
)


#: Paths written as examples in the docs name a made-up user ("/home/me/music/a.mp3"); they
#: say nothing about a machine, so they are allowed.
EXAMPLE_PATH = re.compile(r"(?:/home|/Users|[A-Za-z]:\\{1,2}Users)[\\/]{1,2}(?:me|user|you)[\\/]")


def local_paths() -> list[str]:
    """Folders of the machine running the tests: the checkout, its parent, home, temp, venv."""
    repo = DOCS.parent
    found = {str(repo), str(repo.parent), str(Path.home()), tempfile.gettempdir(), sys.prefix}
    return sorted(p for p in found if len(Path(p).parts) > 1)  # never "/" alone


def machine_paths(text: str) -> list[str]:
    """The absolute machine paths in ``text`` (each with a little context)."""
    spans = [m.span() for m in MACHINE_PATH.finditer(text)]
    for path in local_paths():  # the same boundaries as above
        pattern = rf"(?<![\w.~\-]){re.escape(path)}(?![\w.\-])"
        spans += [m.span() for m in re.finditer(pattern, text)]
    return [text[max(a - 30, 0) : b + 30] for a, b in sorted(set(spans))
            if not EXAMPLE_PATH.match(text, a)]


@pytest.mark.parametrize("text", [
    "Data: <code>/work/shared/data/gtzan</code>, 78 tracks",
    '"folder": "/home/ana/gtzan"', "from `/tmp/pytest-1/html`", "file:///Users/ana/x.wav",
    "/root/.cache/x", "/opt/_internal/cpython-3.11/lib/python3.11/site-packages/numpy",
    "/usr/lib/python3/dist-packages/numpy/__init__.py", "/var/folders/xy/T/a.wav",
    r"C:\Users\ana\music", r'"C:\\Users\\ana"', "D:/music/song.mp3",
])
def test_machine_paths_are_found(text):
    assert machine_paths(text), text


@pytest.mark.parametrize("text", [
    "https://github.com/home/work/tmp/x", "<a href=\"../tmp/index.html\">",
    "``../shared/data/gtzan``", "docs/_static/benchmarks/compare.json", "~/tmp/x.wav",
    "path/to/gtzan", "$HOME/work/x", "http://example.org/Users/x", "a ratio of 2/3",
    "data:image/png;base64,iVBOR", "sk_audio_genre/data/pretrained/pipeline.json",
    "``/home/me/music/a.mp3``", r"C:\Users\me\music\a.mp3", "/Users/you/x.wav",
])
def test_relative_paths_and_urls_are_not_machine_paths(text):
    assert not machine_paths(text), text


def published_text_files(html: Path) -> list[Path]:
    """The built pages and every file of ours they publish (the theme's own assets aside)."""
    return sorted(p for p in html.rglob("*") if p.is_file() and (
        p.suffix in {".html", ".txt", ".json", ".md", ".rst"} or p.name == "searchindex.js"))


def test_built_docs_name_no_machine_path(built_docs):
    """No page tells where the files were on the machine that built it or ran the benchmarks."""
    _, html = built_docs
    files = published_text_files(html)
    assert any(p.name == "scaling.html" for p in files)
    assert any(p.name == "compare.json" for p in files)  # results published beside the pages
    leaks = {str(p.relative_to(html)): found[:3] for p in files
             if (found := machine_paths(p.read_text(encoding="utf-8", errors="replace")))}
    assert not leaks, leaks


def test_benchmark_environments_list_the_package_dependencies(built_docs):
    """The package depends on ``tensorflow``; no recorded environment lists ``tensorflow-cpu``."""
    _, html = built_docs
    results = sorted((html / "_static" / "benchmarks").rglob("*.json"))
    assert results
    for path in results:
        versions = json.loads(path.read_text(encoding="utf-8")).get("versions", {})
        assert "tensorflow-cpu" not in versions, path.name
    paragraphs = [p for page in html.glob("*.html")
                  for p in re.findall(r"<strong>Versions\.</strong>.*?</p>",
                                      page.read_text(encoding="utf-8"), flags=re.S)]
    assert paragraphs and not [p for p in paragraphs if "tensorflow-cpu" in p]


# ----------------------------------------------------------------------------- navigation


def root_toctree_pages() -> list[str]:
    """The pages the root document's toctrees list, in order."""
    pages, in_toctree = [], False
    for line in (DOCS / "index.rst").read_text(encoding="utf-8").splitlines():
        if line.startswith(".. toctree::"):
            in_toctree = True
        elif in_toctree and line.strip() and not line.startswith("   "):
            in_toctree = False
        elif in_toctree and line.strip() and not line.strip().startswith(":"):
            pages.append(line.strip())
    return pages


def sidebar(page: Path):
    """A page's left sidebar (pydata's "bd-docs-nav"), or None."""
    bs4 = pytest.importorskip("bs4")
    return bs4.BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select_one(
        "nav.bd-docs-nav")


def test_every_page_sidebar_lists_the_site(built_docs):
    _, html = built_docs
    pages = root_toctree_pages()
    assert {"install", "quickstart", "refusals", "benchmarks", "api"} <= set(pages)
    for page in pages + ["index", "generated/sk_audio_genre.MusicnnEmbedder"]:
        nav = sidebar(html / f"{page}.html")
        assert nav is not None, f"{page}.html has no left sidebar"
        links = [a["href"].split("#")[0] for a in nav.find_all("a", href=True)]
        prefix = "../" if "/" in page else ""
        missing = [p for p in pages if p != page and f"{prefix}{p}.html" not in links]
        assert not missing, f"{page}.html: the sidebar does not list {missing} (it has {links})"
        if page in pages:  # and it shows where the reader is
            assert nav.find("a", attrs={"aria-current": "page"}) is not None, page


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_docs_examples_run(page):
    """Every ``>>>`` example on a docs page gives the output the page shows."""
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page.name}"


def _bench_module(results: Path):
    spec = importlib.util.spec_from_file_location("_bench", DOCS / "_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.RESULTS = results
    return module


def test_benchmark_page_without_results_says_so(tmp_path):
    bench = _bench_module(tmp_path)
    for name in bench.PAGES:
        assert "No " in bench.render(name) and "results are present" in bench.render(name)


def test_benchmark_page_shows_the_results(tmp_path):
    bench = _bench_module(tmp_path)
    report = {
        "date": "2025-01-01T00:00:00+00:00",
        "machine": {"cpu_count": 16, "platform": "Linux-x86_64", "python": "3.11.7"},
        "data": {"folder": "../shared/data/gtzan", "n_tracks": 78,
                 "tracks_per_genre": {"blues": 7}},
        "split": {"description": "stratified", "n_train": 54, "n_test": 24, "n_unused": 0,
                  "genres_not_in_train": []},
        "settings": {"epochs": 30, "seed": 0, "no_scale": False, "quick": False},
        "features": {"shape": [78, 5, 130, 13], "seconds": 12.0},
        "models": {"CNN": {"track_accuracy": 0.5, "macro_f1": 0.45, "segment_accuracy": 0.4,
                           "fit_seconds": 30.0, "predict_ms_per_track": 1.0, "n_params": 298186,
                           "figure": "confusion_cnn.png"}},
        "figures": ["confusion_cnn.png"],
    }
    (tmp_path / "compare.json").write_text(json.dumps(report))
    (tmp_path / "confusion_cnn.png").write_bytes(b"")
    text = bench.render("compare")
    assert "298,186" in text and "0.500" in text and "../shared/data/gtzan" in text
    assert "16 CPUs" in text and "2025-01-01" in text
    assert ".. figure:: /_static/benchmarks/confusion_cnn.png" in text


def test_every_benchmark_page_names_the_machine_beside_its_table(tmp_path):
    """CPU model, cores and NumPy's SIMD level, where the results record them."""
    bench = _bench_module(tmp_path)
    machine = {"cpu_model": "AMD EPYC 7B13", "cpu_count": 2,
               "numpy_simd": {"baseline": ["X86_V2"], "found": ["X86_V3"]},
               "blas": ["openblas 0.3.31 (Haswell kernels, 2 threads)"],
               "platform": "Linux-x86_64", "python": "3.11.7"}
    names = list({**bench.PAGES, **bench._musicnn_pages()})
    assert {"compare", "extract_speed", "scale", "heads", "embed_speed", "predict_latency",
            "calibration"} <= set(names)
    for name in names:
        report = {"date": "2025-01-01", "machine": machine, "command": "python x.py"}
        (tmp_path / f"{name}.json").write_text(json.dumps(report))
        text = bench.render(name)
        line = next((l for l in text.splitlines() if l.startswith("**Machine.**")), "")
        for expected in ("AMD EPYC 7B13", "2 CPUs", "X86_V2 X86_V3", "Haswell"):
            assert expected in line, (name, expected, line)
        assert text.count("python x.py") == 1 and "python python" not in text, name
    # results recorded before the CPU model was: the platform's processor stands in
    (tmp_path / "scale.json").write_text(json.dumps({"machine": {"cpu_count": 2,
                                                                 "processor": "x86_64"}}))
    assert "**Machine.** 2 CPUs, x86\\_64;" in bench.render("scale")  # "_" escaped for reST

