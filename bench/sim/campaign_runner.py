"""The campaign runner (``mixopt.campaign``) against doing its work by hand, through a real ``mixopt serve``.

1. Overhead per run: ``RUNS`` runs of a trivial training command (a Python process that reads the mixture and
   writes a metrics JSON), launched one at a time by the runner on the local executor (proposals from a light
   ``regmix``,
   heartbeats, results posted, a recommendation at the end), against the same commands launched by hand in a loop
   (rendered, run, their JSON read) with no server. Overhead = (runner wall - hand wall) / runs, split into the
   server's mixer calls (proposals and the recommendation) and the rest (the runner's own HTTP calls, polling).
   Goal: under 1 s per run.
2. Same answer: a 3-round active ``regmix`` campaign of 8 runs per round (from round 2 on, its proposals depend on
   the results posted before) on the 6-domain simulator world, driven by the
   runner with the simulator as a Python callable trainer, against the loop of ``bench/sim/campaign.py``
   (``run_campaign``) with the same seed: the same proposals round by round, and the same recommendation.

    python -m bench.sim.campaign_runner [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import progress, save_figure, use_quick_results, write_json
from bench.server import running_server
from bench.sim import Job, fidelity, preset_world, run_many
from bench.sim.campaign import OBJECTIVE, Oracle, create_project, run_campaign
from bench.sim.campaigns import FAST_REGMIX
from mixopt.campaign import CampaignRunner, LocalExecutor, RunSpec, render_command
from mixopt.client import Client

RUNS = 48
BATCH = 8
GOAL_OVERHEAD_S = 1.0
ROUNDS = 3
SEED = 7
ACTIVE = {**FAST_REGMIX, "active": True}
# The overhead campaign's mixer: regmix kept light, since its fits are the server's work, not the runner's.
LIGHT = {"n_estimators": 50, "n_candidates": 2000, "top_k": 16, "cv_trees": 10}
# A trivial training job: read the mixture, write one metric.
TRIVIAL = (
    f"{sys.executable} -c \"import json, sys; w = json.load(open(sys.argv[1])); "
    "json.dump(dict(metrics=dict(loss=3.0 + sum((x - 0.3) ** 2 for x in w.values()))), open(sys.argv[2], 'w'))\" "
    "{weights_file} {out}"
)


class TimedClient(Client):
    """A client that adds up the seconds spent in the mixers' calls (proposals and recommendations)."""

    mixer_seconds = 0.0

    def propose(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().propose(*args, **kwargs)
        finally:
            self.mixer_seconds += time.perf_counter() - start

    def recommend(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().recommend(*args, **kwargs)
        finally:
            self.mixer_seconds += time.perf_counter() - start


def by_hand(specs: list[RunSpec]) -> float:
    """Seconds to launch the commands one after another, each rendered, run and its JSON read."""
    start = time.perf_counter()
    for spec in specs:
        Path(spec.workdir).mkdir(parents=True, exist_ok=True)
        Path(spec.weights_file).write_text(json.dumps(spec.weights))
        subprocess.run(["/bin/sh", "-c", render_command(TRIVIAL, spec)], check=True)
        json.loads(Path(spec.out).read_text())
    return time.perf_counter() - start


def overhead(url: str, workdir: Path, runs: int, bar: Any, task: Any) -> dict[str, Any]:
    client = TimedClient(url, timeout=300)
    client.create_project("overhead", ["web", "code", "books", "wiki"], "loss", fidelities=[{"tokens": 1e6}])
    start = time.perf_counter()
    result = CampaignRunner(
        client, "overhead", TRIVIAL, campaign="overhead", mixer="regmix", config=LIGHT, rounds=runs // BATCH,
        batch=BATCH, executor=LocalExecutor(1), parallel=1, workdir=workdir / "runner",
        on_progress=lambda s: bar.update(task, completed=s.done + s.failed),
    ).run()
    runner_wall = time.perf_counter() - start
    assert result.posted == runs and result.recommendation is not None, result
    specs = [
        RunSpec("overhead", "hand", r.id, dict(r.weights), dict(r.fidelity), 1, i, 1,
                str(workdir / "hand" / f"run-{r.id}"))
        for i, r in enumerate(client.list_runs("overhead"))
    ]
    hand_wall = by_hand(specs)
    per_run = (runner_wall - hand_wall) / runs
    return {
        "runs": runs,
        "batch": BATCH,
        "runner_wall_s": runner_wall,
        "hand_wall_s": hand_wall,
        "hand_per_run_s": hand_wall / runs,
        "overhead_per_run_s": per_run,
        "mixer_per_run_s": client.mixer_seconds / runs,
        "runner_own_per_run_s": per_run - client.mixer_seconds / runs,
    }


def sim_trainer(world: Any, base_seed: int) -> Any:
    """The simulator as a callable trainer, seeded as ``run_campaign`` seeds its jobs (base + place in campaign)."""

    def train(spec: RunSpec) -> Mapping[str, Any]:
        [res] = run_many([Job(world, dict(spec.weights), dict(spec.fidelity), base_seed + spec.index)], processes=1)
        return {"metrics": res.metrics, "cost": res.cost}

    return train


def same_answer(url: str, workdir: Path, bar: Any, task: Any) -> dict[str, Any]:
    world = preset_world(6)
    client = Client(url, timeout=300)
    small = fidelity(world, "small")
    [probe] = run_many([Job(world, world.prior(), small, 0)], processes=1)
    budget = probe.cost * BATCH * (ROUNDS - 0.5)  # the loop stops after exactly ROUNDS batches at one fidelity
    oracle = Oracle(world)
    trace = run_campaign(client, world, "loop", "regmix", ACTIVE, budget, SEED, ["small"], oracle, batch=BATCH)
    bar.advance(task)
    loop_project = f"c-loop-{SEED}"
    loop_rec = client.recommend(loop_project, "regmix", config=ACTIVE)
    runner_project = "runner-sim"
    create_project(client, runner_project, world)
    result = CampaignRunner(
        client, runner_project, sim_trainer(world, SEED * 1000), campaign="sim", mixer="regmix", config=ACTIVE,
        rounds=ROUNDS, batch=BATCH, parallel=2, fidelities=[small], seed=SEED * 1000, workdir=workdir / "sim",
    ).run()
    bar.advance(task)
    assert result.recommendation is not None

    def proposals(project: str) -> list[list[list[float]]]:
        by: dict[int, list[list[float]]] = {}
        for r in sorted(client.list_runs(project), key=lambda r: r.id):
            by.setdefault(r.proposal_id or 0, []).append([r.weights[n] for n in world.names])
        return [by[k] for k in sorted(by)]

    loop_props, runner_props = proposals(loop_project), proposals(runner_project)
    same_props = len(loop_props) == len(runner_props) == ROUNDS and all(
        np.allclose(a, b, atol=1e-9) for a, b in zip(loop_props, runner_props, strict=True)
    )
    loop_w = [loop_rec.weights[n] for n in world.names]
    runner_w = [result.recommendation.weights[n] for n in world.names]

    def objective(project: str) -> list[float]:
        return [r.metrics[OBJECTIVE] for r in sorted(client.list_runs(project), key=lambda r: r.id)]

    return {
        "world_domains": world.names,
        "rounds": ROUNDS,
        "batch": BATCH,
        "seed": SEED,
        "loop_rounds": len(trace.points),
        "same_proposals": bool(same_props),
        # the simulator's losses agree to rounding (threads here, processes in the loop)
        "max_metric_difference": float(np.max(np.abs(np.subtract(objective(loop_project), objective(runner_project))))),
        "loop_recommendation": loop_w,
        "runner_recommendation": runner_w,
        "max_weight_difference": float(np.max(np.abs(np.subtract(loop_w, runner_w)))),
        "loop_target_loss": oracle(loop_rec.weights),
        "runner_target_loss": oracle(result.recommendation.weights),
    }


def run(quick: bool = False) -> dict[str, Any]:
    if quick:
        use_quick_results()
    runs = 16 if quick else RUNS
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "server") as url, progress() as bar:
        task = bar.add_task("runner: trivial runs", total=runs)
        over = overhead(url, Path(tmp), runs, bar, task)
        task2 = bar.add_task("simulator: loop, runner", total=2)
        answer = same_answer(url, Path(tmp), bar, task2)
    payload = {"overhead": over, "same_answer": answer, "goal_overhead_s": GOAL_OVERHEAD_S}
    write_json("campaign_runner", payload)
    figure(payload)
    return payload


def figure(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    over, ans = payload["overhead"], payload["same_answer"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    hand, mixer, own = over["hand_per_run_s"], over["mixer_per_run_s"], over["runner_own_per_run_s"]
    left.bar(["by hand"], [hand], color="#888888", label="the command")
    left.bar(["runner"], [hand], color="#888888")
    left.bar(["runner"], [mixer], bottom=[hand], color="#4c72b0", label="mixer calls (server)")
    left.bar(["runner"], [max(own, 0.0)], bottom=[hand + mixer], color="#dd8452", label="runner's own")
    left.set_ylabel("seconds per run")
    left.set_title(f"{over['runs']} trivial runs, one at a time: overhead {over['overhead_per_run_s']:.3f} s/run "
                   f"(goal < {payload['goal_overhead_s']:g})", fontsize=9)
    left.legend(fontsize=8)
    x = np.arange(len(ans["world_domains"]))
    right.bar(x - 0.2, ans["loop_recommendation"], 0.4, label=f"bench loop (target loss {ans['loop_target_loss']:.4f})")
    right.bar(x + 0.2, ans["runner_recommendation"], 0.4,
              label=f"runner (target loss {ans['runner_target_loss']:.4f})")
    right.set_xticks(x, ans["world_domains"])
    right.set_ylabel("recommended weight")
    right.set_title(f"{ans['rounds']} rounds x {ans['batch']} simulator runs, seed {ans['seed']}: same proposals "
                    f"{ans['same_proposals']}", fontsize=9)
    right.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, "campaign_runner")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    over, ans = payload["overhead"], payload["same_answer"]
    return [
        {
            "benchmark": f"campaign runner overhead per run ({over['runs']} runs, local executor)",
            "value": f"{over['overhead_per_run_s']:.3f} s",
            "baseline": f"{over['hand_per_run_s']:.3f} s/run by hand",
            "ratio": f"{over['runner_wall_s'] / over['hand_wall_s']:.2f}",
            "target": f"< {payload['goal_overhead_s']:g} s",
            "ok": over["overhead_per_run_s"] < payload["goal_overhead_s"],
        },
        {
            "benchmark": f"runner vs bench loop, {ans['rounds']}-round simulator campaign",
            "value": f"max weight diff {ans['max_weight_difference']:.2g}",
            "baseline": f"same proposals: {ans['same_proposals']}",
            "ratio": "",
            "target": "same answer",
            "ok": ans["same_proposals"] and ans["max_weight_difference"] < 1e-9,
        },
    ]


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 trivial runs; results under bench/results/quick")
    args = ap.parse_args()
    out = run(args.quick)
    t = Table(title="campaign runner")
    for col in ("benchmark", "value", "baseline", "target", "ok"):
        t.add_column(col)
    for row in table(out):
        t.add_row(*(str(row[c]) for c in ("benchmark", "value", "baseline", "target", "ok")))
    Console().print(t)
    print("wrote bench/results/campaign_runner.json and campaign_runner.png")
