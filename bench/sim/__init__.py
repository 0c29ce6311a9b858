"""Proxy-run simulator: a low-rank bigram language model trained in numpy on synthetic Markov-chain domains.

``preset_world(6)`` (or ``make_world(...)``) builds the domains and the target; ``run(world, weights,
fidelity, seed)`` trains one proxy run; ``Trainer`` is the step-by-step run for online mixing;
``run_many(jobs, processes=2)`` runs a batch in a process pool. Metric names: ``"val/<domain>"`` and
``"target"`` (validation losses in nats/token). See bench/README.md, section "Simulator".
"""

from bench.sim.domains import NOISE, PRESETS, World, WorldSpec, build_world, make_world, preset_world
from bench.sim.model import LowRankBigram, n_params, rank_for_params
from bench.sim.runner import (
    FIDELITY_PRESETS,
    Job,
    RunResult,
    Trainer,
    fidelity,
    resolve_fidelity,
    run,
    run_many,
    target_gaps,
)

__all__ = [
    "FIDELITY_PRESETS",
    "NOISE",
    "PRESETS",
    "Job",
    "LowRankBigram",
    "RunResult",
    "Trainer",
    "World",
    "WorldSpec",
    "build_world",
    "fidelity",
    "make_world",
    "n_params",
    "preset_world",
    "rank_for_params",
    "resolve_fidelity",
    "run",
    "run_many",
    "target_gaps",
]
