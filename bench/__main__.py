"""Run every benchmark: ``python -m bench [--only NAME ...] [--quick]``.

Each benchmark module has ``run()`` (measures against a baseline taken in the same run, writes
``bench/results/<name>.json`` and plots) and ``table(payload)`` (rows for the summary). The summary goes to the
terminal and to ``bench/results/README.md``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import RESULTS, write_json

BENCHMARKS = {
    "ingest": "bench.bench_ingest",
    "latency": "bench.bench_latency",
    "regmix": "bench.bench_regmix",
    "ot": "bench.bench_ot",
    "mfbo": "bench.bench_mfbo",
    "aioli": "bench.bench_aioli",
    "campaigns": "bench.bench_campaigns",
}
COLUMNS = ["benchmark", "value", "baseline", "ratio", "target", "ok"]


def _call_run(module: Any, quick: bool) -> dict[str, Any]:
    params = inspect.signature(module.run).parameters
    return dict(module.run(quick=quick) if "quick" in params else module.run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--quick", action="store_true", help="smaller campaigns (where a benchmark supports it)")
    args = parser.parse_args(argv)
    console = Console()
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    for name in args.only or list(BENCHMARKS):
        console.rule(f"[bold]{name}")
        module = importlib.import_module(BENCHMARKS[name])
        start = time.perf_counter()
        payload = _call_run(module, args.quick)
        timings[name] = time.perf_counter() - start
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
    lines += ["", "Wall time per benchmark: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "README.md").write_text("\n".join(lines) + "\n")
    write_json("summary", {"rows": rows, "seconds": timings})
    return 0


def _fmt(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    return "" if value is None else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
