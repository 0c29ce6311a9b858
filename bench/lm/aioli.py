"""Aioli on real LM training: the reference GPT on Debian text, against uniform, natural and the best static
mixture of a coarse grid, same token budget, 3 seeds per setting.

Settings are 3-domain subsets of the corpus (``bench/lm/corpus.py``). Each run trains the same model for the
same steps and batch: Aioli through a real ``mixopt serve`` session (``Client.online``, its sweeps count against
the budget), the static arms at fixed mixtures. The best grid mixture is chosen on seed 0 (among the 12 interior
points of a 0.25 simplex grid, vertices left out) and then trained on seeds 1 and 2; it is an oracle-ish
baseline, chosen on the very validation loss it is scored on. The score is the final mean over domains of the
per-domain validation loss (nats per byte, 512 windows of 256 bytes per domain).

    python -m bench --only lm_aioli              # on a GPU machine: the committed results
    python -m bench.lm.aioli --quick       # a CPU-sized check (tiny model, few steps)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import progress, results_dir, save_figure, use_quick_results, write_json
from bench.lm.experiment import (
    SEEDS,
    Arm,
    Scale,
    aioli_config,
    coarse_grid,
    create_project,
    data_dir,
    natural,
    uniform,
)
from bench.lm.pool import Job, Pool
from bench.server import running_server
from mixopt import Client

SUBSETS: dict[str, tuple[str, ...]] = {
    "code_prose": ("python", "dictionary", "fortunes"),
    "systems": ("c_headers", "man", "kernel_docs"),
    "mixed": ("python", "kernel_docs", "dictionary"),
}
FULL = Scale("small", 1000, 64)
QUICK = Scale("tiny", 40, 8)


def _manifest_tokens(path: Path) -> dict[str, int]:
    domains = json.loads((path / "manifest.json").read_text())["domains"]
    return {n: int(d["source_bytes"]) for n, d in domains.items()}


def run(
    quick: bool = False, procs: int | None = None, subsets: list[str] | None = None, steps: int | None = None
) -> dict[str, Any]:
    if quick:
        use_quick_results()
    scale = QUICK if quick else FULL
    if steps:
        scale = Scale(scale.size, steps, scale.batch)
    chosen = {k: SUBSETS[k] for k in (subsets or list(SUBSETS)[: 1 if quick else 3])}
    path = data_dir()
    tokens = _manifest_tokens(path)
    procs = procs or int(os.environ.get("MIXOPT_LM_PROCS", "2" if quick else "12"))
    cfg = aioli_config(scale.steps)
    arms: dict[str, dict[str, Arm]] = {s: {} for s in chosen}
    grid_runs: dict[str, list[dict[str, Any]]] = {s: [] for s in chosen}
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp)) as url,
        Client(url) as client,
        Pool(procs) as pool,
        progress() as bar,
    ):
        base = {"data_dir": str(path), "url": url, **scale.job()}
        jobs: list[Job] = []
        for name, domains in chosen.items():
            create_project(client, f"lm-{name}", domains, tokens)
            common = {**base, "domains": list(domains), "project": f"lm-{name}", "setting": name}
            for seed in SEEDS:
                jobs.append({**common, "kind": "online", "arm": "aioli", "seed": seed, "aioli": cfg})
                jobs.append({**common, "kind": "static", "arm": "uniform", "seed": seed, "weights": uniform(domains)})
                nat = natural(domains, tokens)
                jobs.append({**common, "kind": "static", "arm": "natural", "seed": seed, "weights": nat})
            jobs += [{**common, "kind": "static", "arm": "grid", "seed": 0, "weights": w} for w in coarse_grid(domains)]
        task = bar.add_task("runs", total=len(jobs) + 2 * len(chosen))
        for res in pool.map(jobs, lambda _: bar.advance(task)):
            if res["arm"] == "grid":
                grid_runs[res["setting"]].append(res)
            else:
                arms[res["setting"]].setdefault(res["arm"], Arm(res["arm"])).runs.append(res)
        best_jobs = []
        for name, runs in grid_runs.items():
            best = min(runs, key=lambda r: r["mean"])
            arms[name]["best_grid"] = Arm("best_grid", [best])
            best_jobs += [{**best, "kind": "static", "arm": "best_grid", "seed": s} for s in SEEDS[1:]]
        for res in pool.map(best_jobs, lambda _: bar.advance(task)):
            arms[res["setting"]]["best_grid"].runs.append(res)
    wall = time.perf_counter() - started
    payload = _payload(scale, cfg, chosen, arms, grid_runs, procs, wall, quick)
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    write_json("lm/aioli", payload)
    _plot(payload)
    return payload


def _payload(
    scale: Scale,
    cfg: dict[str, Any],
    chosen: dict[str, tuple[str, ...]],
    arms: dict[str, dict[str, Arm]],
    grid_runs: dict[str, list[dict[str, Any]]],
    procs: int,
    wall: float,
    quick: bool,
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name, domains in chosen.items():
        summ = {a: arm.summary() for a, arm in arms[name].items()}
        aioli_runs = arms[name]["aioli"].runs
        overhead = {
            "mixer_seconds": statistics.fmean(r["record"]["mixer_seconds"] for r in aioli_runs),
            "probe_seconds": statistics.fmean(r["record"]["probe_seconds"] for r in aioli_runs),
            "train_seconds": statistics.fmean(r["train_seconds"] for r in aioli_runs),
            "reports": statistics.fmean(r["record"]["reports"] for r in aioli_runs),
            "static_train_seconds": statistics.fmean(r["train_seconds"] for r in arms[name]["uniform"].runs),
        }
        overhead["mixer_fraction"] = overhead["mixer_seconds"] / overhead["train_seconds"]
        overhead["probe_fraction"] = overhead["probe_seconds"] / overhead["train_seconds"]
        per_seed = list(zip(summ["aioli"]["per_seed"], summ["natural"]["per_seed"], strict=True))
        settings[name] = {
            "domains": list(domains),
            "arms": summ,
            "weights": {
                "uniform": arms[name]["uniform"].runs[0]["weights"],
                "natural": arms[name]["natural"].runs[0]["weights"],
                "best_grid": arms[name]["best_grid"].runs[0]["weights"],
                "aioli_final": [r["record"]["final_weights"] for r in sorted(aioli_runs, key=lambda r: r["seed"])],
            },
            "grid_seed0": [
                {"weights": r["weights"], "mean": r["mean"]} for r in sorted(grid_runs[name], key=lambda r: r["mean"])
            ],
            "online_overhead": overhead,
            "aioli_below_natural": summ["aioli"]["mean"] < summ["natural"]["mean"],
            "aioli_below_natural_every_seed": all(a < s for a, s in per_seed),
            "aioli_below_uniform": summ["aioli"]["mean"] < summ["uniform"]["mean"],
        }
    return {
        "scale": {"size": scale.size, "steps": scale.steps, "batch": scale.batch},
        "aioli_config": cfg,
        "seeds": list(SEEDS),
        "procs": procs,
        "wall_seconds": wall,
        "quick": quick,
        "settings": settings,
    }


ARMS = ("aioli", "uniform", "natural", "best_grid")


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = payload["settings"]
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], settings.items(), strict=True):
        means = [res["arms"][a]["mean"] for a in ARMS]
        stds = [res["arms"][a]["std"] for a in ARMS]
        ax.bar(ARMS, means, yerr=stds, color=["tab:red", "tab:gray", "tab:blue", "tab:green"], capsize=3)
        lo, hi = min(means) - 2 * max(stds) - 0.01, max(means) + 2 * max(stds) + 0.01
        ax.set_ylim(lo, hi)
        ax.set_title(f"{name}: " + ", ".join(res["domains"]), fontsize=8)
        ax.set_ylabel("mean val loss (nats/byte)")
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(
        f"Aioli vs static mixtures, {payload['scale']['size']} GPT, {payload['scale']['steps']} steps, 3 seeds"
    )
    fig.tight_layout()
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    save_figure(fig, "lm/aioli")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, res in payload["settings"].items():
        a = res["arms"]
        o = res["online_overhead"]
        rows.append(
            {
                "benchmark": f"LM aioli, {name} ({', '.join(res['domains'])})",
                "value": f"{a['aioli']['mean']:.4f}",
                "baseline": f"uniform {a['uniform']['mean']:.4f}, natural {a['natural']['mean']:.4f}, "
                f"best grid {a['best_grid']['mean']:.4f}; online calls {100 * o['mixer_fraction']:.1f}% of train time",
                "ratio": f"{a['aioli']['mean'] - a['natural']['mean']:+.4f}",
                "target": "below natural (every seed)",
                "ok": res["aioli_below_natural_every_seed"],
            }
        )
    return rows


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--subsets", nargs="*", choices=sorted(SUBSETS))
    args = parser.parse_args()
    rprint(table(run(quick=args.quick, procs=args.procs, subsets=args.subsets, steps=args.steps)))
