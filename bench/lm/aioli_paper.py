"""Aioli at its paper's protocol on real LM training: the paper's settings (``lp_rounds`` 4, ``lp_steps`` 6,
``eta`` 0.1, ``ema`` 0.5, ``one_hot_factor`` 0.5, 250-step rounds), runs of 4000 steps, against ``uniform`` (the
paper's "stratified": equal weight per group) on the three 3-domain settings of ``bench.lm.aioli``, 3 seeds,
same token budget (Aioli's sweeps count against it). The score is the paper's: the mean over the domains of the
per-domain validation loss. Every report's mixture is kept, so the plot shows what Aioli did with the mixture.

    python -m bench.lm.aioli_paper --procs 16     # on a GPU machine: the committed results
    python -m bench.lm.aioli_paper --quick        # a CPU-sized check
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.common import results_dir, save_figure, stamp, use_quick_results, write_json
from bench.lm.aioli import SUBSETS, _manifest_tokens
from bench.lm.experiment import SEEDS, Arm, Scale, create_project, data_dir, uniform
from bench.lm.pool import Job
from bench.lm.scale import lm_server

PAPER = {"lp_rounds": 4, "lp_steps": 6, "eta": 0.1, "ema": 0.5, "one_hot_factor": 0.5, "round_steps": 250}
QUICK_CFG = {"lp_rounds": 1, "lp_steps": 2, "eta": 0.1, "ema": 0.5, "one_hot_factor": 0.5, "round_steps": 10}
FULL, QUICK = Scale("small", 4000, 64), Scale("tiny", 30, 8)


def run(quick: bool = False, procs: int | None = None) -> dict[str, Any]:
    if quick:
        use_quick_results()
    scale, cfg = (QUICK, QUICK_CFG) if quick else (FULL, PAPER)
    chosen = dict(list(SUBSETS.items())[:1]) if quick else dict(SUBSETS)
    path = data_dir()
    tokens = _manifest_tokens(path)
    procs = procs or int(os.environ.get("MIXOPT_LM_PROCS", "2" if quick else "16"))
    arms: dict[str, dict[str, Arm]] = {s: {} for s in chosen}
    started = time.perf_counter()
    with lm_server(procs) as (url, client, pool, bar):
        assert pool is not None
        base = {"data_dir": str(path), "url": url, **scale.job()}
        if quick:
            base["train"] = {"eval_seqs": 16}
        jobs: list[Job] = []
        for name, domains in chosen.items():
            create_project(client, f"lm-{name}", domains, tokens)
            common = {**base, "domains": list(domains), "project": f"lm-{name}", "setting": name}
            for seed in SEEDS:
                jobs.append({**common, "kind": "online", "arm": "aioli", "seed": seed, "aioli": cfg})
                jobs.append({**common, "kind": "static", "arm": "uniform", "seed": seed, "weights": uniform(domains)})
        task = bar.add_task("runs", total=len(jobs))
        for res in pool.map(jobs, lambda _: bar.advance(task)):
            arms[res["setting"]].setdefault(res["arm"], Arm(res["arm"])).runs.append(res)
    settings: dict[str, Any] = {}
    for name, domains in chosen.items():
        summ = {a: arm.summary() for a, arm in arms[name].items()}
        runs = sorted(arms[name]["aioli"].runs, key=lambda r: r["seed"])
        settings[name] = {
            "domains": list(domains),
            "arms": summ,
            "aioli_below_uniform": summ["aioli"]["mean"] < summ["uniform"]["mean"],
            "final_weights": [r["record"]["final_weights"] for r in runs],
            "trajectories": [[{"step": t["step"], "weights": t["weights"]} for t in r["record"]["trajectory"]]
                             for r in runs],
        }
    payload = {
        "stamp": stamp(), "quick": quick, "scale": scale.job(), "aioli_config": cfg, "seeds": list(SEEDS),
        "procs": procs, "wall_seconds": time.perf_counter() - started, "settings": settings,
        "below_uniform_settings": sum(s["aioli_below_uniform"] for s in settings.values()),
    }
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    write_json("lm/aioli_paper", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = payload["settings"]
    fig, axes = plt.subplots(2, len(settings), figsize=(4.6 * len(settings), 7), squeeze=False)
    for col, (name, res) in enumerate(settings.items()):
        ax = axes[0][col]
        arms = ("aioli", "uniform")
        means = [res["arms"][a]["mean"] for a in arms]
        stds = [res["arms"][a]["std"] for a in arms]
        ax.bar(arms, means, yerr=stds, color=["tab:red", "tab:gray"], capsize=3)
        for i, a in enumerate(arms):
            ax.scatter([i] * len(res["arms"][a]["per_seed"]), res["arms"][a]["per_seed"], s=8, c="k")
        ax.set_ylim(min(means) - 3 * max(stds) - 0.005, max(means) + 3 * max(stds) + 0.005)
        ax.set_title(f"{name}: " + ", ".join(res["domains"]), fontsize=8)
        ax.set_ylabel("mean val loss (nats/byte)")
        ax = axes[1][col]
        sweep = float(payload["aioli_config"]["one_hot_factor"]) - 1e-6
        for seed, traj in enumerate(res["trajectories"]):
            # the mixture trained between sweeps (a sweep's smoothed one-hot puts one_hot_factor on one domain)
            between = [t for t in traj if max(t["weights"].values()) < sweep]
            steps = [t["step"] for t in between]
            for j, dom in enumerate(res["domains"]):
                ax.plot(steps, [t["weights"][dom] for t in between], color=plt.get_cmap("Set1")(j), lw=0.8,
                        marker=".", ms=3, alpha=0.8, label=dom if seed == 0 else None)
        ax.axhline(1 / len(res["domains"]), color="k", lw=0.5, ls=":")
        ax.set_xlabel("step")
        ax.set_ylabel("weight between sweeps (3 seeds)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Aioli at the paper's settings vs uniform, {payload['scale']['size']} GPT, "
                 f"{payload['scale']['steps']} steps, 3 seeds", fontsize=10)
    fig.tight_layout()
    save_figure(fig, "lm/aioli_paper")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, res in payload["settings"].items():
        a = res["arms"]
        rows.append({
            "benchmark": f"LM aioli (paper settings, {payload['scale']['steps']} steps), {name}",
            "value": f"{a['aioli']['mean']:.4f}",
            "baseline": f"uniform {a['uniform']['mean']:.4f}",
            "ratio": f"{a['aioli']['mean'] - a['uniform']['mean']:+.4f}",
            "target": "below uniform in at least 2 of 3 settings",
            "ok": payload["below_uniform_settings"] >= 2,
        })
    return rows


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int)
    args = parser.parse_args()
    rprint(table(run(quick=args.quick, procs=args.procs)))
