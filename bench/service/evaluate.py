"""``POST .../evaluations`` speed: a 5-fold comparison of ``regmix``, ``mixing_law`` and ``mfbo`` on the 512 demo runs,
as a multiple of one cold ``regmix`` recommendation (DESIGN 5; the goal: at most 3x, stretch 1.5x).

Against a ``mixopt serve --demo`` subprocess, through the Python client, in one run: (a) one cold ``regmix``
recommendation (fresh server: the fit included), the baseline; (b) the evaluation (fresh server again, so no fit is
cached). Also, in this process, (c) the plain way of the evaluation: every fold refits each mixer from scratch, its
own cross-validated diagnostics and hyperparameter search included, one fold after the other
(``OfflineMixer.cross_val_predict`` with the plain runner), on the same runs (read from the server through the
client) and folds.

    python -m bench.service.evaluate
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import progress, write_json
from bench.server import running_server
from mixers import get_mixer_class
from mixers.base import OfflineMixer
from mixers.types import DomainSpec, Objective, Observation, Problem
from mixopt.client import Client

DEMO_PROJECT = "regmix-demo"  # what ``mixopt serve --demo`` creates
MIXERS = ("regmix", "mixing_law", "mfbo")
FOLDS = 5
GOAL_RATIO, STRETCH_RATIO = 3.0, 1.5


def demo_problem(client: Client, project: str) -> tuple[Problem, list[Observation], dict[str, float]]:
    """The project as a mixer sees it, read over HTTP: its Problem, the completed runs that carry the objective
    (in run-id order) and their fidelity."""
    p = client.get_project(project)
    obj = p.objective
    objective = Objective(metrics=dict(obj.get("metrics") or {obj["metric"]: 1.0}),
                          direction=obj.get("direction", "minimize"))
    problem = Problem(
        domains=tuple(DomainSpec(name=d.name, tokens=d.tokens, min_weight=d.min_weight, max_weight=d.max_weight,
                                 max_epochs=d.max_epochs) for d in p.domains),
        objective=objective,
        target_fidelity=p.target_fidelity,
    )
    names = [d.name for d in p.domains]
    runs = sorted(client.list_runs(project, status="completed"), key=lambda r: r.id)
    obs = [
        Observation(weights=np.array([r.weights.get(n, 0.0) for n in names], dtype=np.float64),
                    fidelity=r.fidelity, metrics=r.metrics, cost=r.cost, trajectory=r.trajectory)
        for r in runs
        if objective.value(r.metrics) is not None
    ]
    return problem, obs, runs[0].fidelity


def _old_way(problem: Problem, obs: list[Observation], fidelity: dict[str, float]) -> float:
    """Seconds of the evaluation done the plain way, in-process: full refits per fold, one after the other."""
    order = np.random.default_rng(0).permutation(len(obs))
    fold_of = np.empty(len(obs), dtype=int)
    fold_of[order] = np.arange(len(obs)) % FOLDS
    folds = [([o for o, f in zip(obs, fold_of, strict=True) if f != k],
              [o for o, f in zip(obs, fold_of, strict=True) if f == k]) for k in range(FOLDS)]
    start = time.perf_counter()
    for name in MIXERS:
        cls = get_mixer_class(name)
        mixer = cls(problem, cls.Config(), 0)
        assert isinstance(mixer, OfflineMixer)
        OfflineMixer.cross_val_predict(mixer, folds, fidelity)
    return time.perf_counter() - start


def run() -> dict[str, Any]:
    with progress() as bar, tempfile.TemporaryDirectory() as tmp:
        task = bar.add_task("evaluation speed", total=3)
        with running_server(Path(tmp) / "a", "--demo") as url:
            client = Client(url, timeout=600)
            start = time.perf_counter()
            client.recommend(DEMO_PROJECT, "regmix")
            cold = time.perf_counter() - start
        bar.advance(task)
        with running_server(Path(tmp) / "b", "--demo") as url:
            client = Client(url, timeout=600)
            start = time.perf_counter()
            results = client.evaluate(DEMO_PROJECT, list(MIXERS), folds=FOLDS)
            evaluation = time.perf_counter() - start
            demo = demo_problem(client, DEMO_PROJECT)
        bar.advance(task)
        old = _old_way(*demo)
        bar.advance(task)
    payload = {
        "mixers": list(MIXERS),
        "folds": FOLDS,
        "cold_regmix_recommendation_seconds": cold,
        "evaluation_seconds": evaluation,
        "ratio": evaluation / cold,
        "old_way_seconds": old,
        "old_way_ratio": old / cold,
        "spearman": {r.mixer: r.spearman for r in results},
        "goal_ratio": GOAL_RATIO,
        "stretch_ratio": STRETCH_RATIO,
    }
    write_json("evaluate_speed", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [{
        "benchmark": f"evaluation {', '.join(payload['mixers'])} x {payload['folds']} folds (512 demo runs)",
        "value": f"{payload['evaluation_seconds']:.1f} s (refits per fold: {payload['old_way_seconds']:.1f} s)",
        "baseline": f"{payload['cold_regmix_recommendation_seconds']:.1f} s (one cold regmix recommendation)",
        "ratio": f"{payload['ratio']:.2f} (refits per fold {payload['old_way_ratio']:.2f})",
        "target": f"<= {payload['goal_ratio']:g}x (stretch {payload['stretch_ratio']:g}x)",
        "ok": payload["ratio"] <= payload["goal_ratio"],
    }]


if __name__ == "__main__":
    from rich.console import Console

    out = run()
    Console().print(table(out))
    print("wrote bench/results/evaluate_speed.json")
