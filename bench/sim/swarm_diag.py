"""Why do the family world's answers lose to uniform? Measurements behind the diagnosis (issue 26 follow-up).

On the world of :mod:`bench.sim.families` (same world, swarm seeds, penalty), per seed:

(a) coverage: the swarm's share of the 13 scarce ``t<k>/high`` domains and its L1 distance to uniform (min,
    median, max), the same for the regmix candidate pool (``dirichlet_candidates``), and the swarm's best small run
    trained at the target;
(b) search: the fitted model's prediction at uniform against its recommendation's;
(c) transfer: Spearman of small vs target loss on the swarm's runs and on a path prior -> uniform -> the world's own
    target mixture (which leaves the swarm's region);
(d) repetition: every target loss with and without the penalty.

(e) fixes, on the same world and seeds: swarm recipes (RegMix's; half the draws uniform-centred; Dirichlet strengths
    up to 50 instead of 5; both) x recommendation search (regmix as is; ``candidate_centers=8``; mixing_law), each
    answer trained at the target (mean of two run seeds, the same for every mixture);
(f) the RegMix runs: ``candidate_centers`` against none, answers scored by an oracle regmix fitted on all 768 runs.

    python -m bench.sim.swarm_diag [--quick] [--processes 2]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.common import progress, use_quick_results, write_json
from bench.sim import Job, build_world, fidelity, run_many
from bench.sim.domains import World
from bench.sim.families import ARMS, FAST_REGMIX, RUNS, WORLD, _problem, repetition_penalty
from mixers.base import OfflineMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.search import dirichlet_candidates
from mixers.types import FloatArray, Observation, Problem

TARGET_SEEDS = (0, 1)
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # prior -> uniform, then uniform -> relevance


def _raw(world: World, x: FloatArray, fid: Any, seed0: int, processes: int) -> FloatArray:
    jobs = [Job(world, world.weights_dict(w), fid, seed0 + i) for i, w in enumerate(x)]
    return np.array([r.metrics["target"] for r in run_many(jobs, processes=processes)])


def _target(world: World, x: FloatArray, processes: int) -> FloatArray:
    """Penalized target losses ``(m,)``: the mean of ``TARGET_SEEDS`` runs per mixture, the same seeds for every
    mixture (common random numbers: a gap between two mixtures is not a difference of run seeds)."""
    jobs = [Job(world, world.weights_dict(w), "target", s) for w in x for s in TARGET_SEEDS]
    res = np.array([r.metrics["target"] for r in run_many(jobs, processes=processes)]).reshape(len(x), -1)
    return np.asarray(res.mean(axis=1) + repetition_penalty(world, x), dtype=np.float64)


def _stats(world: World, x: FloatArray) -> dict[str, list[float]]:
    high = np.array([n.endswith("/high") for n in world.names])
    u = np.full(world.n, 1.0 / world.n)
    hs, l1 = x[:, high].sum(axis=1), np.abs(x - u).sum(axis=1)
    q = (0.0, 0.5, 0.99, 1.0)
    return {"high_share": np.quantile(hs, q).round(4).tolist(), "l1_to_uniform": np.quantile(l1, q).round(3).tolist()}


def diagnose(seed: int, processes: int, recipe: ProposalRecipe) -> dict[str, Any]:
    world = build_world(WORLD)
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
    best = float(t.min())
    pred_path = mixer.predict(path).mean
    return {
        "seed": seed,
        "swarm": _stats(world, x),
        "candidates": _stats(world, cands),
        "recommendation": {
            **_stats(world, rec[None, :]),
            "target": trec,
            "predicted_small": float(mixer.predict(rec[None, :]).mean[0]),
        },
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
    "strengths to 50": ProposalRecipe(strength_max=50.0),
}
COMPARE_ARMS = ("regmix", "mixing_law", "auto")
EXTRA_ARMS: dict[str, tuple[type[OfflineMixer], dict[str, Any]]] = {
    "regmix centres": (RegMixMixer, {**FAST_REGMIX, "features": "weights", "candidate_centers": 8}),
}


def _make(name: str, problem: Problem, seed: int) -> OfflineMixer:
    cls, cfg = {**ARMS, **EXTRA_ARMS}[name]
    return cls(problem, cls.Config.model_validate(cfg), seed)


def compare(seeds: list[int], processes: int, variants: list[str], arms: list[str]) -> dict[str, Any]:
    """Each swarm recipe of ``variants`` on the family world: the arms' answers trained at the target, gap to the
    best mixture trained at the target in this same run (uniform, prior and the world's target mixture included)."""
    world = build_world(WORLD)
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
                obs = [
                    Observation(weights=w, fidelity=small, metrics={"target": float(t)})
                    for w, t in zip(x, y, strict=True)
                ]
                for a in arms:
                    answers.append((v, a, seed, _make(a, problem, seed).fit(obs).recommend().weights))
                    bar.advance(task)
    base = {"uniform": world.mixture("uniform"), "prior": world.prior(), "world's target mixture": world.relevance}
    xs = np.vstack([a[3] for a in answers] + list(base.values()))
    t = _target(world, xs, processes)
    best = float(t.min())
    out: dict[str, Any] = {"best": best, "swarm_best_small": swarm_best, "baselines": {}}
    for k, v in zip(base, t[len(answers) :], strict=True):
        out["baselines"][k] = float(v / best - 1)
    for (v, a, _seed, w), loss in zip(answers, t[: len(answers)], strict=True):
        row = out.setdefault(v, {}).setdefault(a, {"gaps": [], "high_share": []})
        row["gaps"].append(float(loss / best - 1))
        row["high_share"].append(float(w[[n.endswith("/high") for n in world.names]].sum()))
    for v in variants:
        for row in out[v].values():
            row["gap_mean"] = float(np.mean(row["gaps"]))
    return out


def regmix_check(sizes: tuple[int, ...] = (64, 128), seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    """On the RegMix 1M runs (no ground truth off the recorded mixtures): ``regmix`` fitted on random subsets of the
    512 train runs recommends with and without ``candidate_centers``; each answer is scored by an oracle ``regmix``
    fitted on all 768 runs (train + test), the Pile-CC loss it predicts (lower is better), beside the oracle's value
    at the subset's best observed run."""
    import time

    import pandas as pd

    from bench.common import DEMO_DATA
    from bench.sim.families import REGMIX_TARGET

    def load(split: str) -> tuple[FloatArray, FloatArray, list[str]]:
        mix = pd.read_csv(DEMO_DATA / f"{split}_mixture_1m.csv")
        df = mix.merge(pd.read_csv(DEMO_DATA / f"{split}_pile_loss_1m.csv"), on="index")
        cols = [c for c in mix.columns if c != "index"]
        w = df[cols].to_numpy(np.float64)
        return w / w.sum(axis=1, keepdims=True), df[REGMIX_TARGET].to_numpy(np.float64), cols

    x, y, cols = load("train")
    xt, yt, _ = load("test")
    shares = pd.read_csv(DEMO_DATA / "domains.csv").set_index("domain")["token_share"]
    from mixers.types import DomainSpec, Objective

    problem = Problem(tuple(DomainSpec(c, tokens=float(shares[c])) for c in cols), Objective({REGMIX_TARGET: 1.0}))
    fid = {"params": 1e6, "tokens": 1e9}

    def obs(xs: FloatArray, ys: FloatArray) -> list[Observation]:
        return [
            Observation(weights=w, fidelity=fid, metrics={REGMIX_TARGET: float(v)}) for w, v in zip(xs, ys, strict=True)
        ]

    oracle = RegMixMixer(problem, None, 0).fit(obs(np.vstack([x, xt]), np.concatenate([y, yt])))
    out: dict[str, Any] = {}
    for size in sizes:
        for seed in seeds:
            rows = np.random.default_rng(seed).permutation(len(x))[:size]
            row = out.setdefault(str(size), {"best_observed": [], "centres 0": [], "centres 8": [], "seconds": {}})
            row["best_observed"].append(float(oracle.predict(x[rows][np.argmin(y[rows])][None, :]).mean[0]))
            for k in (0, 8):
                m = RegMixMixer(problem, RegMixConfig(candidate_centers=k), seed).fit(obs(x[rows], y[rows]))
                t0 = time.perf_counter()
                w = m.recommend().weights
                row["seconds"].setdefault(str(k), []).append(time.perf_counter() - t0)
                row[f"centres {k}"].append(float(oracle.predict(w[None, :]).mean[0]))
    return out


COMPARED = ("regmix recipe", "half uniform-centred", "strengths to 50", "half uniform-centred, strengths to 50")


def run(quick: bool = False, processes: int = 2) -> dict[str, Any]:
    """The diagnosis on each seed, the recipe and search comparison, the RegMix-data check; saved as swarm_diag."""
    if quick:
        use_quick_results()
    seeds = [0] if quick else [0, 1, 2]
    with progress() as bar:
        task = bar.add_task("diagnosis (default swarm)", total=len(seeds))
        diag = []
        for s in seeds:
            diag.append(diagnose(s, processes, ProposalRecipe()))
            bar.advance(task)
    payload = {
        "diagnosis": diag,
        "compare": compare(seeds, processes, list(COMPARED), ["regmix", "regmix centres", "mixing_law"]),
        "regmix": regmix_check(seeds=tuple(seeds)),
    }
    write_json("swarm_diag", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    c = payload["compare"]
    uni = c["baselines"]["uniform"]
    rows = []
    for v, arm in (("regmix recipe", "regmix"), ("half uniform-centred, strengths to 50", "regmix centres")):
        gap = c[v][arm]["gap_mean"]
        rows.append(
            {
                "benchmark": f"family world, gap at target: {arm} on the {v} swarm",
                "value": f"{100 * gap:.2f}%",
                "baseline": f"{100 * uni:.2f}% (uniform)",
                "ratio": f"{gap / uni:.3f}" if uni > 0 else "",
                "target": "",
                "ok": gap < uni,
            }
        )
    rm = payload["regmix"][max(payload["regmix"], key=int)]
    plain, centred = (statistics.mean(rm[k]) for k in ("centres 0", "centres 8"))
    rows.append(
        {
            "benchmark": "RegMix runs: oracle-predicted Pile-CC loss of regmix's answer with candidate_centers=8",
            "value": f"{centred:.4f}",
            "baseline": f"{plain:.4f} (candidate_centers=0)",
            "ratio": "",
            "target": "",
            "ok": centred <= plain,
        }
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    out = run(args.quick, args.processes)
    for row in table(out):
        print(row)
    print("wrote bench/results/swarm_diag.json")


if __name__ == "__main__":
    main()
