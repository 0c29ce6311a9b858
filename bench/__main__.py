"""Run the benchmarks, or report on their saved results.

    python -m bench [--only NAME ...] [--quick] [--reuse]   run (every CPU benchmark, or the ones named)
    python -m bench --only --reuse                          the summary table of the saved results, running none
    python -m bench --stale                                 which saved results no longer match the code
    python -m bench --index                                 rewrite the index in bench/README.md

The benchmarks are listed in :mod:`bench.registry`. Each module has ``run()`` (measures against a baseline taken in
the same run, writes its stamped ``bench/results/<file>.json`` and plots) and ``table(payload)`` (rows for the
summary). The summary goes to the terminal and to ``bench/results/README.md``. With ``--reuse``, benchmarks not run
now contribute the rows of their last saved results file (listed under the table), so a long benchmark run on its
own still lands in the one table. With ``--quick``, everything this process writes goes to
``bench/results/quick/``. GPU benchmarks run only when named with ``--only``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import freshness, index
from bench.common import REPO, RESULTS, results_dir, use_quick_results, write_json
from bench.registry import BENCHMARKS, BY_NAME, NOT_RESULTS

COLUMNS = ["benchmark", "value", "baseline", "ratio", "target", "ok"]
README = REPO / "bench" / "README.md"


def _call_run(module: Any, quick: bool) -> dict[str, Any]:
    params = inspect.signature(module.run).parameters
    return dict(module.run(quick=quick) if "quick" in params else module.run())


def check(root: Path = REPO, results: Path = RESULTS) -> list[freshness.Freshness]:
    """The freshness of every saved result of the registry (what ``--stale`` prints)."""
    return freshness.check(root, BENCHMARKS, results, NOT_RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(BY_NAME), help="run only these (none: run nothing)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller campaigns (where supported); results go to bench/results/quick/"
    )
    parser.add_argument("--reuse", action="store_true", help="add saved results of the benchmarks not run now")
    parser.add_argument("--stale", action="store_true", help="list saved results that are not current; run nothing")
    parser.add_argument("--index", action="store_true", help="rewrite the index in bench/README.md; run nothing")
    args = parser.parse_args(argv)
    if args.stale:
        return _print_stale(check())
    if args.index:
        changed = index.rewrite(README, index.render(index.status_cells(check())))
        print(f"{'rewrote' if changed else 'unchanged:'} the index of {README.relative_to(REPO)}")
        return 0
    return _run(args.only, args.quick, args.reuse)


def _run(only: list[str] | None, quick: bool, reuse: bool) -> int:
    if quick:
        use_quick_results()
    console = Console()
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    chosen = only if only is not None else [b.name for b in BENCHMARKS if not b.gpu]
    saved: list[str] = []
    for bench in BENCHMARKS:
        module = importlib.import_module(bench.module)
        main_file = RESULTS / bench.results[0]
        if bench.name in chosen:
            console.rule(f"[bold]{bench.name}")
            start = time.perf_counter()
            payload = _call_run(module, quick)
            timings[bench.name] = time.perf_counter() - start
        elif reuse and main_file.exists():
            payload = json.loads(main_file.read_text())
            saved.append(bench.name)
        else:
            continue
        rows += [{k: row.get(k, "") for k in COLUMNS} for row in module.table(payload)]
    table = Table(title="mixopt benchmarks")
    for col in COLUMNS:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_fmt(row[c]) for c in COLUMNS])
    console.print(table)
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench`; each row is measured against its baseline in the same run.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |" for row in rows]
    if timings:
        lines += ["", "Wall time per benchmark: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())]
    if saved:
        lines += ["", "From saved results of an earlier `python -m bench` run: " + ", ".join(saved)]
    (results_dir() / "README.md").write_text("\n".join(lines) + "\n")
    write_json("summary", {"rows": rows, "seconds": timings})
    return 0


def _print_stale(states: list[freshness.Freshness]) -> int:
    """One line per results file that is not current; exit status 1 when there is any."""
    for s in states:
        if not s.current:
            print(f"{s.state:<12} {s.file:<28} {s.benchmark:<15} {s.reason}")
    current = sum(s.current for s in states)
    print(f"{current} of {len(states)} results files current")
    return 0 if current == len(states) else 1


def _fmt(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    return "" if value is None else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
