"""Run every benchmark: ``python -m bench [--only NAME ...] [--quick] [--reuse]``.

Each benchmark module has ``run()`` (measures against a baseline taken in the same run, writes
``bench/results/<name>.json`` and plots) and ``table(payload)`` (rows for the summary). The summary goes to the
terminal and to ``bench/results/README.md``. With ``--reuse``, benchmarks not run now contribute the rows of
their last saved results file (listed under the table), so a long benchmark run on its own still lands in the
one table. With ``--quick``, everything this process writes goes to ``bench/results/quick/``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import RESULTS, results_dir, use_quick_results, write_json

BENCHMARKS = {  # name: (module, the results file its run() writes, bench/results/<file>.json)
    "ingest": ("bench.bench_ingest", "ingest"),
    "latency": ("bench.bench_latency", "latency"),
    "regmix": ("bench.bench_regmix", "regmix_speed"),
    "regmix_blend": ("bench.bench_regmix_blend", "regmix_blend"),
    "evaluate": ("bench.bench_evaluate", "evaluate_speed"),
    "heavy": ("bench.bench_heavy", "heavy"),
    "regmix_pool": ("bench.pool_replay", "regmix_pool_replay"),
    "ot": ("bench.bench_ot", "ot"),
    "mfbo": ("bench.bench_mfbo", "mfbo"),
    "mfbo_pool": ("bench.pool_replay_mfbo", "mfbo_pool_replay"),
    "mfbo_mf_pool": ("bench.pool_replay_mf", "mfbo_mf_pool_replay"),
    "aioli": ("bench.bench_aioli", "aioli"),
    "law_trust": ("bench.bench_law_trust", "law_trust"),
    "campaigns": ("bench.bench_campaigns", "campaigns"),
    "scale_sim": ("bench.bench_scale_sim", "scale_sim"),
    "lm_aioli": ("bench.bench_lm_aioli", "lm/aioli"),
    "lm_campaign": ("bench.bench_lm_campaign", "lm/campaign"),
    "lm_mfbo": ("bench.bench_lm_mfbo", "lm/mfbo"),
    "lm_scale": ("bench.bench_lm_scale", "lm/scale"),
    "lm_aioli_paper": ("bench.bench_lm_aioli_paper", "lm/aioli_paper"),
}
# Real LM training (torch, a GPU, the Debian shards): run only when named with --only; --reuse adds their rows.
OPT_IN = {"lm_aioli", "lm_campaign", "lm_mfbo", "lm_scale", "lm_aioli_paper"}
COLUMNS = ["benchmark", "value", "baseline", "ratio", "target", "ok"]


def _call_run(module: Any, quick: bool) -> dict[str, Any]:
    params = inspect.signature(module.run).parameters
    return dict(module.run(quick=quick) if "quick" in params else module.run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument(
        "--quick", action="store_true", help="smaller campaigns (where supported); results go to bench/results/quick/"
    )
    parser.add_argument("--reuse", action="store_true", help="add saved results of the benchmarks not run now")
    args = parser.parse_args(argv)
    if args.quick:
        use_quick_results()
    console = Console()
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    chosen = args.only or [name for name in BENCHMARKS if name not in OPT_IN]
    saved: list[str] = []
    for name, (module_name, result_file) in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        if name in chosen:
            console.rule(f"[bold]{name}")
            start = time.perf_counter()
            payload = _call_run(module, args.quick)
            timings[name] = time.perf_counter() - start
        elif args.reuse and (RESULTS / f"{result_file}.json").exists():
            payload = json.loads((RESULTS / f"{result_file}.json").read_text())
            saved.append(name)
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
    lines += ["", "Wall time per benchmark: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())]
    if saved:
        lines += ["", "From saved results of an earlier `python -m bench` run: " + ", ".join(saved)]
    (results_dir() / "README.md").write_text("\n".join(lines) + "\n")
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
