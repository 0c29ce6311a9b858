"""``mixing_law``'s trust region: the gap of its recommendation at the target fidelity, before and after.

A reduced form of the ``mixing_law-small`` campaign arm (``bench/sim/campaigns.py``): on the 6-domain simulator
world, ``RUNS`` RegMix-recipe mixtures are trained at the small fidelity (the arm's proposals are the same recipe
draws), the law is fitted in-process, and its recommendation is trained at the target fidelity. The runs carry every
metric the simulator reports (the target and a validation loss per domain), as the campaign posts them. Arms, on the
same runs: the law's old answer (the objective's own law, ``trust_region: false``: a vertex for one metric), the
objective's own law in its trust region (``domain_laws: false``), the default (per-domain laws, the target as a
non-negative combination of them), and ``regmix`` (``model: auto``) for reference. Gap = target loss of the
recommendation / best known - 1, the best known being the minimum over the world's own target mixture and every
mixture evaluated here.

    python -m bench.sim.law_trust [--quick] [--domains 6] [--processes 2]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np

from bench.common import progress, save_figure, use_quick_results, write_json
from bench.sim import Job, fidelity, preset_world, run_many, target_gaps
from mixers.base import MixerConfig
from mixers.mixing_law import MixingLawConfig, MixingLawMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.single_fidelity import SingleFidelityMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

RUNS = 256
GOAL_GAP = 0.02
DEFAULT = "law (default: domain laws)"
ARMS: dict[str, tuple[type[SingleFidelityMixer], MixerConfig]] = {
    "law (vertex, before)": (MixingLawMixer, MixingLawConfig(trust_region=False, domain_laws=False)),
    "law (own law, trust region)": (MixingLawMixer, MixingLawConfig(domain_laws=False)),
    DEFAULT: (MixingLawMixer, MixingLawConfig()),
    "regmix auto": (RegMixMixer, RegMixConfig(n_candidates=20_000, top_k=32)),
}


def run(quick: bool = False, domains: int = 6, processes: int = 2) -> dict[str, Any]:
    if quick:
        use_quick_results()
    world = preset_world(domains)
    seeds = [0] if quick else [0, 1, 2]
    n_runs = 96 if quick else RUNS
    problem = Problem(
        tuple(DomainSpec(name, tokens=float(t)) for name, t in zip(world.names, world.tokens, strict=True)),
        Objective({"target": 1.0}),
        target_fidelity=fidelity(world, "target"),
    )
    small, target = fidelity(world, "small"), fidelity(world, "target")
    answers: dict[str, list[np.ndarray]] = {label: [] for label in ARMS}
    with progress() as bar:
        task = bar.add_task("small runs, fits", total=len(seeds) * (n_runs + len(ARMS)))
        for seed in seeds:
            x = ProposalRecipe().sample(np.random.default_rng(1000 + seed), problem, n_runs)
            jobs = [Job(world, world.weights_dict(w), small, seed * 10_000 + i) for i, w in enumerate(x)]
            res = run_many(jobs, processes=processes, on_done=lambda: bar.advance(task))
            obs = [Observation(weights=w, fidelity=small, metrics=dict(r.metrics)) for w, r in zip(x, res, strict=True)]
            for label, (cls, cfg) in ARMS.items():
                answers[label].append(cls(problem, cfg, seed=seed).fit(obs).recommend().weights)
                bar.advance(task)
        task2 = bar.add_task("target runs", total=sum(len(ws) for ws in answers.values()) + 1)
        gaps, best, own = target_gaps(world, answers, target, processes, lambda: bar.advance(task2))
    summary: dict[str, Any] = {}
    for label in ARMS:
        summary[label] = {
            "gap_mean": statistics.mean(gaps[label]),
            "gaps": gaps[label],
            "max_weight_mean": statistics.mean(float(w.max()) for w in answers[label]),
            "weights": [w.tolist() for w in answers[label]],
        }
    payload = {"world": list(world.names), "seeds": seeds, "runs_per_seed": n_runs, "best": best,
               "best_known_target_mixture": own, "goal_gap": GOAL_GAP, "summary": summary}
    name = "law_trust" if domains == 6 else f"law_trust_{domains}d"
    if domains == 6:  # the file `python -m bench` reads back
        write_json("law_trust", payload)
    else:
        write_json(name, payload)
    _plot(payload, name)
    return payload


def _plot(payload: dict[str, Any], name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = list(payload["summary"])
    for i, label in enumerate(labels):
        gaps = 100 * np.array(payload["summary"][label]["gaps"])
        ax.scatter(np.full(len(gaps), i), gaps, alpha=0.7)
        ax.hlines(gaps.mean(), i - 0.2, i + 0.2, color="black")
    ax.axhline(100 * payload["goal_gap"], color="grey", linestyle="--", label="goal: 2%")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylabel("gap to the best known target loss (%)")
    ax.set_title(f"Recommendation from {payload['runs_per_seed']} small runs, at the target fidelity")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, name)
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    s = payload["summary"]
    before, after = s["law (vertex, before)"]["gap_mean"], s[DEFAULT]["gap_mean"]
    return [{
        "benchmark": f"mixing_law gap at target ({payload['runs_per_seed']} small runs, {len(payload['seeds'])} seeds)",
        "value": f"{100 * after:.2f}% (domain laws)",
        "baseline": f"{100 * before:.2f}% (vertex answer, before)",
        "ratio": f"{after / before:.3f}" if before > 0 else "",
        "target": f"< {100 * GOAL_GAP:g}%",
        "ok": after < GOAL_GAP,
    }]


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--domains", type=int, default=6, help="the preset world (5, 6 or 7 domains: 6 is the figure)")
    ap.add_argument("--processes", type=int, default=2, help="simulator processes")
    args = ap.parse_args()
    out = run(args.quick, args.domains, args.processes)
    t = Table(title="recommendation's gap at the target fidelity")
    for col in ("arm", "mean gap %", "per seed %", "mean max weight"):
        t.add_column(col)
    for label, r in out["summary"].items():
        t.add_row(label, f"{100 * r['gap_mean']:.2f}", ", ".join(f"{100 * g:.2f}" for g in r["gaps"]),
                  f"{r['max_weight_mean']:.2f}")
    Console().print(t)
    name = "law_trust" if args.domains == 6 else f"law_trust_{args.domains}d"
    print(f"wrote bench/results/{name}.json and {name}.png")
