"""Pool-mode replay of active vs random ``regmix`` proposals on the RegMix data.

The 512 train mixtures are the candidate pool; a run's result is revealed only once the mixer proposes it
(batches of 16, the mixer called in-process with ``candidates=pool``). After 64, 128 and 256 revealed runs a
default ``regmix`` model is fitted on what was revealed and scored by Spearman on the 256 test runs.
Goal: active at 128 revealed matches random at 256.

    python -m bench.replay.regmix_pool [--seeds 5] [--exploit 0.0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bench.common import DEMO_DATA, progress, results_dir, write_json
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

TARGET = "metric/the_pile_pile_cc_val_loss"
FIDELITY = {"params": 1e6, "tokens": 1e9}
BATCH = 16
CHECKPOINTS = (64, 128, 256)


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Mixtures ``(n, 17)`` (renormalized) and the Pile-CC loss ``(n,)`` of ``split``."""
    mix = pd.read_csv(DEMO_DATA / f"{split}_mixture_1m.csv")
    loss = pd.read_csv(DEMO_DATA / f"{split}_pile_loss_1m.csv")
    df = mix.merge(loss, on="index")
    w = df[[c for c in mix.columns if c != "index"]].to_numpy(dtype=np.float64)
    return w / w.sum(axis=1, keepdims=True), df[TARGET].to_numpy(dtype=np.float64)


def problem() -> Problem:
    shares = pd.read_csv(DEMO_DATA / "domains.csv")
    return Problem(
        domains=tuple(
            DomainSpec(str(name), tokens=float(share))
            for name, share in zip(shares["domain"], shares["token_share"], strict=True)
        ),
        objective=Objective({TARGET: 1.0}),
        target_fidelity={"params": 1e9, "tokens": 2.5e10},
    )


def test_spearman(prob: Problem, obs: list[Observation], w_test: np.ndarray, y_test: np.ndarray) -> float:
    model = RegMixMixer(prob, RegMixConfig(), seed=0).fit(obs)
    return float(spearmanr(model.predict(w_test).mean, y_test).statistic)


def replay(
    mode: str, seed: int, config: dict[str, Any] | None = None, budget: int = 256, on_batch: Any = None
) -> dict[str, Any]:
    """Reveal ``budget`` pool runs in batches; returns Spearman at each checkpoint and proposal times."""
    prob = problem()
    pool, y_pool = load("train")
    w_test, y_test = load("test")
    cfg = RegMixConfig(**{**(config or {}), "active": mode == "active"})
    obs: list[Observation] = []
    scores: dict[int, float] = {}
    propose_s: list[float] = []
    for batch in range(budget // BATCH):
        mixer = RegMixMixer(prob, cfg, seed=seed * 1000 + batch).fit(obs)
        start = time.perf_counter()
        runs = mixer.propose(BATCH, FIDELITY, candidates=pool)
        propose_s.append(time.perf_counter() - start)
        for r in runs:
            i = int(np.flatnonzero(np.all(pool == r.weights, axis=1))[0])
            obs.append(Observation(weights=pool[i], fidelity=FIDELITY, metrics={TARGET: float(y_pool[i])}))
        if len(obs) in CHECKPOINTS:
            scores[len(obs)] = test_spearman(prob, obs, w_test, y_test)
        if on_batch is not None:
            on_batch()
    return {"mode": mode, "seed": seed, "spearman": scores, "propose_seconds": propose_s}


def run(seeds: int = 5, config: dict[str, Any] | None = None, show: bool = True) -> dict[str, Any]:
    """Active (to 128 revealed) and random (to 256) over ``seeds`` seeds; summary and per-seed figures."""
    jobs = [("active", s, 128) for s in range(seeds)] + [("random", s, 256) for s in range(seeds)]
    results = []
    with progress() as bar:
        task = bar.add_task("pool replay", total=sum(b // BATCH for _, _, b in jobs))
        for mode, seed, budget in jobs:
            results.append(replay(mode, seed, config, budget, on_batch=lambda: bar.advance(task)))
    summary: dict[str, Any] = {}
    for mode in ("active", "random"):
        for k in CHECKPOINTS:
            vals = [r["spearman"][k] for r in results if r["mode"] == mode and k in r["spearman"]]
            if vals:
                summary[f"{mode}@{k}"] = {
                    "mean": statistics.mean(vals),
                    "min": min(vals),
                    "max": max(vals),
                    "values": vals,
                }
    times = [t for r in results if r["mode"] == "active" for t in r["propose_seconds"][1:]]
    summary["active_propose_seconds_median"] = statistics.median(times) if times else None
    summary["goal_met"] = summary["active@128"]["mean"] >= summary["random@256"]["mean"]
    payload = {"config": config or {}, "seeds": seeds, "summary": summary, "runs": results}
    write_json("regmix_pool_replay", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    s = payload["summary"]
    active, rand = s["active@128"]["mean"], s["random@256"]["mean"]
    return [
        {
            "benchmark": f"regmix pool replay: test Spearman, active at 128 revealed ({payload['seeds']} seeds)",
            "value": f"{active:.4f}",
            "baseline": f"random at 256 revealed {rand:.4f}",
            "ratio": f"{active - rand:+.4f}",
            "target": "active@128 >= random@256",
            "ok": s["goal_met"],
        }
    ]


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--exploit", type=float, default=None, help="active_exploit (default: the config default)")
    args = ap.parse_args()
    config = {} if args.exploit is None else {"active_exploit": args.exploit}
    out = run(args.seeds, config)
    table = Table(title=f"regmix pool replay, Spearman on 256 test runs ({args.seeds} seeds)")
    for col in ("strategy", "revealed", "mean", "min", "max"):
        table.add_column(col)
    for key, val in out["summary"].items():
        if isinstance(val, dict):
            mode, k = key.split("@")
            table.add_row(mode, k, f"{val['mean']:.4f}", f"{val['min']:.4f}", f"{val['max']:.4f}")
    Console().print(table)
    Console().print(
        f"median active propose time: {out['summary']['active_propose_seconds_median']:.3f} s; "
        f"goal (active@128 >= random@256): {out['summary']['goal_met']}"
    )
    print(f"wrote {results_dir() / 'regmix_pool_replay.json'}")


if __name__ == "__main__":
    main()
