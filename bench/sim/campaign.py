"""Campaigns: a mixer chooses proxy runs, the simulator trains them, until a cost budget is spent.

Drives a running mixopt over HTTP only, through the Python client. Per batch: ``propose`` (with the allowed
proxy fidelities), train the batch in the simulator on both cores, ``post_result`` each run, then ask for the
recommendation and train it at the target fidelity. That last run is the benchmark's oracle: it is not charged
to the budget, and it gives "best-found target loss against cost spent". Simulator results are cached by
(mixture, fidelity, seed).

Random baseline: Dirichlet(prior) mixtures at the cheapest fidelity, posted as completed runs; its "best found"
is the target-fidelity loss of the best observed proxy run's mixture (the fair analogue of a recommendation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.sim import Job, World, fidelity, run_many
from mixopt.client import Client

OBJECTIVE = "target"


@dataclass
class Oracle:
    """Target-fidelity loss of a mixture, cached (the same seed for every evaluation)."""

    world: World
    seed: int = 0
    cache: dict[tuple[float, ...], float] = field(default_factory=dict)

    def __call__(self, weights: dict[str, float]) -> float:
        key = tuple(round(weights[n], 4) for n in self.world.names)
        if key not in self.cache:
            [res] = run_many([Job(self.world, dict(weights), fidelity(self.world, "target"), self.seed)], processes=1)
            self.cache[key] = float(res.metrics[OBJECTIVE])
        return self.cache[key]


@dataclass
class Trace:
    mixer: str
    seed: int
    points: list[dict[str, float]] = field(default_factory=list)  # {"cost", "best", "runs"}

    def cost_to(self, threshold: float) -> float | None:
        """Cost spent when the best-found loss first came within ``threshold`` (None: never)."""
        return next((p["cost"] for p in self.points if p["best"] <= threshold), None)


def create_project(client: Client, name: str, world: World) -> None:
    client.delete_project(name, missing_ok=True, purge=True)
    client.create_project(
        name,
        world.domain_specs(),
        {"metric": OBJECTIVE, "direction": "minimize"},
        target_fidelity=fidelity(world, "target"),
    )


def run_campaign(
    client: Client,
    world: World,
    label: str,
    mixer: str,
    config: dict[str, Any] | None,
    budget: float,
    seed: int,
    fidelities: list[str],
    oracle: Oracle,
    batch: int = 8,
) -> Trace:
    """One campaign of ``mixer`` (or ``"random"``) until ``budget`` cost units are spent."""
    project = f"c-{label}-{seed}"
    create_project(client, project, world)
    fids = [fidelity(world, f) for f in fidelities]
    trace, spent, best, rng = Trace(label, seed), 0.0, float("inf"), np.random.default_rng(seed)
    observed: list[tuple[float, dict[str, float]]] = []
    jobs: list[Job]
    while spent < budget:
        if mixer == "random":
            mixtures = rng.dirichlet(world.prior() * len(world.names), batch)
            jobs = [
                Job(world, world.weights_dict(w), fids[0], seed * 1000 + len(observed) + i)
                for i, w in enumerate(mixtures)
            ]
            results = run_many(jobs, processes=2)
            client.add_runs(
                project,
                [
                    {"weights": j.weights, "fidelity": j.fidelity, "metrics": r.metrics, "cost": r.cost}
                    for j, r in zip(jobs, results, strict=True)
                ],
            )
        else:
            proposal = client.propose(
                project, mixer, n=batch, config=config, fidelities=fids, seed=seed * 1000 + len(observed)
            )
            jobs = [
                Job(world, dict(r.weights), dict(r.fidelity), seed * 1000 + len(observed) + i)
                for i, r in enumerate(proposal.runs)
            ]
            results = run_many(jobs, processes=2)
            for r, res in zip(proposal.runs, results, strict=True):
                client.post_result(project, r.id, res.metrics, cost=res.cost)
        for j, res in zip(jobs, results, strict=True):
            spent += res.cost
            observed.append((float(res.metrics[OBJECTIVE]), world.weights_dict(j.weights)))
        if mixer == "random":
            candidate = min(observed, key=lambda o: o[0])[1]
        else:
            candidate = client.recommend(project, mixer, config=config).weights
        best = min(best, oracle(candidate))
        trace.points.append({"cost": spent, "best": best, "runs": len(observed)})
    return trace
