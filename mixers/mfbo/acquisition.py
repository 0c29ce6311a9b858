"""``mfbo``'s acquisition over (mixture, fidelity): the functions of :mod:`mixers.acquisition` (knowledge
gradient, augmented or plain expected improvement) evaluated on the fitted model's posterior at the allowed
fidelities, divided by each fidelity's cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mixers.acquisition import augmented_ei, expected_improvement, knowledge_gradient
from mixers.gp import ExactGP
from mixers.mfbo.config import acquisition_kind
from mixers.mfbo.model import MFBOModel
from mixers.simplex import novel_mask
from mixers.types import FloatArray, fidelity_key

Acquisition = Callable[[FloatArray, Sequence[int]], FloatArray]
"""``acq(w, which)``: acquisition / cost ``(len(which), m)`` of mixtures ``w`` ``(m, d)`` at the allowed
fidelities with indices ``which``; higher is better."""


def cost_aware_acquisition(
    model: MFBOModel, gp: ExactGP, allowed: list[dict[str, float]], costs: FloatArray, disc_w: FloatArray,
    own_level: bool = False,
) -> Acquisition:
    """The acquisition of ``model``'s kind on ``gp`` (the model's GP, possibly with fantasies) at the ``allowed``
    fidelities with relative ``costs`` ``(S,)``, sharing one target-fidelity posterior across them; ``disc_w``
    ``(a, d)``: the knowledge gradient's discretization at the target. ``own_level``: the expected improvement at
    each fidelity itself over the best posterior mean of its runs (screening while the transfer to the target is
    not known yet). Only the target allowed under ``screen``: plain EI, as the single-fidelity mode does."""
    config = model.config
    disc = gp.posterior(model.x(disc_w, model.target))
    train_w = gp.x_train[:, : model.problem.d]
    best = float(gp.predict_mean(model.x(train_w, model.target)).min())
    kind = acquisition_kind(config)
    multi = config.multi_fidelity
    tkey = fidelity_key(model.target)
    if multi and config.acquisition in (None, "screen") and all(model.at_target(f) for f in allowed):
        kind, multi = "ei", False

    level_best: list[float] = []
    if own_level:
        for f in allowed:
            lw, _ = model.level_runs(fidelity_key(model.effective(f)))
            level_best.append(float(gp.predict_mean(model.x(lw, f)).min()) if len(lw) else best)

    def acq(w: FloatArray, which: Sequence[int]) -> FloatArray:
        if own_level:
            rows_own = []
            for si in which:
                post = gp.posterior(model.x(w, allowed[si]))
                value = expected_improvement(post.mean, np.sqrt(post.var), level_best[si])
                rows_own.append((value + 1e-12 * np.sqrt(post.var)) / costs[si])
            return np.vstack(rows_own)
        post_tgt = gp.posterior(model.x(w, model.target))
        # A tiny multiple of the target sd breaks exact ties of a vanished acquisition (e.g. EI underflow far
        # from the best) toward exploring where the target is least known, not by candidate order.
        tie = 1e-12 * np.sqrt(post_tgt.var)
        rows = []
        for si in which:
            fid = allowed[si]
            post_obs = post_tgt if fidelity_key(fid) == tkey else gp.posterior(model.x(w, fid))
            if kind == "kg":
                value = knowledge_gradient(gp, post_obs, post_tgt, disc)
            elif multi:
                value = augmented_ei(gp, post_obs, post_tgt, best)
            else:
                value = expected_improvement(post_tgt.mean, np.sqrt(post_tgt.var), best)
            rows.append((value + tie) / costs[si])
        return np.vstack(rows)

    return acq


def novel_only(acq: Acquisition, si: int, existing: FloatArray, tol: float) -> Callable[[FloatArray], FloatArray]:
    """Score ``(m,)`` of mixtures at allowed fidelity ``si``: the acquisition, or -inf where a run exists."""

    def score(w: FloatArray) -> FloatArray:
        return np.where(novel_mask(w, existing, tol), acq(w, [si])[0], -np.inf)

    return score
