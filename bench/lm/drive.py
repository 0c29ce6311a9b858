"""The three ways to drive the reference trainer from mixopt, each a few lines to copy into a training script.

(a) offline: ask a mixer for a batch of mixtures, train each, post the results with their cost;
(b) online: follow an Aioli session, reporting per-domain validation losses at the directives' steps;
(c) static: train at a recommended mixture.

``make_trainer(weights_or_none) -> Trainer`` builds a fresh model for one run (the caller chooses size, steps,
device and seed). The benchmarks in :mod:`bench.lm` run exactly these functions in their worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.lm.trainer import Trainer
from mixopt import Client


def train_static(trainer: Trainer, weights: Mapping[str, float]) -> dict[str, float]:
    """Train ``total_steps`` at one mixture; returns the final per-domain validation losses."""
    for _ in range(trainer.cfg.total_steps):
        trainer.train_step(weights)
    return trainer.evaluate()


def train_proposed_run(
    client: Client, project: str, run_id: int, weights: Mapping[str, float], trainer: Trainer
) -> dict[str, float]:
    """(a) Train one proposed run and post its result: per-domain (and held-out target) losses plus the mean over
    the training domains, cost in PFLOP."""
    losses = train_static(trainer, weights)
    domains = trainer.data.domains
    metrics = {f"val/{k}": v for k, v in losses.items()} | {"val/mean": sum(losses[d] for d in domains) / len(domains)}
    client.post_result(project, run_id, metrics, cost=trainer.flops() / 1e15)
    return metrics


def run_offline_batch(
    client: Client, project: str, mixer: str, n: int, make_trainer: Callable[[], Trainer], **propose: Any
) -> list[dict[str, float]]:
    """(a) One round of an offline campaign, sequentially: propose ``n`` runs, train and post each."""
    proposal = client.propose(project, mixer, n=n, **propose)
    return [train_proposed_run(client, project, run.id, run.weights, make_trainer()) for run in proposal.runs]


def train_online(
    client: Client,
    project: str,
    trainer: Trainer,
    config: Mapping[str, Any] | None = None,
    seed: int | None = None,
    from_recommendation: Mapping[str, Any] | None = None,
    report_targets: Sequence[str] = (),
) -> tuple[dict[str, float], dict[str, Any]]:
    """(b) Train ``total_steps`` under an Aioli session; returns the final losses and the session's record
    (final weights, number of reports, seconds spent in the mixer's HTTP calls and in probe evaluations, the
    trajectory of the weights). ``from_recommendation`` (``{"mixer": ...}``) starts the session from that
    offline mixer's recommendation (the hand-off); ``report_targets`` adds these held-out targets' losses to every
    report as ``val/<target>``, so a project whose objective is a target learns A's rows for it."""
    steps = trainer.cfg.total_steps
    helper = client.online(
        project, "aioli", config=config, total_steps=steps, seed=seed, from_recommendation=from_recommendation
    )
    probe_seconds = 0.0
    trajectory: list[dict[str, Any]] = []

    def probe() -> dict[str, float]:
        nonlocal probe_seconds
        t = time.perf_counter()
        losses = trainer.probe(targets=bool(report_targets))
        probe_seconds += time.perf_counter() - t
        report = {k: v for k, v in losses.items() if k in trainer.data.train}
        report |= {f"val/{k}": losses[k] for k in report_targets}
        trajectory.append({"step": trainer.step, "weights": dict(helper.weights), "losses": report})
        return report

    t_mixer = 0.0
    for step in range(steps):
        t = time.perf_counter()
        weights = helper.step(step, probe)  # calls probe() only when a report is due
        t_mixer += time.perf_counter() - t
        trainer.train_step(weights)
    t = time.perf_counter()
    helper.step(steps, probe)  # the final report closes the session
    t_mixer += time.perf_counter() - t
    record = {
        "session": helper.session_id,
        "final_weights": helper.weights,
        "reports": helper.reports,
        "mixer_seconds": t_mixer - probe_seconds,
        "probe_seconds": probe_seconds,
        "done": helper.done,
        "start": helper.start_source,
        "trajectory": trajectory,
    }
    return trainer.evaluate(), record


def train_recommended(
    client: Client, project: str, mixer: str, trainer: Trainer, **recommend: Any
) -> tuple[dict[str, float], dict[str, float]]:
    """(c) Train at the mixer's recommended static mixture; returns it and the final losses."""
    weights = client.recommend(project, mixer, **recommend).weights
    return weights, train_static(trainer, weights)
