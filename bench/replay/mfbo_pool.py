"""Pool replay of ``mfbo`` on the 512 RegMix train runs: runs revealed until a top-1% run is found.

The pool is the 512 train mixtures; a run's loss is revealed only when the mixer proposes it (batches of 8,
``candidates=pool``, called in-process). Random order is the baseline on the same seeds. The best 1% are the
5 runs with the lowest Pile-CC loss. The shared data has one fidelity (1M parameters), so every run costs 1 and
cost equals runs; both ``mfbo``'s default config and ``multi_fidelity: false`` are replayed (with one fidelity
offered they should propose alike).

    python -m bench.replay.mfbo_pool [--seeds 5] [--budget 160]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np

from bench.common import progress, write_json
from bench.replay.regmix_pool import FIDELITY, TARGET, load, problem
from mixers.mfbo import MFBOConfig, MFBOMixer
from mixers.types import Observation

BATCH = 8
WARM_START = 8  # random runs revealed before the first model, as any BO loop starts


def _first_hit(order: list[int], top: set[int]) -> int | None:
    for k, i in enumerate(order, start=1):
        if i in top:
            return k
    return None


def replay_mfbo(seed: int, budget: int, top: set[int], on_batch: Any = None, multi_fidelity: bool = False
                ) -> int | None:
    prob = problem()
    pool, y = load("train")
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.choice(len(pool), WARM_START, replace=False)]
    cfg = MFBOConfig(multi_fidelity=multi_fidelity)
    prob = type(prob)(domains=prob.domains, objective=prob.objective, target_fidelity=FIDELITY)
    while len(order) < budget and _first_hit(order, top) is None:
        obs = [Observation(weights=pool[i], fidelity=FIDELITY, metrics={TARGET: float(y[i])}) for i in order]
        mixer = MFBOMixer(prob, cfg, seed=seed * 1000 + len(order)).fit(obs)
        left = np.array([i for i in range(len(pool)) if i not in set(order)])
        runs = mixer.propose(BATCH, FIDELITY, candidates=pool[left])
        for r in runs:
            order.append(int(left[np.flatnonzero(np.all(pool[left] == r.weights, axis=1))[0]]))
        if on_batch is not None:
            on_batch()
    return _first_hit(order, top)


def run(seeds: int = 5, budget: int = 160) -> dict[str, Any]:
    _pool, y = load("train")
    top = set(np.argsort(y)[: max(1, len(y) // 100)].tolist())
    mfbo_hits: list[int | None] = []
    default_hits: list[int | None] = []
    random_hits: list[int | None] = []
    with progress() as bar:
        task = bar.add_task("mfbo pool replay", total=2 * seeds)
        for seed in range(seeds):
            mfbo_hits.append(replay_mfbo(seed, budget, top))
            bar.advance(task)
            default_hits.append(replay_mfbo(seed, budget, top, multi_fidelity=True))
            bar.advance(task)
            random_hits.append(_first_hit([int(i) for i in np.random.default_rng(seed).permutation(len(y))], top))
    found = [h for h in mfbo_hits if h is not None]
    payload = {
        "pool": len(y),
        "top_runs": sorted(top),
        "batch": BATCH,
        "warm_start": WARM_START,
        "budget": budget,
        "mfbo_runs_to_top1pct": mfbo_hits,
        "mfbo_default_runs_to_top1pct": default_hits,
        "mfbo_default_median": statistics.median([h for h in default_hits if h is not None] or [budget]),
        "random_runs_to_top1pct": random_hits,
        "mfbo_median": statistics.median(found) if len(found) == len(mfbo_hits) else None,
        "random_median": statistics.median([h for h in random_hits if h is not None]),
        # Random order over 512 with 5 winners: expected first hit (512 + 1) / (5 + 1) = 85.5.
        "random_expected": (len(y) + 1) / (len(top) + 1),
    }
    write_json("mfbo_pool_replay", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    hits = payload["mfbo_runs_to_top1pct"]
    return [
        {
            "benchmark": f"mfbo pool replay on the RegMix 1M runs: runs (= cost) revealed until a top-1% run "
                         f"({len(hits)} seeds)",
            "value": f"single-fidelity median {payload['mfbo_median']} ({', '.join(map(str, hits))}); default "
                     f"config median {payload.get('mfbo_default_median')}",
            "baseline": f"random order median {payload['random_median']} "
            f"({', '.join(map(str, payload['random_runs_to_top1pct']))}; expected {payload['random_expected']:.1f})",
            "ratio": ""
            if payload["mfbo_median"] is None
            else f"{payload['mfbo_median'] / payload['random_median']:.2f}",
            "target": "fewer than random",
            "ok": None if payload["mfbo_median"] is None else payload["mfbo_median"] < payload["random_median"],
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=160)
    args = parser.parse_args()
    out = run(args.seeds, args.budget)
    print({k: v for k, v in out.items() if k != "top_runs"})


if __name__ == "__main__":
    main()
