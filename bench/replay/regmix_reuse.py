"""Reuse after adding a domain, replayed on the RegMix data (512 train + 256 test runs, 17 Pile domains, Pile-CC
loss): a v1 swarm that never saw domain X, then X added.

Protocol, per hidden domain X and seed:

- v1 swarm: the train runs with weight <= 0.001 on X (the data's rounding), X's weight set to 0; ``regmix``
  (default config) over the 16 other domains gives the v1 recommendation; mapped into the 17-domain set (X at 0,
  exact for an added domain) it is the frozen ratios.
- ``reuse``: ``k`` = 30% of the v1 swarm's count (the compute: every run has the same size) proposed by ``regmix``
  with config ``reuse`` (X free) from the pool of the other train runs (pool replay: for each reuse draw, the
  nearest pool run not taken, ``method: pool_reuse``); ``regmix`` fitted on the v1 runs plus those ``k``, searched
  over the full space (``reuse``) or the reuse space only (``reuse, reduced``).
- ``full``: a new swarm of as many runs as v1's, at random from all 512 train runs, ``regmix`` on it.
- ``v1 mapped`` (no new run) and ``uniform`` as baselines.

Judge: no one trained the recommended mixtures, so a ``regmix`` model fitted on all 768 runs (train and test)
predicts their loss; regret = predicted loss - the least predicted loss among every answer here and the judge's
own recommendation (nats). The judge shares the arms' model class (a bias towards answers LightGBM likes, the same
for every arm); the pool rows a reuse picks are near, not in, the reuse space (their frozen-block deviation is
reported).

    python -m bench.replay.regmix_reuse [--quick] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np

from bench.common import progress, save_figure, use_quick_results, write_json
from bench.replay.regmix_pool import FIDELITY, load, problem
from mixers.base import OfflineMixer
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.reuse import ReuseConfig, ReuseSpace, recommend_in_space
from mixers.types import FloatArray, Observation, Problem

HIDDEN = ("train_the_pile_pile_cc", "train_the_pile_wikipedia_en")
ZERO = 1e-3
FRACTION = 0.3


def _obs(w: FloatArray, y: FloatArray) -> list[Observation]:
    return [
        Observation(weights=row, fidelity=FIDELITY, metrics={"metric/the_pile_pile_cc_val_loss": float(v)})
        for row, v in zip(w, y, strict=True)
    ]


def _sub(p: Problem, drop: int) -> Problem:
    doms = tuple(d for i, d in enumerate(p.domains) if i != drop)
    return Problem(doms, p.objective, p.target_fidelity)


def one(
    p: Problem, x: int, w: FloatArray, y: FloatArray, seed: int, cfg: RegMixConfig, v1_rec: FloatArray
) -> dict[str, Any]:
    """Every arm's answer ``(17,)`` and its runs' count for hidden domain index ``x`` and ``seed``."""
    v1 = w[:, x] <= ZERO
    v1_w = w[v1].copy()
    v1_w[:, x] = 0.0
    v1_w /= v1_w.sum(axis=1, keepdims=True)
    v1_obs = _obs(v1_w, y[v1])
    n = int(v1.sum())
    k = round(FRACTION * n)
    rng = np.random.default_rng([seed, x])
    frozen = {name: float(v) for name, v in zip(p.names, v1_rec, strict=True)}
    free = [p.names[x]]
    rcfg = cfg.model_copy(update={"reuse": ReuseConfig(frozen=frozen, free=free, from_version=1)})
    pool_idx = np.flatnonzero(~v1)
    batch = RegMixMixer(p, rcfg, seed=seed).propose(k, FIDELITY, candidates=w[pool_idx])
    picked = np.vstack([r.weights for r in batch])
    rows = [int(pool_idx[np.flatnonzero(np.all(w[pool_idx] == r, axis=1))[0]]) for r in picked]
    space = ReuseSpace.build(p, frozen, free)
    arms: dict[str, FloatArray] = {"v1 mapped": v1_rec, "uniform": np.full(p.d, 1 / p.d)}
    mixer = RegMixMixer(p, cfg, seed=seed).fit([*v1_obs, *_obs(w[rows], y[rows])])
    arms["reuse"] = mixer.recommend().weights
    arms["reuse, reduced"] = recommend_in_space(mixer, space, np.random.default_rng(seed), n_candidates=50_000).weights
    full_rows = rng.choice(len(w), size=n, replace=False)
    arms["full"] = RegMixMixer(p, cfg, seed=seed).fit(_obs(w[full_rows], y[full_rows])).recommend().weights
    return {
        "arms": arms,
        "v1_runs": n,
        "k": k,
        "pool_deviation": float(np.median(space.deviation(w[rows]))),
        "picked_x_weight": float(np.median(w[rows, x])),
    }


def run(quick: bool = False, seeds: int = 5) -> dict[str, Any]:
    if quick:
        use_quick_results()
        seeds = 1
    p = problem()
    w_tr, y_tr = load("train")
    w_te, y_te = load("test")
    cfg = RegMixConfig(n_estimators=300, n_candidates=20_000, top_k=64) if quick else RegMixConfig()
    hidden = HIDDEN[:1] if quick else HIDDEN
    out: dict[str, Any] = {"seeds": seeds, "fraction": FRACTION, "zero": ZERO, "hidden": {}}
    with progress() as bar:
        task = bar.add_task("fits", total=1 + len(hidden) * (1 + seeds))
        judge = RegMixMixer(p, cfg, seed=0).fit(_obs(np.vstack([w_tr, w_te]), np.concatenate([y_tr, y_te])))
        judge_best = judge.recommend().weights
        bar.advance(task)
        for name in hidden:
            x = p.names.index(name)
            v1 = w_tr[:, x] <= ZERO
            sub = _sub(p, x)
            v1_w = np.delete(w_tr[v1], x, axis=1)
            v1_rec_sub = (
                RegMixMixer(sub, cfg, seed=0)
                .fit(_obs(v1_w / v1_w.sum(axis=1, keepdims=True), y_tr[v1]))
                .recommend()
                .weights
            )
            v1_rec = np.insert(v1_rec_sub, x, 0.0)
            bar.advance(task)
            res = []
            for s in range(seeds):
                res.append(one(p, x, w_tr, y_tr, s, cfg, v1_rec))
                bar.advance(task)
            out["hidden"][name] = _summarize(judge, judge_best, res)
    write_json("regmix_reuse", out)
    _plot(out, "regmix_reuse")
    return out


def _summarize(judge: OfflineMixer, judge_best: FloatArray, res: list[dict[str, Any]]) -> dict[str, Any]:
    labels = list(res[0]["arms"])
    pred = {lab: judge.predict(np.vstack([r["arms"][lab] for r in res])).mean for lab in labels}
    best = min(float(judge.predict(judge_best[None, :]).mean[0]), *(float(v.min()) for v in pred.values()))
    n = res[0]["v1_runs"]
    cost = {"v1 mapped": 0.0, "uniform": 0.0, "reuse": res[0]["k"] / n, "reuse, reduced": res[0]["k"] / n, "full": 1.0}
    summary = {}
    for lab in labels:
        reg = (pred[lab] - best).tolist()
        summary[lab] = {
            "regret_mean": statistics.mean(reg),
            "regrets": reg,
            "cost_share": cost[lab],
            "regret_se": statistics.stdev(reg) / len(reg) ** 0.5 if len(reg) > 1 else 0.0,
        }
    for lab in ("reuse", "reuse, reduced"):
        diff = np.array(summary[lab]["regrets"]) - np.array(summary["full"]["regrets"])
        summary[lab]["minus_full_mean"] = float(diff.mean())
        summary[lab]["minus_full_se"] = float(diff.std(ddof=1) / len(diff) ** 0.5) if len(diff) > 1 else 0.0
    return {
        "v1_runs": n,
        "k": res[0]["k"],
        "best_predicted": best,
        "summary": summary,
        "pool_deviation_median": statistics.median(r["pool_deviation"] for r in res),
        "picked_x_weight_median": statistics.median(r["picked_x_weight"] for r in res),
        "weights": {lab: [r["arms"][lab].tolist() for r in res] for lab in labels},
    }


def _plot(payload: dict[str, Any], name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = payload["hidden"]
    fig, axes = plt.subplots(1, len(hs), figsize=(5 * len(hs), 4), squeeze=False)
    for ax, (hname, h) in zip(axes[0], hs.items(), strict=True):
        for lab, r in h["summary"].items():
            ax.errorbar(
                r["cost_share"], 1000 * r["regret_mean"], yerr=1000 * r["regret_se"], fmt="o", capsize=3, label=lab
            )
        ax.axvline(payload["fraction"], color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"add {hname.removeprefix('train_the_pile_')} (v1: {h['v1_runs']} runs)", fontsize=9)
        ax.set_xlabel("new runs / full swarm's")
    axes[0][0].set_ylabel("regret, judge-predicted Pile-CC loss (millinats)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"RegMix data, pool replay, {payload['seeds']} seeds", fontsize=10)
    fig.tight_layout()
    save_figure(fig, name)
    plt.close(fig)


def _mnat(arm: dict[str, Any]) -> str:
    return f"{1000 * arm['regret_mean']:.1f} mnat"


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for hname, h in payload["hidden"].items():
        s = h["summary"]
        best = min(("reuse", "reuse, reduced"), key=lambda k: s[k]["regret_mean"])
        excess = s[best]["regret_mean"] - s["full"]["regret_mean"]
        rows.append(
            {
                "benchmark": f"reuse vs full swarm, add {hname.removeprefix('train_the_pile_')} (RegMix pool replay)",
                "value": f"{best}: regret {_mnat(s[best])} at {100 * s[best]['cost_share']:.0f}%",
                "baseline": f"full {1000 * s['full']['regret_mean']:.1f} mnat; uniform "
                f"{1000 * s['uniform']['regret_mean']:.1f} mnat",
                "ratio": f"{s[best]['cost_share']:.2f}",
                "target": "<= full + 5% of its gap, or within 2 se",
                "ok": bool(excess <= max(0.05 * s["full"]["regret_mean"], 2 * s[best]["minus_full_se"])),
            }
        )
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    result = run(args.quick, args.seeds)
    for hname, h in result["hidden"].items():
        print(hname, f"v1 {h['v1_runs']} runs, reuse k={h['k']}, pool deviation {h['pool_deviation_median']:.3f}")
        for lab, r in h["summary"].items():
            extra = (
                f" minus full {1000 * r['minus_full_mean']:+.1f} (se {1000 * r['minus_full_se']:.1f})"
                if "minus_full_mean" in r
                else ""
            )
            print(
                f"  {lab:16s} cost {r['cost_share']:.2f} regret {1000 * r['regret_mean']:.1f} mnat "
                f"(se {1000 * r['regret_se']:.1f}){extra}"
            )
    print("wrote bench/results/regmix_reuse.json and regmix_reuse.png")
