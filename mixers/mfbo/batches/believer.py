"""Kriging-believer batches of ``mfbo``: the fantasies every acquisition-driven batch shares, and the batch of
the knowledge gradient or (augmented) expected improvement per unit cost over every allowed fidelity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mixers.cancel import checkpoint
from mixers.gp import ExactGP
from mixers.mfbo.acquisition import cost_aware_acquisition, novel_only
from mixers.mfbo.candidates import generate, refine_starts
from mixers.mfbo.model import MFBOModel
from mixers.proposals import PROPOSAL_TOL
from mixers.simplex import greedy_distinct, novel_mask
from mixers.types import FloatArray, PendingRun, fidelity_key

Pick = tuple[FloatArray, dict[str, float]]
"""One proposed run: its mixture ``(d,)`` and fidelity."""

# Best mixtures so far (by posterior mean at the target) that a quarter of a batch's candidates are drawn around.
BATCH_CENTERS = 4


def fantasize_pending(model: MFBOModel, gp: ExactGP, pending: Sequence[PendingRun]) -> ExactGP:
    """``gp`` with the pending runs the model can place added at their posterior mean."""
    fant = [p for p in pending if model.placeable(p.fidelity)]
    if not fant:
        return gp
    xp = np.vstack([model.x(np.asarray(p.weights, dtype=np.float64)[None, :], p.fidelity) for p in fant])
    return gp.condition_on(xp, gp.predict_mean(xp))


def believe(model: MFBOModel, gp: ExactGP, w: FloatArray, fid: Mapping[str, float]) -> ExactGP:
    """``gp`` with a run at mixture ``w`` ``(d,)`` and ``fid`` added at its posterior mean (kriging believer)."""
    x_new = model.x(w[None, :], fid)
    return gp.condition_on(x_new, gp.predict_mean(x_new))


def batch_candidates(
    rng: np.random.Generator, model: MFBOModel, gp: ExactGP, observed: FloatArray, pool: FloatArray | None
) -> FloatArray:
    """The candidates ``(c, d)`` of a batch: the pool, or generated around the prior and the observed mixtures
    ``observed`` ``(k, d)`` with the lowest posterior mean at the target."""
    if pool is not None:
        return pool
    centers = None
    if len(observed):
        mean_t = gp.predict_mean(model.x(observed, model.target))
        centers = observed[np.argsort(mean_t, kind="stable")[:BATCH_CENTERS]]
    return generate(rng, model, model.config.n_candidates, centers)


def believer_batch(
    rng: np.random.Generator, model: MFBOModel, n: int, allowed: list[dict[str, float]], costs: FloatArray,
    pending: Sequence[PendingRun], pool: FloatArray | None, existing: dict[str, FloatArray], tol: float,
    own_level: bool = False,
) -> list[Pick]:
    """Kriging-believer batch: pick the best (mixture, fidelity) by acquisition / cost, fantasize, repeat
    (``own_level``: expected improvement at each allowed fidelity itself, see
    :func:`mixers.mfbo.acquisition.cost_aware_acquisition`). ``existing``: the mixtures run or pending per
    fidelity key, which are not proposed again there (within ``tol``)."""
    gp = fantasize_pending(model, model.require_gp(), pending)
    observed = model.feasible_observed()
    cands = batch_candidates(rng, model, gp, observed, pool)
    # The KG discretization: the distinct mixtures with the lowest posterior mean at the target (projection
    # onto binding bounds maps many candidates to one point; copies would only add identical lines).
    disc_w = np.vstack([cands, observed])
    disc_mean = gp.predict_mean(model.x(disc_w, model.target))
    order = np.argsort(disc_mean, kind="stable")
    disc_w = disc_w[greedy_distinct(order, disc_w, model.config.kg_set_size, tol=PROPOSAL_TOL)]
    keys = [fidelity_key(f) for f in allowed]
    ref = {k: existing[k] for k in keys}
    ok = np.vstack([novel_mask(cands, ref[k], tol) for k in keys])  # (S, c) still allowed per fidelity
    chosen: list[Pick] = []
    everywhere = list(range(len(allowed)))
    refine_top = model.config.refine_top
    for _ in range(n):
        checkpoint()
        if not ok.any():
            break
        acq = cost_aware_acquisition(model, gp, allowed, costs, disc_w, own_level)
        flat = np.where(ok, acq(cands, everywhere), -np.inf).ravel()
        if pool is None and refine_top > 0:
            top = np.argsort(-flat, kind="stable")[:refine_top]
            best_w, best_s, best_f = cands[0], -np.inf, 0
            for t in top[np.isfinite(flat[top])]:
                si, ci = divmod(int(t), len(cands))
                w, sc = refine_starts(rng, model, novel_only(acq, si, ref[keys[si]], tol), cands[ci][None, :],
                                      flat[t : t + 1])
                if sc[0] > best_s:
                    best_w, best_s, best_f = w[0], float(sc[0]), si
        else:
            best_f, ci = divmod(int(np.argmax(flat)), len(cands))
            best_w = cands[ci]
        fid = allowed[best_f]
        chosen.append((best_w.copy(), fid))
        ref[keys[best_f]] = np.vstack([ref[keys[best_f]], best_w])
        ok[best_f] &= np.abs(cands - best_w).max(axis=1) > tol
        gp = believe(model, gp, best_w, fid)
    return chosen
