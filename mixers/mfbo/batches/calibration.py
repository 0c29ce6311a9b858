"""The calibration batch of ``mfbo``: the runs that let the transfer gate measure how much the cheapest lower
fidelity tells about the target (screening there, then its best mixtures paired at the target)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from mixers.cancel import checkpoint
from mixers.mfbo.batches.believer import Pick, believer_batch
from mixers.mfbo.model import MFBOModel
from mixers.mfbo.transfer import paired_count
from mixers.proposals import POOL_TOL
from mixers.simplex import novel_mask
from mixers.types import FloatArray, PendingRun, fidelity_key

# The default screening before calibration pairs is capped at this many runs per domain.
SCREEN_RUNS_PER_DOMAIN = 20


def screen_runs(model: MFBOModel, low: Mapping[str, float], target: Mapping[str, float]) -> int:
    """Runs at ``low`` before calibration pairs: ``screen_runs``, or by default a BO initial design
    (``max(5, 2 d)``) and at least one target run's worth of cost (``cost(target) / cost(low)``, at most
    ``SCREEN_RUNS_PER_DOMAIN * d``). Where a cheap run costs 1/115 of a target run (the simulator campaigns
    of bench.sim.campaigns), 12 screens before the 3 calibration pairs left the recommendation 1.7% off
    the best mixture after 8 target runs' cost; 116 screens brought it within 1% at 0.35."""
    if model.config.screen_runs is not None:
        return model.config.screen_runs
    d = model.problem.d
    design = max(5, 2 * d)
    costs = model.costs([low, target])
    worth = math.ceil(float(costs[1] / costs[0]) - 1e-9)
    return max(design, min(worth, SCREEN_RUNS_PER_DOMAIN * d))


def calibration_batch(
    rng: np.random.Generator, model: MFBOModel, n: int, target: dict[str, float], offered: list[dict[str, float]],
    pending: Sequence[PendingRun], pool: FloatArray | None, tol: float,
) -> list[Pick]:
    """Screen, then pair: while the cheapest lower fidelity of ``offered`` has fewer than ``screen_runs`` runs, the
    whole batch screens there (expected improvement at that fidelity); then its best mixtures not yet run at the
    ``target`` are climbed there until ``calibration_runs`` pairs exist, and the rest of the batch screens.
    The pairs measure the transfer (:func:`mixers.mfbo.transfer.measure_transfer`); where the fidelity
    transfers, the climbed mixtures are also the target's most promising ones."""
    low = model.cheapest(model.split_target(offered)[1])
    lw, ly = model.level_runs(fidelity_key(model.effective(low)))
    usable = model.problem.feasible(lw) if len(lw) else np.zeros(0, dtype=bool)
    if pool is not None and len(lw):
        usable &= ~novel_mask(lw, pool, POOL_TOL)
    existing_low = model.existing(pending, [low])[fidelity_key(low)]
    chosen: list[Pick] = []
    if len(existing_low) >= screen_runs(model, low, target):
        paired_ref = model.existing(pending, [target])[fidelity_key(target)]
        need = model.config.calibration_runs - paired_count(model, low, pending)
        for _ in range(min(need, n)):
            checkpoint()
            free = usable & (novel_mask(lw, paired_ref, tol) if len(paired_ref) else True)
            idx = np.flatnonzero(free)
            if len(idx) == 0:
                break
            i = int(idx[np.argmin(ly[idx])])
            chosen.append((lw[i].copy(), target))
            paired_ref = np.vstack([paired_ref, lw[i]]) if len(paired_ref) else lw[i][None, :]
    rest = n - len(chosen)
    if rest > 0:
        more = [*pending, *(PendingRun(weights=w, fidelity=f) for w, f in chosen)]
        existing = model.existing(more, [low])
        chosen += believer_batch(rng, model, rest, [low], model.costs([low]), more, pool, existing, tol,
                                 own_level=True)
    return chosen
