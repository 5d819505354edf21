"""Run mutmut over one module's mutants in chunks of names, and report per function.

mutmut 3.8.1 given a glob (``mutmut run "sk_audio_genre.model_format.*"``) kept forking
test processes after the last matching mutant had its result, until it was stopped by
hand.  This script names the mutants, at most ``--chunk`` per mutmut run, in the order of
the ``--first`` patterns (then the rest of the module), and stops each run once every
mutant it named has a result.  Each run starts with mutmut's own checks and its fork
server (about a minute here), so chunks should not be small.  See docs/development.rst,
"Mutation testing"; run it from the repository root, in a checkout of its own, after one
named mutant's run has made ``mutants/``::

    mutmut run sk_audio_genre.model_format.x__build__mutmut_1
    JOBLIB_MULTIPROCESSING=0 python tools/mutation_run.py model_format \\
        --first "x__read_arrays__*" "x__read_member__*" --until 09:40
    python tools/mutation_run.py model_format --report     # the table, no run
    python tools/mutation_run.py model_format --again      # survivors, after new tests

Mutant names are mutmut's: ``sk_audio_genre.model_format.x__build__mutmut_24`` for a
function, ``...xǁ_Readerǁ_read__mutmut_3`` for a method.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: mutmut's exit codes for a mutant, as its results name them.
OUTCOMES = {None: "not checked", 0: "survived", 1: "killed", 33: "no tests", 36: "timeout",
            -24: "timeout", 152: "timeout"}


def results(meta: Path) -> dict[str, int | None]:
    """Mutant name -> mutmut's exit code (None: not run yet), from its ``.meta`` file."""
    return json.loads(meta.read_text())["exit_code_by_key"]


def function_of(mutant: str) -> str:
    """``x__build`` from ``sk_audio_genre.model_format.x__build__mutmut_24``."""
    return mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]


def report(codes: dict[str, int | None]) -> str:
    """One line per function: mutants, killed, survived, timeout, no tests, not checked,
    survivors."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors: dict[str, list[int]] = collections.defaultdict(list)
    for mutant, code in codes.items():
        counts[function_of(mutant)][OUTCOMES.get(code, f"exit {code}")] += 1
        if code == 0:
            survivors[function_of(mutant)].append(int(mutant.rsplit("_", 1)[-1]))
    lines = [f"{'function':44} mutants killed survived timeout notests unchecked  survivors"]
    total: collections.Counter = collections.Counter()
    for function in sorted(counts):
        c = counts[function]
        total.update(c)
        lines.append(f"{function:44} {sum(c.values()):7} {c['killed']:6} {c['survived']:8} "
                     f"{c['timeout']:7} {c['no tests']:7} {c['not checked']:9}  "
                     f"{sorted(survivors[function])}")
    lines.append(f"{'all':44} {sum(total.values()):7} {total['killed']:6} "
                 f"{total['survived']:8} {total['timeout']:7} {total['no tests']:7} "
                 f"{total['not checked']:9}")
    return "\n".join(lines)


def plan(codes: dict[str, int | None], prefix: str, first: list[str], *,
         again: bool = False) -> list[str]:
    """The mutants to run, those matching the ``first`` patterns first: the unchecked ones,
    or with ``again`` the survivors and those no test reached (matching ``first`` if
    given), to check new tests."""
    wanted = [name for name, code in codes.items()
              if (code in (0, 33) if again else code is None)]
    ordered = [name for pattern in first for name in wanted
               if fnmatch.fnmatchcase(name, prefix + pattern)]
    return list(dict.fromkeys(ordered if again and first else ordered + wanted))


def mark_unchecked(meta: Path, names: list[str]) -> None:
    """Forget the results of ``names`` in mutmut's ``.meta`` file, so a run waits for new
    ones (mutmut reruns a mutant it is given by name, whatever its result)."""
    document = json.loads(meta.read_text())
    document["exit_code_by_key"].update(dict.fromkeys(names))
    meta.write_text(json.dumps(document))


def run_chunk(names: list[str], meta: Path, *, max_children: int, log: Path) -> None:
    """``mutmut run NAMES``, stopped once every name has a result."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children),
             *names],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while process.poll() is None:
                time.sleep(10)
                try:
                    codes = results(meta)
                except (OSError, ValueError):  # mutmut is rewriting it
                    continue
                if all(codes.get(name) is not None for name in names):
                    time.sleep(5)
                    break
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the module's name in sk_audio_genre: model_format")
    parser.add_argument("--first", nargs="*", default=[],
                        help="patterns of mutant names (after the module's) to run first")
    parser.add_argument("--chunk", type=int, default=100, help="mutants per mutmut run")
    parser.add_argument("--max-children", type=int, default=2,
                        help="mutmut's worker processes; no more than the machine's cores")
    parser.add_argument("--until", help="HH:MM: start no chunk after this time")
    parser.add_argument("--again", action="store_true",
                        help="run the survivors and the mutants without tests again (only "
                             "those matching --first, if given): after adding tests")
    parser.add_argument("--report", action="store_true", help="print the table and stop")
    args = parser.parse_args(argv)
    meta = Path("mutants/sk_audio_genre") / f"{args.module}.py.meta"
    prefix = f"sk_audio_genre.{args.module}."
    if not meta.exists():
        parser.error(f"no {meta}: create mutants/ with one named mutant first, e.g. "
                     f"mutmut run {prefix}x__build__mutmut_1")
    if not args.report:
        todo = plan(results(meta), prefix, args.first, again=args.again)
        if args.again:
            mark_unchecked(meta, todo)
        stop = (datetime.datetime.combine(datetime.date.today(),
                                          datetime.time.fromisoformat(args.until))
                if args.until else None)
        for start in range(0, len(todo), args.chunk):
            if stop is not None and datetime.datetime.now() > stop:
                break
            chunk = todo[start:start + args.chunk]
            print(f"{time.strftime('%H:%M:%S')} {len(chunk)} mutants from {chunk[0]}",
                  flush=True)
            run_chunk(chunk, meta, max_children=args.max_children,
                      log=Path("mutants") / "mutation_run.log")
    print(report(results(meta)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
