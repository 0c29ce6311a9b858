"""The screening batch of ``mfbo`` (its default multi-fidelity acquisition): with a lower fidelity that passed
the transfer gate, the target's expected improvement picks the mixture, which is run at that cheap fidelity first
if it has no run there; a screened mixture is climbed to the target once its cheap value beats that of every
mixture run at the target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixers.cancel import checkpoint
from mixers.mfbo.acquisition import cost_aware_acquisition, novel_only
from mixers.mfbo.batches.believer import Pick, batch_candidates, believe, fantasize_pending
from mixers.mfbo.candidates import refine_starts
from mixers.mfbo.config import acquisition_kind
from mixers.mfbo.model import MFBOModel
from mixers.mfbo.transfer import Transfer
from mixers.simplex import novel_mask
from mixers.types import FloatArray, PendingRun, fidelity_key


def screens(model: MFBOModel, allowed: list[dict[str, float]]) -> bool:
    """Whether the target and a lower fidelity are both allowed under the ``screen`` acquisition."""
    if acquisition_kind(model.config) != "screen" or not model.config.multi_fidelity:
        return False
    n_t = sum(model.at_target(f) for f in allowed)
    return n_t == 1 and len(allowed) > 1


def screen_batch(
    rng: np.random.Generator, model: MFBOModel, transfer: Transfer, n: int, allowed: list[dict[str, float]],
    costs: FloatArray, pending: Sequence[PendingRun], pool: FloatArray | None, existing: dict[str, FloatArray],
    tol: float,
) -> list[Pick]:
    """Screen, then climb: each pick is the mixture of highest expected improvement at the target (the model
    carries the lower-fidelity runs over to it); it is run at the cheapest allowed lower fidelity that passed
    the gate where it has no run yet, else at the target. Before each pick, the best screened mixture is
    climbed to the target when :func:`climb` says so. Kriging-believer fantasies between picks, as in
    :func:`mixers.mfbo.batches.believer_batch`. (Running a new pick at the target directly once the model is sure
    of it at the lower fidelity spent target runs on mixtures a screen would have ruled out.)"""
    gp = fantasize_pending(model, model.require_gp(), pending)
    keys = [fidelity_key(f) for f in allowed]
    ti = next(i for i, f in enumerate(allowed) if model.at_target(f))
    # Only lower fidelities whose transfer was measured (and passed the gate) screen: an unmeasured one
    # would spend on a link the runs have not shown (unless calibration is off: then every one is trusted).
    trust = model.config.calibration_runs == 0
    lows = sorted((i for i in range(len(allowed)) if i != ti and costs[i] < costs[ti]
                   and (trust or transfer.correlations.get(fidelity_key(model.effective(allowed[i]))) is not None)),
                  key=lambda i: costs[i])
    cands = batch_candidates(rng, model, gp, model.feasible_observed(), pool)
    ref = {k: existing[k] for k in keys}
    ok = novel_mask(cands, ref[keys[ti]], tol)
    climb_w, climb_y = screened(model, allowed, lows)
    chosen: list[Pick] = []
    for _ in range(n):
        checkpoint()
        if not ok.any():
            break
        w_up = climb(climb_w, climb_y, ref[keys[ti]], tol)
        if w_up is not None:
            chosen.append((w_up.copy(), allowed[ti]))
            ref[keys[ti]] = np.vstack([ref[keys[ti]], w_up])
            ok &= np.abs(cands - w_up).max(axis=1) > tol
            gp = believe(model, gp, w_up, allowed[ti])
            continue
        acq = cost_aware_acquisition(model, gp, [allowed[ti]], costs[ti : ti + 1], cands[:1])
        flat = np.where(ok, acq(cands, [0])[0], -np.inf)
        if pool is None and model.config.refine_top > 0:
            top = np.argsort(-flat, kind="stable")[: model.config.refine_top]
            w, sc = refine_starts(rng, model, novel_only(acq, 0, ref[keys[ti]], tol), cands[top], flat[top])
            best_w = w[int(np.argmax(sc))]
        else:
            best_w = cands[int(np.argmax(flat))]
        # A new mixture is screened first; one already screened is run at the target (the GP's pick).
        si = next((li for li in lows if novel_mask(best_w[None, :], ref[keys[li]], tol)[0]), ti)
        fid = allowed[si]
        chosen.append((best_w.copy(), fid))
        ref[keys[si]] = np.vstack([ref[keys[si]], best_w])
        ok &= np.abs(cands - best_w).max(axis=1) > tol
        gp = believe(model, gp, best_w, fid)
    return chosen


def screened(model: MFBOModel, allowed: list[dict[str, float]], lows: list[int]) -> tuple[FloatArray, FloatArray]:
    """Mixtures ``(k, d)`` run at the cheapest screening fidelity ``allowed[lows[0]]`` and their losses ``(k,)``
    there, those inside the bounds."""
    if not lows:
        return np.zeros((0, model.problem.d)), np.zeros(0)
    w, y = model.level_runs(fidelity_key(model.effective(allowed[lows[0]])))
    ok = model.problem.feasible(w) if len(w) else np.zeros(0, dtype=bool)
    return w[ok], y[ok]


def climb(w: FloatArray, y: FloatArray, at_target: FloatArray, tol: float) -> FloatArray | None:
    """The screened mixture ``(d,)`` to run at the target next: of ``w`` ``(k, d)`` with screening losses ``y``
    ``(k,)``, the one with the best loss among those without a target run (``at_target`` ``(t, d)``), when it
    beats the screening loss of every mixture run at the target (with a fidelity that passed the gate, the best
    screened mixture is the target's most promising one)."""
    if len(w) == 0:
        return None
    free = novel_mask(w, at_target, tol) if len(at_target) else np.ones(len(w), dtype=bool)
    if not free.any() or free.all():
        return None
    i = int(np.flatnonzero(free)[np.argmin(y[free])])
    return w[i] if y[i] < y[~free].min() else None
