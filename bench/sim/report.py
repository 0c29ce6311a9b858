"""Measure the simulator's behaviour and speed: ``python -m bench.sim.report [--json out.json] [--quick]``.

Prints the figures quoted in bench/README.md (section "Simulator"): run times per fidelity, the best of
a set of mixtures against uniform and single domains, the rank correlation of 64 Dirichlet mixtures across
fidelities, the loss against tokens, the effect of weight on the noisy domain, and an online probe (which
domain a short burst of training should favour, at points along a run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.sim.domains import NOISE, World, WorldSpec, build_world, preset_world
from bench.sim.model import n_params
from bench.sim.runner import FIDELITY_PRESETS, Job, Trainer, run, run_many


def timings(world: World, repeats: int = 5) -> dict[str, Any]:
    """Wall time of one run per preset fidelity (min and median of ``repeats``), and of building a world."""
    out: dict[str, Any] = {}
    start = time.perf_counter()
    build_world.__wrapped__(WorldSpec(seed=99))
    out["world_build_s"] = time.perf_counter() - start
    for fid in FIDELITY_PRESETS:
        ts = [run(world, "uniform", fid, seed=s).seconds for s in range(repeats)]
        out[fid] = {"min_s": min(ts), "median_s": float(np.median(ts))}
    jobs = [Job(world, "uniform", "target", s) for s in range(8)]
    for procs in (1, 2):
        start = time.perf_counter()
        run_many(jobs, processes=procs)
        out[f"run_many_8_target_p{procs}_s"] = time.perf_counter() - start
    return out


def landscape(world: World, n_mix: int, fids: tuple[str, ...]) -> dict[str, Any]:
    """Target loss of uniform, each single domain, the target's own weights and ``n_mix`` Dirichlet(1) mixtures."""
    rng = np.random.default_rng(123)
    dirichlet = rng.dirichlet(np.ones(world.n), n_mix)
    special = np.vstack([world.mixture("uniform"), np.eye(world.n), world.relevance])
    mixes = np.vstack([special, dirichlet])
    out: dict[str, Any] = {"names": list(world.names)}
    losses = {}
    for fid in fids:
        res = run_many([Job(world, m, fid) for m in mixes])
        y = np.array([r.metrics["target"] for r in res])
        losses[fid] = y[len(special) :]
        i = int(np.argmin(y))
        out[fid] = {
            "uniform": float(y[0]),
            "single_domains": {name: float(y[1 + j]) for j, name in enumerate(world.names)},
            "relevance_mixture": float(y[world.n + 1]),
            "best": {
                "loss": float(y[i]),
                "weights": [round(float(x), 3) for x in mixes[i]],
                "kind": "uniform" if i == 0 else "single" if i <= world.n else "mixture",
            },
            "dirichlet_mean": float(losses[fid].mean()),
            "noise_weight_corr": float(np.corrcoef(dirichlet[:, world.names.index(NOISE)], losses[fid])[0, 1])
            if NOISE in world.names
            else None,
        }
    if len(fids) > 1:
        out["spearman_vs_" + fids[-1]] = {f: float(spearmanr(losses[f], losses[fids[-1]])[0]) for f in fids[:-1]}
    return out


def tokens_curve(world: World, rank: int = 32) -> dict[str, list[float]]:
    """Target loss at a fixed rank against the token budget (2^16 .. 2^22)."""
    budgets = [2**k for k in range(16, 23, 2)]
    out: dict[str, list[float]] = {"tokens": [float(t) for t in budgets]}
    for mix in ("uniform", "relevance"):
        out[mix] = [
            run(world, mix, {"params": n_params(world.vocab, rank), "tokens": t}).metrics["target"] for t in budgets
        ]
    return out


def noise_effect(world: World, fids: tuple[str, ...]) -> dict[str, Any]:
    """Target loss when a share ``e`` of the relevance mixture is moved to the noisy domain."""
    shares = [0.0, 0.1, 0.2, 0.3]
    noise = np.eye(world.n)[world.names.index(NOISE)]
    base = world.mixture("relevance")
    out: dict[str, Any] = {"shares": shares}
    for fid in fids:
        out[fid] = [run(world, (1 - e) * base + e * noise, fid).metrics["target"] for e in shares]
    return out


def online_probe(world: World, fid: str = "target", points: int = 8, burst: int = 4) -> list[dict[str, Any]]:
    """Along a uniform run, the target-loss drop of ``burst`` steps on each smoothed one-hot (0.625)."""
    trainer = Trainer(world, fid, seed=0)
    w = np.full((world.n, world.n), 0.375 / (world.n - 1))
    np.fill_diagonal(w, 0.625)
    rows = []
    for mark in np.linspace(0, trainer.total_steps, points + 1).astype(int)[:-1]:
        trainer.train("uniform", int(mark) - trainer.step)
        before = trainer.target_loss()
        gains = {}
        for j, name in enumerate(world.names):
            probe = trainer.clone()
            probe.train(w[j], burst)
            gains[name] = before - probe.target_loss()
        rows.append({"step": int(mark), "target": before, "gains": gains, "best": max(gains, key=gains.__getitem__)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sim.report", description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--quick", action="store_true", help="16 mixtures and no target-fidelity landscape")
    args = ap.parse_args(argv)
    world = preset_world(6)
    fids = ("small", "medium") if args.quick else ("small", "medium", "target")
    report: dict[str, Any] = {
        "load_average": os.getloadavg()[0],
        "world": {
            "names": list(world.names),
            "roles": list(world.roles),
            "relevance": world.relevance.round(3).tolist(),
            "prior": world.prior().round(3).tolist(),
            "tokens": world.tokens.tolist(),
            "entropy": {k: round(v, 4) for k, v in world.entropy().items()},
            "ideal_target_loss": {
                m: round(world.ideal_loss(m)["target"], 4) for m in ("uniform", "prior", "relevance")
            },
        },
    }
    report["timings"] = timings(world)
    report["landscape"] = landscape(world, 16 if args.quick else 64, fids)
    report["tokens"] = tokens_curve(world)
    report["noise"] = noise_effect(world, fids)
    report["online_probe"] = online_probe(world, "medium" if args.quick else "target")
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
