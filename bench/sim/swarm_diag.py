"""Why do the family world's answers lose to uniform? Measurements behind the diagnosis (issue 26 follow-up).

On the world of :mod:`bench.sim.families` (same world, swarm seeds, penalty), per seed:

(a) coverage: the swarm's share of the 13 scarce ``t<k>/high`` domains and its L1 distance to uniform (min,
    median, max), the same for the regmix candidate pool (``dirichlet_candidates``), and the swarm's best small run
    trained at the target;
(b) search: the fitted model's prediction at uniform against its recommendation's;
(c) transfer: Spearman of small vs target loss on the swarm's runs and on a path prior -> uniform -> the world's own
    target mixture (which leaves the swarm's region);
(d) repetition: every target loss with and without the penalty.

    python -m bench.sim.swarm_diag [--seeds 0 1 2] [--processes 1]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.common import progress
from bench.sim import Job, build_world, fidelity, run_many
from bench.sim.domains import World
from bench.sim.families import RUNS, _problem, repetition_penalty
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixMixer
from mixers.search import dirichlet_candidates
from mixers.types import FloatArray, Observation

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # prior -> uniform, then uniform -> relevance


def _raw(world: World, x: FloatArray, fid: Any, seed0: int, processes: int) -> FloatArray:
    jobs = [Job(world, world.weights_dict(w), fid, seed0 + i) for i, w in enumerate(x)]
    return np.array([r.metrics["target"] for r in run_many(jobs, processes=processes)])


def _stats(world: World, x: FloatArray) -> dict[str, list[float]]:
    high = np.array([n.endswith("/high") for n in world.names])
    u = np.full(world.n, 1.0 / world.n)
    hs, l1 = x[:, high].sum(axis=1), np.abs(x - u).sum(axis=1)
    q = (0.0, 0.5, 0.99, 1.0)
    return {"high_share": np.quantile(hs, q).round(4).tolist(), "l1_to_uniform": np.quantile(l1, q).round(3).tolist()}


def diagnose(seed: int, processes: int, recipe: ProposalRecipe) -> dict[str, Any]:
    world = build_world(__import__("bench.sim.families", fromlist=["WORLD"]).WORLD)
    problem = _problem(world)
    small = fidelity(world, "small")
    x = recipe.sample(np.random.default_rng(2600 + seed), problem, RUNS)
    y_raw = _raw(world, x, small, seed * 10_000, processes)
    y = y_raw + repetition_penalty(world, x)
    u, prior, rel = world.mixture("uniform"), world.prior(), world.relevance
    path = np.vstack([*((1 - a) * prior + a * u for a in ALPHAS), *((1 - a) * u + a * rel for a in ALPHAS[1:])])
    cands = dirichlet_candidates(np.random.default_rng(seed), problem, 20_000, min_feasible=32).mixtures
    obs = [Observation(weights=w, fidelity=small, metrics={"target": float(v)}) for w, v in zip(x, y, strict=True)]
    mixer = RegMixMixer(problem, RegMixMixer.Config.model_validate({"n_candidates": 20_000, "top_k": 32}), seed)
    rec = mixer.fit(obs).recommend().weights
    order = np.argsort(y)
    best_runs = x[order[:3]]
    # target runs: the whole swarm, the path, the three best small runs are in the swarm, the recommendation
    xt = np.vstack([x, path, rec[None, :]])
    t_raw = _raw(world, xt, "target", 0, processes)
    t_pen = repetition_penalty(world, xt)
    t = t_raw + t_pen
    small_path_raw = _raw(world, path, small, 90_000, processes)
    small_path = small_path_raw + repetition_penalty(world, path)
    n = len(x)
    ts, tp, trec = t[:n], t[n : n + len(path)], float(t[-1])
    best = float(min(t.min(), 0))  # placeholder, replaced below
    best = float(t.min())
    pred_path = mixer.predict(path).mean
    return {
        "seed": seed,
        "swarm": _stats(world, x),
        "candidates": _stats(world, cands),
        "recommendation": {**_stats(world, rec[None, :]), "target": trec, "predicted_small": float(
            mixer.predict(rec[None, :]).mean[0])},
        "swarm_best_small_runs": {
            **_stats(world, best_runs),
            "small": y[order[:3]].tolist(),
            "target": ts[order[:3]].tolist(),
        },
        "swarm_best_at_target": float(ts.min()),
        "swarm_target_rank_of_small_best": int((ts < ts[order[0]]).sum()),
        "spearman_small_vs_target_swarm": float(spearmanr(y, ts)[0]),
        "spearman_small_vs_target_swarm_unpenalized": float(spearmanr(y_raw, t_raw[:n])[0]),
        "path": {
            "labels": [f"prior->uniform {a}" for a in ALPHAS] + [f"uniform->relevance {a}" for a in ALPHAS[1:]],
            "small": small_path.tolist(),
            "small_predicted": pred_path.tolist(),
            "target": tp.tolist(),
            "target_penalty": t_pen[n : n + len(path)].tolist(),
            "spearman_small_vs_target": float(spearmanr(small_path, tp)[0]),
            "spearman_predicted_vs_small": float(spearmanr(pred_path, small_path)[0]),
        },
        "best_target_here": best,
    }


VARIANTS: dict[str, ProposalRecipe] = {
    "regmix recipe": ProposalRecipe(),
    "half uniform-centred": ProposalRecipe(uniform_share=0.5),
    "half uniform-centred, strengths to 50": ProposalRecipe(strength_max=50.0, uniform_share=0.5),
}
COMPARE_ARMS = ("regmix", "mixing_law", "auto")


def compare(seeds: list[int], processes: int, variants: list[str], arms: list[str]) -> dict[str, Any]:
    """Each swarm recipe of ``variants`` on the family world: the arms' answers trained at the target, gap to the
    best mixture trained at the target in this same run (uniform, prior and the world's target mixture included)."""
    from bench.sim.families import _arm

    world = build_world(__import__("bench.sim.families", fromlist=["WORLD"]).WORLD)
    problem = _problem(world)
    small = fidelity(world, "small")
    answers: list[tuple[str, str, int, FloatArray]] = []
    swarm_best: dict[str, list[float]] = {}
    with progress() as bar:
        task = bar.add_task("swarm recipes", total=len(variants) * len(seeds) * len(arms))
        for v in variants:
            for seed in seeds:
                x = VARIANTS[v].sample(np.random.default_rng(2600 + seed), problem, RUNS)
                y = _raw(world, x, small, seed * 10_000, processes) + repetition_penalty(world, x)
                swarm_best.setdefault(v, []).append(float(y.min()))
                answers.append((v, "swarm's best small run", seed, x[int(np.argmin(y))]))
                obs = [Observation(weights=w, fidelity=small, metrics={"target": float(t)}) for w, t in zip(x, y, strict=True)]
                for a in arms:
                    answers.append((v, a, seed, _arm(a, problem, seed).fit(obs).recommend().weights))
                    bar.advance(task)
    base = {"uniform": world.mixture("uniform"), "prior": world.prior(), "world's target mixture": world.relevance}
    xs = np.vstack([a[3] for a in answers] + list(base.values()))
    t = _raw(world, xs, "target", 0, processes) + repetition_penalty(world, xs)
    best = float(t.min())
    out: dict[str, Any] = {"best": best, "swarm_best_small": swarm_best, "baselines": {}}
    for k, v in zip(base, t[len(answers):], strict=True):
        out["baselines"][k] = float(v / best - 1)
    for (v, a, seed, w), loss in zip(answers, t, strict=True):
        row = out.setdefault(v, {}).setdefault(a, {"gaps": [], "high_share": []})
        row["gaps"].append(float(loss / best - 1))
        row["high_share"].append(float(w[[n.endswith("/high") for n in world.names]].sum()))
    for v in variants:
        for a, row in out[v].items():
            row["gap_mean"] = float(np.mean(row["gaps"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--out", default="/tmp/swarm_diag.json")
    ap.add_argument("--compare", nargs="*", help="compare these swarm recipes (VARIANTS) instead")
    ap.add_argument("--arms", nargs="+", default=list(COMPARE_ARMS))
    args = ap.parse_args()
    if args.compare is not None:
        res = compare(args.seeds, args.processes, args.compare or list(VARIANTS), args.arms)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
        print(json.dumps(res, indent=1))
        return
    out = []
    with progress() as bar:
        task = bar.add_task("diagnosis", total=len(args.seeds))
        for s in args.seeds:
            out.append(diagnose(s, args.processes, ProposalRecipe()))
            bar.advance(task)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
