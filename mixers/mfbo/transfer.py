"""The transfer gate: how much each lower fidelity tells about the target, learned from the runs, and which
fidelities a proposal may use because of it.

The transfer of a lower fidelity ``s`` (``fidelity_correlations`` in the diagnostics) is the correlation of the
losses at the mixtures run both at ``s`` and at the target, corrected for the narrow range of those pairs (they
sit at the lower fidelity's best mixtures). Calibration makes the pairs: the cheapest lower fidelity is screened
first (``screen_runs``), then its best mixtures are run at the target until ``calibration_runs`` pairs exist
(:mod:`mixers.mfbo.batches.calibration`). A lower fidelity whose correlation is below ``min_correlation`` is then
no longer proposed; once none with a measured transfer is left, the proposals are the single-fidelity mode's on the
target runs alone, so with weak transfer ``mfbo`` behaves as its single-fidelity mode does (after the
calibration's cost).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from mixers.mfbo.config import MIN_TRANSFER_PAIRS, acquisition_kind
from mixers.mfbo.model import MFBOModel
from mixers.simplex import novel_mask
from mixers.types import FloatArray, PendingRun, fidelity_key

# Two runs are at the same mixture (a pair across fidelities) when no weight differs by more than this.
PAIR_TOL = 1e-6


@dataclass(frozen=True)
class Transfer:
    """Per lower fidelity key of the runs: the measured transfer correlation (None: fewer than
    ``MIN_TRANSFER_PAIRS`` pairs, or no runs at the target) and the number of pairs (mixtures run there and at
    the target)."""

    correlations: dict[str, float | None] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)


def measure_transfer(model: MFBOModel) -> Transfer:
    """Per lower fidelity ``s`` of the runs: how much its runs tell about the target, as a correlation.

    The Pearson correlation (floored at 0) of the losses at the mixtures run both at ``s`` and at the target,
    corrected for their range (:func:`range_corrected_correlation`). Only observed pairs count: on
    bench.replay.mfbo_mf_pool, filling unpaired target mixtures with a GP's prediction at ``s`` collapsed the
    correlation of a fidelity that ranks with Spearman 0.93 to 0.0 to 0.3 once target runs left the pairs (the GP
    on a few runs at ``s`` predicts poorly there), and so did the share of the target runs' leave-one-out error
    that the runs at ``s`` remove.

    This is the correlation the proposals are gated on. The joint kernel's own fidelity factor
    (:func:`kernel_correlation`) is reported too, but it multiplies the whole signal, level offsets included,
    so it stays high when only the offsets transfer and the ranking of mixtures does not (on synthetic pairs
    whose rankings correlate at 0.3 it was fitted at 0.6 to 0.9).
    """
    tkey = fidelity_key(model.target)
    keys = [fidelity_key(o.fidelity) for o in model.used]
    tw, ty = model.level_runs(tkey)
    out: dict[str, float | None] = {}
    pairs: dict[str, int] = {}
    for key in dict.fromkeys(keys):
        if key == tkey:
            continue
        lw, ly = model.level_runs(key)
        if not len(tw) or not len(lw):
            out[key] = None
            continue
        near = cdist(tw, lw, metric="chebyshev") <= PAIR_TOL  # (t, l) same mixture
        has = near.any(axis=1)
        pairs[key] = int(has.sum())
        if int(has.sum()) < MIN_TRANSFER_PAIRS:
            out[key] = None
            continue
        low = (near[has] @ ly) / near[has].sum(axis=1)  # mean of the level's repeats at each paired mixture
        out[key] = range_corrected_correlation(low, ty[has], float(np.std(ly)))
    return Transfer(out, pairs)


def range_corrected_correlation(low: FloatArray, high: FloatArray, population_sd: float) -> float:
    """Pearson correlation (floored at 0) of paired values ``low``, ``high`` ``(n,)``, corrected for the
    restricted range of ``low``: the pairs sit at the best mixtures of the lower fidelity, whose spread there
    (``std(low)``) is a fraction of its spread over all its runs (``population_sd``). Selecting on ``low`` leaves
    the regression of ``high`` on ``low`` unbiased but shrinks the correlation (Thorndike's case II):
    ``r' = r u / sqrt(1 - r^2 + r^2 u^2)`` with ``u = population_sd / std(low)`` (at least 1)."""
    s_low, s_high = float(np.std(low)), float(np.std(high))
    if s_low < 1e-12 or s_high < 1e-12:
        return 0.0
    r = float(np.corrcoef(low, high)[0, 1])
    if r <= 0:
        return 0.0
    u = max(1.0, population_sd / s_low)
    return float(r * u / math.sqrt(1 - r * r + r * r * u * u))


def kernel_correlation(model: MFBOModel, fidelity: Mapping[str, float]) -> float | None:
    """``rho + (1 - rho) exp(-|z / l_z|^2 / 2)``: the fitted kernel's correlation between the target and
    ``fidelity`` at one mixture (the linear-in-fidelity mean term left out: it shifts all mixtures alike)."""
    gp = model.gp
    if gp is None or gp.params is None or not model.features.keys:
        return None
    levels = model.levels()
    if len(levels) < 2 or fidelity_key(model.target) not in levels:
        return None
    if model.at_target(fidelity):
        return 1.0
    p = gp.params
    z = model.features(fidelity)
    kz = math.exp(-0.5 * float(((z / p.fidelity_lengthscales) ** 2).sum()))
    return float(p.rho + (1 - p.rho) * kz)


def fidelity_correlations(model: MFBOModel, transfer: Transfer) -> list[dict[str, Any]]:
    """Per fidelity of the runs: runs there and the learned correlation of the objective (its mixture-dependent
    part) there with the target's, ``None`` where it is not learned (fewer than two fidelities with runs, or no
    target runs)."""
    tkey = fidelity_key(model.target)
    return [{"fidelity": fid, "runs": count,
             "correlation": 1.0 if key == tkey else transfer.correlations.get(key),
             "kernel_correlation": kernel_correlation(model, fid)}
            for key, (fid, count) in model.levels().items()]


def paired_count(model: MFBOModel, low: Mapping[str, float], pending: Sequence[PendingRun]) -> int:
    """Mixtures with a run (done or pending) both at the target and at ``low``."""
    lw = model.existing(pending, [low])[fidelity_key(low)]
    tw = model.existing(pending, [model.target])[fidelity_key(model.target)]
    if not len(lw) or not len(tw):
        return 0
    return int((~novel_mask(tw, lw, PAIR_TOL)).sum())


@dataclass(frozen=True)
class GateDecision:
    """The fidelities a proposal may use, why some were left out (``note``), and whether the cheapest lower
    fidelity is still being calibrated (then ``allowed`` holds only the target)."""

    allowed: list[dict[str, float]]
    note: str = ""
    calibrating: bool = False


def gate(
    model: MFBOModel, transfer: Transfer, allowed: list[dict[str, float]], pending: Sequence[PendingRun]
) -> GateDecision:
    """The allowed fidelities minus those that do not inform the target (see ``min_correlation``), or only the
    target while the cheapest lower fidelity lacks ``calibration_runs`` paired target runs; unchanged where the
    target is not allowed."""
    config = model.config
    if not config.multi_fidelity or len(allowed) < 2 or not model.features.keys:
        return GateDecision(allowed)
    target, low = model.split_target(allowed)
    if not target:
        return GateDecision(allowed)
    paired = paired_count(model, model.cheapest(low), pending)
    if paired < config.calibration_runs:
        note = (f"{paired} mixture(s) run at both the target and the cheapest lower fidelity, "
                f"{config.calibration_runs} wanted to learn how it relates to the target: "
                "screening there and pairing its best mixtures at the target")
        return GateDecision(target, note, calibrating=True)
    keep: list[dict[str, float]] = []
    dropped: list[tuple[dict[str, float], float]] = []
    for f in low:
        corr = transfer.correlations.get(fidelity_key(model.effective(f)))
        if corr is not None and corr < config.min_correlation:
            dropped.append((f, corr))
        else:
            keep.append(f)
    note = ""
    if dropped:
        note = "not proposed (transfer correlation with the target below min_correlation " + \
            f"{config.min_correlation:g}): " + ", ".join(f"{fidelity_key(f)} ({c:.2f})" for f, c in dropped)
    return GateDecision(target + keep, note)


def transfer_closed(
    model: MFBOModel, transfer: Transfer, offered: list[dict[str, float]], decision: GateDecision
) -> bool:
    """Whether no lower fidelity is left that screening may use (none passed the gate with a measured transfer;
    not while calibrating): then the runs there do not inform the target, and the proposals are the
    single-fidelity mode's on the target runs alone (the joint model would still carry the lower fidelities'
    ranking)."""
    if len(offered) < 2 or decision.calibrating or acquisition_kind(model.config) != "screen" or \
            model.config.calibration_runs == 0:
        return False
    target, lows = model.split_target(decision.allowed)
    return bool(target) and all(transfer.correlations.get(fidelity_key(model.effective(f))) is None for f in lows)
