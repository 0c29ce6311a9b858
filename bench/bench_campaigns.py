"""Campaigns of several mixers and random Dirichlet proposals on the simulator, same seeds and budget.

Writes ``bench/results/campaigns.json`` and ``campaigns.png`` (best-found target loss against cost spent) and
reports, per mixer, the cost spent until a mixture within 1% of the best known target loss was found, against
random. Best known: the minimum of the target loss of the world's own target mixture (``World.relevance``) and
everything any campaign found.

    python -m bench.bench_campaigns [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.campaign import Oracle, Trace, run_campaign
from bench.common import RESULTS, progress, write_json
from bench.server import running_server
from bench.sim import Job, fidelity, preset_world, run_many
from mixopt.client import Client

FAST_REGMIX = {"n_estimators": 300, "n_candidates": 20_000, "top_k": 32, "cv_trees": 50}
MIXERS: list[tuple[str, str, dict[str, Any] | None, list[str]]] = [
    ("random", "random", None, ["small"]),
    ("regmix", "regmix", FAST_REGMIX, ["small"]),
    ("regmix-active", "regmix", {**FAST_REGMIX, "active": True}, ["small"]),
    ("mixing_law", "mixing_law", None, ["small"]),
    ("mfbo", "mfbo", None, ["small", "medium"]),
]


def run(quick: bool = False) -> dict[str, Any]:
    world = preset_world(6)
    seeds = [0] if quick else [0, 1, 2, 3, 4]
    [probe] = run_many([Job(world, world.prior(), fidelity(world, "small"), 0)], processes=1)
    unit = probe.cost
    budget = unit * (16 if quick else 96)
    oracle = Oracle(world)
    known = oracle(dict(zip(world.names, map(float, world.relevance), strict=True)))
    traces: list[Trace] = []
    mixers = MIXERS[:2] if quick else MIXERS
    with progress() as bar, tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp)) as url:
        task = bar.add_task("campaigns", total=len(mixers) * len(seeds))
        client = Client(url, timeout=600)
        for label, mixer, config, fids in mixers:
            for seed in seeds:
                traces.append(run_campaign(client, world, label, mixer, config, budget, seed, fids, oracle))
                bar.advance(task)
    best = min([known] + [t.points[-1]["best"] for t in traces])
    threshold = best * 1.01
    summary: dict[str, Any] = {}
    for label, *_ in mixers:
        mine = [t for t in traces if t.mixer == label]
        costs = [t.cost_to(threshold) for t in mine]
        reached = [c for c in costs if c is not None]
        summary[label] = {
            "cost_to_1pct": costs,
            "reached": len(reached),
            "median_cost_to_1pct_units": statistics.median(reached) / unit if reached else None,
            "final_best_mean": statistics.mean(t.points[-1]["best"] for t in mine),
        }
    rand = summary["random"]["median_cost_to_1pct_units"]
    for label in summary:
        m = summary[label]["median_cost_to_1pct_units"]
        summary[label]["ratio_to_random"] = (m / rand) if (m is not None and rand) else None
    payload = {
        "world": list(world.names),
        "seeds": seeds,
        "budget_units": budget / unit,
        "unit_cost": unit,
        "best_known": known,
        "best": best,
        "threshold": threshold,
        "summary": summary,
        "traces": [{"mixer": t.mixer, "seed": t.seed, "points": t.points} for t in traces],
    }
    write_json("campaigns", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    unit = payload["unit_cost"]
    for label in payload["summary"]:
        traces = [t for t in payload["traces"] if t["mixer"] == label]
        grid = np.linspace(0, payload["budget_units"], 60)
        curves = []
        for t in traces:
            costs = np.array([p["cost"] / unit for p in t["points"]])
            bests = np.array([p["best"] for p in t["points"]])
            curves.append([bests[costs <= g].min() if (costs <= g).any() else np.nan for g in grid])
        arr = np.array(curves)
        ax.plot(grid, np.nanmean(arr, axis=0), label=label)
        ax.fill_between(grid, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), alpha=0.15)
    ax.axhline(payload["threshold"], color="grey", linestyle="--", label="within 1% of best")
    ax.set_xlabel("cost spent (in small proxy runs)")
    ax.set_ylabel("best-found target loss (nats/token)")
    ax.set_title("Campaigns on the simulator (mean over seeds, band = min..max)")
    ax.legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "campaigns.png", dpi=120)
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rand = payload["summary"]["random"]
    rows = []
    for label, s in payload["summary"].items():
        if label == "random":
            continue
        m = s["median_cost_to_1pct_units"]
        ratio = s["ratio_to_random"]
        rows.append(
            {
                "benchmark": f"campaign {label}: cost to within 1%",
                "value": "not reached"
                if m is None
                else f"{m:.1f} runs ({s['reached']}/{len(s['cost_to_1pct'])} seeds)",
                "baseline": "not reached"
                if rand["median_cost_to_1pct_units"] is None
                else f"random {rand['median_cost_to_1pct_units']:.1f} runs ({rand['reached']} seeds)",
                "ratio": "" if ratio is None else f"{ratio:.2f}",
                "target": "< 0.2 of random (mfbo, active regmix)",
                "ok": None if ratio is None else ratio < 0.2,
            }
        )
    return rows


if __name__ == "__main__":
    from rich import print as rprint

    rprint(table(run(quick="--quick" in sys.argv)))
