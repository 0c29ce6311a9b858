"""An offline campaign on real LM training: ``regmix`` proposes small proxy runs of the reference GPT over all six
corpus domains, the workers train them and post the results (with cost) to a real ``mixopt serve``, and the
recommended mixture is then trained at the larger size against uniform, natural (token-proportional), the
mixture of the best proxy run, and Aioli, 3 seeds each, same token budget.

The score is the final mean over domains of the per-domain validation loss (nats per byte).

    python -m bench --only lm_campaign           # on a GPU machine: the committed results
    python -m bench.lm.campaign --quick    # a CPU-sized check
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import progress, results_dir, save_figure, use_quick_results, write_json
from bench.lm.experiment import SEEDS, Arm, Scale, aioli_config, create_project, data_dir, natural, uniform
from bench.lm.pool import Job, Pool
from bench.server import running_server
from mixopt import Client

PROJECT = "lm-campaign"
FULL_PROXY, FULL_TARGET, FULL_RUNS = Scale("small", 500, 64), Scale("medium", 1500, 64), 48
QUICK_PROXY, QUICK_TARGET, QUICK_RUNS = Scale("tiny", 20, 8), Scale("tiny", 40, 8), 6


def fidelity(scale: Scale) -> dict[str, float]:
    """mixopt fidelity of a scale: parameters and training tokens."""
    from bench.lm.model import GPT, SIZES  # torch is imported only when the benchmark runs

    params = GPT(SIZES[scale.size]).n_params()
    return {"params": float(params), "tokens": float(scale.steps * scale.batch * SIZES[scale.size].seq_len)}


def run(quick: bool = False, procs: int | None = None, n_runs: int | None = None) -> dict[str, Any]:
    if quick:
        use_quick_results()
    proxy, target = (QUICK_PROXY, QUICK_TARGET) if quick else (FULL_PROXY, FULL_TARGET)
    n_runs = n_runs or (QUICK_RUNS if quick else FULL_RUNS)
    path = data_dir()
    manifest = json.loads((path / "manifest.json").read_text())["domains"]
    domains = list(manifest)
    tokens = {n: int(d["source_bytes"]) for n, d in manifest.items()}
    procs = procs or int(os.environ.get("MIXOPT_LM_PROCS", "2" if quick else "12"))
    started = time.perf_counter()
    arms: dict[str, Arm] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp)) as url,
        Client(url, timeout=600) as client,
        Pool(procs) as pool,
        progress() as bar,
    ):
        create_project(client, PROJECT, domains, tokens, target=fidelity(target))
        base = {"data_dir": str(path), "url": url, "domains": domains, "project": PROJECT}
        task = bar.add_task("runs", total=n_runs + 5 * len(SEEDS))
        # (a) the proxy runs: one batch of proposals, trained in parallel, each posting its own result.
        proposal = client.propose(PROJECT, "regmix", n=n_runs, fidelity=fidelity(proxy), seed=0)
        jobs: list[Job] = [
            {**base, **proxy.job(), "kind": "proposed", "seed": 0, "run_id": r.id, "weights": r.weights}
            for r in proposal.runs
        ]
        proxy_runs = list(pool.map(jobs, lambda _: bar.advance(task)))
        # (c) the recommendation, then every arm at the target scale.
        rec = client.recommend(PROJECT, "regmix", seed=0)
        best_proxy = min(proxy_runs, key=lambda r: r["mean"])
        mixtures = {
            "regmix": rec.weights,
            "uniform": uniform(domains),
            "natural": natural(domains, tokens),
            "best_proxy": best_proxy["weights"],
        }
        final: list[Job] = []
        for seed in SEEDS:
            final += [
                {**base, **target.job(), "kind": "static", "arm": a, "seed": seed, "weights": w}
                for a, w in mixtures.items()
            ]
            final.append(
                {
                    **base,
                    **target.job(),
                    "kind": "online",
                    "arm": "aioli",
                    "seed": seed,
                    "aioli": aioli_config(target.steps),
                }
            )
        for res in pool.map(final, lambda _: bar.advance(task)):
            arms.setdefault(res["arm"], Arm(res["arm"])).runs.append(res)
    summ = {a: arm.summary() for a, arm in arms.items()}
    per_seed = list(
        zip(summ["regmix"]["per_seed"], summ["uniform"]["per_seed"], summ["natural"]["per_seed"], strict=True)
    )
    payload = {
        "proxy": {**proxy.job(), "fidelity": fidelity(proxy), "runs": len(proxy_runs)},
        "target": {**target.job(), "fidelity": fidelity(target)},
        "domains": domains,
        "seeds": list(SEEDS),
        "procs": procs,
        "wall_seconds": time.perf_counter() - started,
        "quick": quick,
        "recommendation": {"weights": rec.weights, "predicted": rec.predicted, "diagnostics": rec.diagnostics},
        "mixtures": mixtures,
        "proxy_runs": [{"weights": r["weights"], "mean": r["mean"], "losses": r["losses"]} for r in proxy_runs],
        "proxy_cost_pflop": sum(6 * r["params"] * r["tokens"] for r in proxy_runs) / 1e15,
        "target_cost_pflop": 6 * fidelity(target)["params"] * fidelity(target)["tokens"] / 1e15,
        "arms": summ,
        "aioli_final_weights": [
            r["record"]["final_weights"] for r in sorted(arms["aioli"].runs, key=lambda r: r["seed"])
        ],
        "regmix_below_both": summ["regmix"]["mean"] < min(summ["uniform"]["mean"], summ["natural"]["mean"]),
        "regmix_below_both_every_seed": all(r < min(u, s) for r, u, s in per_seed),
    }
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    write_json("lm/campaign", payload)
    _plot(payload)
    return payload


ARMS = ("regmix", "best_proxy", "uniform", "natural", "aioli")


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    means = [payload["arms"][a]["mean"] for a in ARMS]
    stds = [payload["arms"][a]["std"] for a in ARMS]
    ax1.bar(ARMS, means, yerr=stds, capsize=3, color=["tab:green", "tab:olive", "tab:gray", "tab:blue", "tab:red"])
    ax1.set_ylim(min(means) - 2 * max(stds) - 0.01, max(means) + 2 * max(stds) + 0.01)
    ax1.set_ylabel("mean val loss (nats/byte)")
    ax1.set_title(f"target: {payload['target']['size']} GPT, {payload['target']['steps']} steps, 3 seeds", fontsize=9)
    ax2.hist([r["mean"] for r in payload["proxy_runs"]], bins=16, color="tab:gray")
    ax2.set_xlabel("proxy run mean val loss")
    ax2.set_title(
        f"{payload['proxy']['runs']} regmix proxy runs ({payload['proxy']['size']}, {payload['proxy']['steps']} steps)",
        fontsize=9,
    )
    fig.tight_layout()
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    save_figure(fig, "lm/campaign")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    a = payload["arms"]
    return [
        {
            "benchmark": f"LM campaign: regmix on {payload['proxy']['runs']} {payload['proxy']['size']} runs, "
            f"recommendation trained at {payload['target']['size']}",
            "value": f"{a['regmix']['mean']:.4f}",
            "baseline": f"uniform {a['uniform']['mean']:.4f}, natural {a['natural']['mean']:.4f}, "
            f"best proxy {a['best_proxy']['mean']:.4f}, aioli {a['aioli']['mean']:.4f}",
            "ratio": f"{a['regmix']['mean'] - min(a['uniform']['mean'], a['natural']['mean']):+.4f}",
            "target": "below uniform and natural (every seed)",
            "ok": payload["regmix_below_both_every_seed"],
        }
    ]


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int)
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    rprint(table(run(quick=args.quick, procs=args.procs, n_runs=args.runs)))
