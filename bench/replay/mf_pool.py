"""Build the multi-fidelity pool that ``bench.replay.mfbo_mf_pool`` replays: simulator losses of one set of mixtures at
several fidelities, cached in ``bench/data/mf_pool.json`` (committed; rebuild with this module).

The world is the simulator's 5-domain preset (four Markov-chain domains and a noise domain; metric ``target``).
Each of ``--n`` mixtures (Dirichlet draws at three concentrations, seeded) is trained at every fidelity of
``FIDELITIES`` (``(rank, tokens)`` of the low-rank bigram model), one seed per (mixture, fidelity). Rank and
tokens set how well a small run's ranking of mixtures agrees with the target's: rank 1 on 2^15 tokens agrees
weakly, rank 4 on 2^18 strongly (the Spearman of each fidelity against the target is stored with the pool).

    python -m bench.replay.mf_pool [--n 160]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.common import DATA, progress
from bench.sim import Job, preset_world, run_many
from bench.sim.model import n_params

POOL_PATH = DATA / "mf_pool.json"
N_DOMAINS = 5
# name: (rank, tokens); "target" is the fidelity whose best mixtures the campaigns look for.
FIDELITIES: dict[str, tuple[int, int]] = {
    "r1_t12": (1, 2**12),
    "r1_t13": (1, 2**13),
    "r2_t13": (2, 2**13),
    "r1_t15": (1, 2**15),
    "r1_t16": (1, 2**16),
    "r2_t17": (2, 2**17),
    "r4_t18": (4, 2**18),
    "r8_t19": (8, 2**19),
    "target": (32, 2**22),
}
CONCENTRATIONS = (0.3, 1.0, 3.0)
SEED_ORDER = ["r1_t15", "r1_t16", "r2_t17", "r4_t18", "r8_t19", "target"]
# The weak world's small fidelity: rank 1 on 2^12 tokens, its loss measured on a small validation set. The
# simulator's losses are exact expectations, so that measurement noise is added here (Gaussian, this sd, seeded):
# the smallest model alone still ranks mixtures with Spearman about 0.65 against the target (mostly through the
# weight of the noise domain), a noisy evaluation of it about 0.5, the weak world the issue describes.
EVAL_NOISE = {"r1_t12_noisy": ("r1_t12", 0.03, 12)}


def mixtures(n: int, d: int, seed: int = 2026) -> np.ndarray:
    """``(n, d)`` Dirichlet draws cycling through ``CONCENTRATIONS`` (rounded to 4 decimals, renormalized)."""
    rng = np.random.default_rng(seed)
    rows = [rng.dirichlet(np.full(d, CONCENTRATIONS[i % len(CONCENTRATIONS)])) for i in range(n)]
    w = np.round(np.maximum(np.vstack(rows), 1e-4), 4)
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=np.float64)


def build(n: int = 160, processes: int = 1, extend: bool = False) -> dict[str, Any]:
    """Simulate the pool (``extend``: only the fidelities the cached pool lacks, keeping the rest)."""
    world = preset_world(N_DOMAINS)
    w = mixtures(n, len(world.names))
    fids = {name: {"params": float(n_params(world.vocab, r)), "tokens": float(t)}
            for name, (r, t) in FIDELITIES.items()}
    losses: dict[str, list[float]] = {}
    if extend and POOL_PATH.exists():
        old = load()
        if np.allclose(np.asarray(old["mixtures"]), w.round(6)):
            losses = {k: v for k, v in old["losses"].items() if k in fids}
    todo = [name for name in fids if name not in losses]
    # The seed of a (fidelity, mixture) run depends on the fidelity's position in FIDELITIES' original order.
    seed_of = {name: 1000 * k for k, name in enumerate(SEED_ORDER + [f for f in fids if f not in SEED_ORDER])}
    jobs = [Job(world, dict(zip(world.names, row, strict=True)), fids[name], seed=seed_of[name] + i)
            for name in todo for i, row in enumerate(w)]
    with progress() as bar:
        task = bar.add_task("simulating the pool", total=len(jobs))
        results = run_many(jobs, processes=processes, on_done=lambda: bar.advance(task))
    for k, name in enumerate(todo):
        losses[name] = [float(results[k * n + i].metrics["target"]) for i in range(n)]
    losses = {name: losses[name] for name in fids}
    for name, (base, sd, seed) in EVAL_NOISE.items():
        noise = np.random.default_rng(seed).normal(0.0, sd, n)
        losses[name] = (np.asarray(losses[base]) + noise).tolist()
        fids[name] = dict(fids[base])
    target = np.array(losses["target"])
    payload = {
        "world": f"preset_world({N_DOMAINS})",
        "domains": list(world.names),
        "metric": "target",
        "fidelities": fids,
        "spearman_vs_target": {k: float(spearmanr(v, target).statistic) for k, v in losses.items()},
        "mixtures": w.round(6).tolist(),
        "losses": losses,
    }
    POOL_PATH.parent.mkdir(parents=True, exist_ok=True)
    POOL_PATH.write_text(json.dumps(payload) + "\n")
    return payload


def load() -> dict[str, Any]:
    """The cached pool (see the module docstring for how to rebuild it)."""
    return dict(json.loads(POOL_PATH.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--extend", action="store_true", help="simulate only the fidelities the cache lacks")
    args = parser.parse_args()
    out = build(args.n, args.processes, args.extend)
    print(out["spearman_vs_target"])
    print(f"wrote {POOL_PATH}")


if __name__ == "__main__":
    main()
