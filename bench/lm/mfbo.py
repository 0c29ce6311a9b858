"""A multi-fidelity campaign on real LM training: ``mfbo`` chooses each proxy run's mixture and its model size
(the small GPT or the medium one, both for the proxy's short step count), batch after batch, learning the cost of
each from the posted results; its recommendation at the target (medium size, full step count) is then trained
against uniform and natural, 3 seeds each, in the same call. Same objective and domains as
``bench.lm.campaign`` (the mean per-domain validation loss over the six corpus domains).

    python -m bench --only lm_mfbo               # on a GPU machine: the committed results
    python -m bench.lm.mfbo --quick        # a quick check of the code path
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from bench.common import progress, results_dir, save_figure, use_quick_results, write_json
from bench.lm.campaign import fidelity
from bench.lm.experiment import SEEDS, Arm, Scale, create_project, data_dir, natural, uniform
from bench.lm.pool import Job, Pool
from bench.server import running_server
from mixopt import Client

PROJECT = "lm-mfbo"
FULL = {"proxies": (Scale("small", 500, 64), Scale("medium", 500, 64)), "target": Scale("medium", 1500, 64)}
QUICK = {"proxies": (Scale("tiny", 20, 8), Scale("small", 20, 8)), "target": Scale("small", 40, 8)}
FULL_BATCHES, QUICK_BATCHES = (8, 8, 8, 8), (4, 4)


def run(quick: bool = False, procs: int | None = None) -> dict[str, Any]:
    if quick:
        use_quick_results()
    setup = QUICK if quick else FULL
    proxies: tuple[Scale, ...] = setup["proxies"]  # type: ignore[assignment]
    target: Scale = setup["target"]  # type: ignore[assignment]
    batches = QUICK_BATCHES if quick else FULL_BATCHES
    path = data_dir()
    manifest = json.loads((path / "manifest.json").read_text())["domains"]
    domains = list(manifest)
    tokens = {n: int(d["source_bytes"]) for n, d in manifest.items()}
    procs = procs or int(os.environ.get("MIXOPT_LM_PROCS", "2" if quick else "14"))

    def scale_of(fid: dict[str, float]) -> Scale:
        return min(proxies, key=lambda s: abs(fidelity(s)["params"] - fid["params"]))

    started = time.perf_counter()
    arms: dict[str, Arm] = {}
    proxy_runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp)) as url,
        Client(url, timeout=600) as client,
        Pool(procs) as pool,
        progress() as bar,
    ):
        create_project(client, PROJECT, domains, tokens, target=fidelity(target))
        base = {"data_dir": str(path), "url": url, "domains": domains, "project": PROJECT}
        task = bar.add_task("runs", total=sum(batches) + 3 * len(SEEDS))
        # The baselines do not depend on the campaign: train them meanwhile.
        baseline_futures: list[Future[Job]] = [
            pool.submit({**base, **target.job(), "kind": "static", "arm": arm, "seed": seed, "weights": w})
            for seed in SEEDS
            for arm, w in (("uniform", uniform(domains)), ("natural", natural(domains, tokens)))
        ]
        fids = [fidelity(s) for s in proxies]
        for b, n in enumerate(batches):
            proposal = client.propose(PROJECT, "mfbo", n=n, fidelities=fids, seed=b)
            jobs = [
                {
                    **base,
                    **scale_of(r.fidelity).job(),
                    "kind": "proposed",
                    "seed": 0,
                    "run_id": r.id,
                    "weights": r.weights,
                    "batch_index": b,
                }
                for r in proposal.runs
            ]
            proxy_runs += list(pool.map(jobs, lambda _: bar.advance(task)))
        rec = client.recommend(PROJECT, "mfbo", seed=0)
        final = [
            pool.submit({**base, **target.job(), "kind": "static", "arm": "mfbo", "seed": s, "weights": rec.weights})
            for s in SEEDS
        ]
        for fut in [*baseline_futures, *final]:
            res = fut.result()
            bar.advance(task)
            arms.setdefault(res["arm"], Arm(res["arm"])).runs.append(res)
    summ = {a: arm.summary() for a, arm in arms.items()}
    per_seed = list(
        zip(summ["mfbo"]["per_seed"], summ["uniform"]["per_seed"], summ["natural"]["per_seed"], strict=True)
    )
    payload = {
        "proxies": [{**s.job(), "fidelity": fidelity(s)} for s in proxies],
        "target": {**target.job(), "fidelity": fidelity(target)},
        "batches": list(batches),
        "domains": domains,
        "seeds": list(SEEDS),
        "procs": procs,
        "wall_seconds": time.perf_counter() - started,
        "quick": quick,
        "recommendation": {
            "weights": rec.weights,
            "predicted": rec.predicted,
            "std": rec.std,
            "diagnostics": rec.diagnostics,
        },
        "proxy_runs": [
            {
                "size": r["size"],
                "batch_index": r["batch_index"],
                "weights": r["weights"],
                "mean": r["mean"],
                "cost_pflop": 6 * r["params"] * r["tokens"] / 1e15,
            }
            for r in proxy_runs
        ],
        "proxy_cost_pflop": sum(6 * r["params"] * r["tokens"] for r in proxy_runs) / 1e15,
        "target_cost_pflop": 6 * fidelity(target)["params"] * fidelity(target)["tokens"] / 1e15,
        "arms": summ,
        "mfbo_below_both": summ["mfbo"]["mean"] < min(summ["uniform"]["mean"], summ["natural"]["mean"]),
        "mfbo_below_both_every_seed": all(m < min(u, s) for m, u, s in per_seed),
    }
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    write_json("lm/mfbo", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = ("mfbo", "uniform", "natural")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    means = [payload["arms"][a]["mean"] for a in arms]
    stds = [payload["arms"][a]["std"] for a in arms]
    ax1.bar(arms, means, yerr=stds, capsize=3, color=["tab:purple", "tab:gray", "tab:blue"])
    ax1.set_ylim(min(means) - 2 * max(stds) - 0.01, max(means) + 2 * max(stds) + 0.01)
    ax1.set_ylabel("mean val loss (nats/byte)")
    ax1.set_title(f"target: {payload['target']['size']} GPT, {payload['target']['steps']} steps, 3 seeds", fontsize=9)
    for size, color in zip(
        sorted({r["size"] for r in payload["proxy_runs"]}), ("tab:orange", "tab:green"), strict=False
    ):
        pts = [(r["batch_index"], r["mean"]) for r in payload["proxy_runs"] if r["size"] == size]
        ax2.scatter(*zip(*pts, strict=True), label=size, color=color, alpha=0.7)
    ax2.set_xlabel("batch")
    ax2.set_ylabel("proxy run mean val loss")
    ax2.legend(fontsize=8)
    ax2.set_title("mfbo proxy runs by model size", fontsize=9)
    fig.tight_layout()
    save_figure(fig, "lm/mfbo")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    a = payload["arms"]
    sizes = [r["size"] for r in payload["proxy_runs"]]
    counts = ", ".join(f"{sizes.count(s)} {s}" for s in sorted(set(sizes)))
    return [
        {
            "benchmark": f"LM campaign: mfbo over two model sizes ({counts} proxy runs), "
            f"recommendation trained at {payload['target']['size']}",
            "value": f"{a['mfbo']['mean']:.4f}",
            "baseline": f"uniform {a['uniform']['mean']:.4f}, natural {a['natural']['mean']:.4f}",
            "ratio": f"{a['mfbo']['mean'] - min(a['uniform']['mean'], a['natural']['mean']):+.4f}",
            "target": "below uniform and natural (every seed)",
            "ok": payload["mfbo_below_both_every_seed"],
        }
    ]


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int)
    args = parser.parse_args()
    rprint(table(run(quick=args.quick, procs=args.procs)))
