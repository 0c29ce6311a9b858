"""The default answer across scale on the simulator: proxies at two fidelities, answers at the target.

The out-of-sample check of ``auto`` that real training could not afford: on the simulator's 6-domain world,
40 RegMix-recipe mixtures are trained at the ``small`` fidelity and 14 at ``medium`` (a new draw per seed); each
arm's recommendation for the ``target`` fidelity (32x the parameters' rank and 16x the tokens of ``small``) is
trained there. Arms: ``auto`` (mfbo on these runs), ``regmix`` (default: the small-scale fit carried over),
``regmix`` with the scale shift, ``mixing_law``, the best small run, uniform and natural (token shares). Gap = target
loss / best known - 1 (the best known: the minimum over the world's own target mixture and every answer here).
Mixers are fitted in-process, as in ``bench.sim.law_trust``.

    python -m bench.sim.scale [--quick] [--seeds 5] [--processes 2]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np

from bench.common import progress, save_figure, stamp, use_quick_results, write_json
from bench.sim import Job, fidelity, preset_world, run_many, target_gaps
from mixers.auto import AutoMixer
from mixers.base import MixerConfig, OfflineMixer
from mixers.mixing_law import MixingLawMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

SMALL_RUNS, MEDIUM_RUNS = 40, 14
MIXER_ARMS: dict[str, tuple[type[OfflineMixer], MixerConfig | None]] = {
    "auto": (AutoMixer, None),
    "regmix": (RegMixMixer, None),
    "regmix_shift": (RegMixMixer, RegMixConfig(scale_transfer="shift")),
    "mixing_law": (MixingLawMixer, None),
}
ARMS = (*MIXER_ARMS, "best_small", "uniform", "natural")


def run(quick: bool = False, seeds: int = 5, processes: int = 2) -> dict[str, Any]:
    if quick:
        use_quick_results()
    world = preset_world(6)
    seed_list = list(range(1 if quick else seeds))
    problem = Problem(
        tuple(DomainSpec(name, tokens=float(t)) for name, t in zip(world.names, world.tokens, strict=True)),
        Objective({"target": 1.0}),
        target_fidelity=fidelity(world, "target"),
    )
    fids = {"small": fidelity(world, "small"), "medium": fidelity(world, "medium")}
    target = fidelity(world, "target")
    answers: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    chosen: list[str] = []
    with progress() as bar:
        task = bar.add_task("proxy runs, fits", total=len(seed_list) * (SMALL_RUNS + MEDIUM_RUNS + len(MIXER_ARMS)))
        for seed in seed_list:
            rng = np.random.default_rng(2000 + seed)
            obs: list[Observation] = []
            for rung, n in (("small", SMALL_RUNS), ("medium", MEDIUM_RUNS)):
                x = ProposalRecipe().sample(rng, problem, n)
                jobs = [Job(world, world.weights_dict(w), fids[rung], seed * 10_000 + len(obs) + i)
                        for i, w in enumerate(x)]
                res = run_many(jobs, processes=processes, on_done=lambda: bar.advance(task))
                obs += [Observation(weights=w, fidelity=fids[rung], metrics=dict(r.metrics), cost=r.cost)
                        for w, r in zip(x, res, strict=True)]
            for arm, (cls, cfg) in MIXER_ARMS.items():
                mixer = cls(problem, cfg, seed=seed).fit(obs)
                rec = mixer.recommend(target)
                answers[arm].append(rec.weights)
                if arm == "auto":
                    chosen.append(str(rec.diagnostics["auto"]["mixer"]))
                bar.advance(task)
            small = [o for o in obs if o.fidelity == fids["small"]]
            answers["best_small"].append(np.asarray(min(small, key=lambda o: o.metrics["target"]).weights))
            answers["uniform"].append(np.full(world.n, 1.0 / world.n))
            answers["natural"].append(np.asarray(world.prior()))
        task2 = bar.add_task("target runs", total=sum(len(ws) for ws in answers.values()) + 1)
        gaps, best, own = target_gaps(world, answers, target, processes, lambda: bar.advance(task2))
    summary = {arm: {"gap_mean": statistics.mean(gaps[arm]), "gaps": gaps[arm]} for arm in ARMS}
    payload = {
        "stamp": stamp(),
        "world": list(world.names), "seeds": seed_list, "small_runs": SMALL_RUNS, "medium_runs": MEDIUM_RUNS,
        "best": best, "world_target_mixture": own, "auto_chose": chosen, "summary": summary,
        "auto_beats": {arm: sum(a < b for a, b in zip(gaps["auto"], gaps[arm], strict=True))
                       for arm in ARMS if arm != "auto"},
    }
    write_json("scale_sim", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    summary = payload["summary"]
    means = [100 * summary[a]["gap_mean"] for a in ARMS]
    ax.bar(ARMS, means, color=["tab:green", "tab:purple", "tab:olive", "tab:pink", "tab:brown", "tab:gray",
                               "tab:blue"])
    for i, a in enumerate(ARMS):
        ax.scatter([i] * len(summary[a]["gaps"]), [100 * g for g in summary[a]["gaps"]], s=8, c="k")
    ax.set_ylabel("gap at the target fidelity (%)")
    ax.set_title(f"simulator, 6 domains: {payload['small_runs']} small + {payload['medium_runs']} medium proxy runs, "
                 f"{len(payload['seeds'])} draws", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    save_figure(fig, "scale_sim")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    s = payload["summary"]
    n = len(payload["seeds"])
    return [{
        "benchmark": "simulator: default (auto) answer at the target from small + medium proxies",
        "value": f"gap {100 * s['auto']['gap_mean']:.2f}%",
        "baseline": ", ".join(f"{a} {100 * s[a]['gap_mean']:.2f}%" for a in ARMS if a != "auto"),
        "ratio": f"auto better than regmix on {payload['auto_beats']['regmix']}/{n} draws",
        "target": "below uniform, natural and the best small run",
        "ok": all(s["auto"]["gap_mean"] < s[a]["gap_mean"] for a in ("uniform", "natural", "best_small")),
    }]


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    rprint(table(run(quick=args.quick, seeds=args.seeds, processes=args.processes)))
