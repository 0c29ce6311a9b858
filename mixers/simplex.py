"""Geometry of the (bounded) probability simplex shared by every mixer.

Functional style, after POT: plain functions of numpy arrays. ``d`` is the number of domains.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mixers.types import FloatArray


def project_to_bounds(w: FloatArray, lo: FloatArray, hi: FloatArray, iters: int = 100) -> FloatArray:
    """Euclidean projection of ``w`` ``(d,)`` or ``(m, d)`` onto ``{x : sum(x) = 1, lo <= x <= hi}``.

    The projection is ``clip(w - tau, lo, hi)`` for the scalar ``tau`` that makes the row sum 1; ``tau`` is
    found by bisection (the sum is monotone in ``tau``). Written by hand because neither numpy nor scipy
    ship a box-constrained simplex projection. Requires ``sum(lo) <= 1 <= sum(hi)``.
    """
    if lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9:
        raise ValueError("bounds are infeasible: sum(min_weight) > 1 or sum(max_weight) < 1")
    x = np.atleast_2d(np.asarray(w, dtype=np.float64))
    t_lo = (x - hi).min(axis=1) - 1.0  # sum(clip(x - t_lo)) >= 1
    t_hi = (x - lo).max(axis=1) + 1.0  # sum(clip(x - t_hi)) <= 1
    for _ in range(iters):
        mid = 0.5 * (t_lo + t_hi)
        s = np.clip(x - mid[:, None], lo, hi).sum(axis=1)
        big = s > 1.0
        t_lo = np.where(big, mid, t_lo)
        t_hi = np.where(big, t_hi, mid)
    out = np.clip(x - (0.5 * (t_lo + t_hi))[:, None], lo, hi)
    out /= out.sum(axis=1, keepdims=True)
    return out[0] if np.ndim(w) == 1 else out


def project_to_simplex(w: FloatArray) -> FloatArray:
    """Euclidean projection of ``w`` ``(d,)`` or ``(m, d)`` onto the probability simplex."""
    d = np.shape(w)[-1]
    return project_to_bounds(w, np.zeros(d), np.ones(d))


def sample_dirichlet(rng: np.random.Generator, alpha: FloatArray, n: int) -> FloatArray:
    """``n`` draws ``(n, d)`` from Dirichlet(``alpha``), robust to tiny concentrations.

    Sampling through Gamma variates with a floor avoids the all-zero rows numpy can give for very small
    ``alpha`` (a documented numpy behaviour); such rows fall back to the argmax of the gammas.
    """
    g = rng.gamma(np.maximum(alpha, 1e-6), size=(n, len(alpha)))
    s = g.sum(axis=1, keepdims=True)
    bad = s[:, 0] <= 0
    if bad.any():
        g[bad] = np.eye(len(alpha))[rng.integers(0, len(alpha), bad.sum())]
        s = g.sum(axis=1, keepdims=True)
    return g / s


def kl_to_prior(p: FloatArray, prior: FloatArray) -> NDArray[np.float64]:
    """KL(p || prior) for each row of ``p`` ``(m, d)``; returns ``(m,)``. Terms with p = 0 count 0."""
    p = np.atleast_2d(p)
    q = np.maximum(prior, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return np.asarray(terms.sum(axis=1), dtype=np.float64)


def novel_mask(candidates: FloatArray, existing: FloatArray, tol: float = 1e-3) -> NDArray[np.bool_]:
    """Rows of ``candidates`` ``(c, d)`` farther than ``tol`` (max-abs) from every row of ``existing`` ``(e, d)``."""
    if len(existing) == 0 or len(candidates) == 0:
        return np.ones(len(candidates), dtype=bool)
    mask = np.ones(len(candidates), dtype=bool)
    # Chunk so that c * e * d stays small for large pools.
    step = max(1, 2_000_000 // max(1, len(existing) * candidates.shape[1]))
    for s in range(0, len(candidates), step):
        diff = np.abs(candidates[s : s + step, None, :] - existing[None, :, :]).max(axis=2)
        mask[s : s + step] = diff.min(axis=1) > tol
    return mask


def greedy_distinct(order: NDArray[np.intp], candidates: FloatArray, n: int, tol: float = 1e-3) -> list[int]:
    """Walk ``order`` (indices into ``candidates`` ``(c, d)``) and keep the first ``n`` mutually distinct rows."""
    chosen: list[int] = []
    for idx in order:
        if len(chosen) >= n:
            break
        if chosen and np.abs(candidates[chosen] - candidates[idx]).max(axis=1).min() <= tol:
            continue
        chosen.append(int(idx))
    return chosen
