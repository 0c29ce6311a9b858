"""Geometry of the (bounded) probability simplex shared by every mixer.

Functional style, after POT: plain functions of numpy arrays. ``d`` is the number of domains.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mixers.family_bounds import bounded_families, project_with_families
from mixers.types import FamilySpec, FloatArray


def project_to_bounds(
    w: FloatArray, lo: FloatArray, hi: FloatArray, iters: int = 100, families: Sequence[FamilySpec] = ()
) -> FloatArray:
    """Euclidean projection of ``w`` ``(d,)`` or ``(m, d)`` onto ``{x : sum(x) = 1, lo <= x <= hi}``, and, with
    ``families`` that carry bounds, ``min_weight <= sum(x[members]) <= max_weight`` for each.

    The projection onto box and simplex is ``clip(w - tau, lo, hi)`` for the scalar ``tau`` that makes the row sum
    1; ``tau`` is found by bisection (the sum is monotone in ``tau``). Written by hand because neither numpy nor
    scipy ship a box-constrained simplex projection. Requires ``sum(lo) <= 1 <= sum(hi)``. Family bounds go
    through :func:`project_with_families` (Dykstra); without them this path is unchanged.
    """
    if lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9:
        raise ValueError("bounds are infeasible: sum(min_weight) > 1 or sum(max_weight) < 1")
    bounded = bounded_families(families)
    if bounded:
        return project_with_families(w, lo, hi, bounded, functools.partial(_box_simplex, iters=64))
    out = _box_simplex(np.atleast_2d(np.asarray(w, dtype=np.float64)), lo, hi, iters)
    return out[0] if np.ndim(w) == 1 else out


def _box_simplex(x: FloatArray, lo: FloatArray, hi: FloatArray, iters: int = 100) -> FloatArray:
    """Rows of ``x`` ``(m, d)`` projected onto box and simplex (the bisection of :func:`project_to_bounds`)."""
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
    return out


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
    """Rows of ``candidates`` ``(c, d)`` farther than ``tol`` (max-abs) from every row of ``existing`` ``(e, d)``.

    A k-d tree (Chebyshev metric), so thousands of candidates against thousands of runs stay fast. Past
    ``_TREE_DIMS`` domains a tree over every coordinate is little better than brute force (39 domains: 0.15 s for
    2,000 x 3,000); rows within ``tol`` are within ``tol`` in each coordinate, so a tree over the most spread-out
    ``_TREE_DIMS`` finds every possible match (10x faster there), and each is then checked on all coordinates.
    """
    if len(existing) == 0 or len(candidates) == 0:
        return np.ones(len(candidates), dtype=bool)
    existing = np.asarray(existing, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    if existing.shape[1] <= _TREE_DIMS:
        dist, _ = cKDTree(existing).query(candidates, k=1, p=np.inf)
        return np.asarray(dist > tol)
    dims = np.argsort(existing.std(axis=0), kind="stable")[-_TREE_DIMS:]
    near = cKDTree(existing[:, dims]).query_ball_point(candidates[:, dims], tol, p=np.inf)
    counts = np.fromiter((len(idx) for idx in near), dtype=np.intp, count=len(near))
    out = np.ones(len(candidates), dtype=bool)
    if counts.sum() == 0:
        return out
    rows = np.repeat(np.arange(len(candidates)), counts)
    cols = np.fromiter((j for idx in near for j in idx), dtype=np.intp, count=int(counts.sum()))
    hit = np.max(np.abs(existing[cols] - candidates[rows]), axis=1) <= tol
    out[rows[hit]] = False
    return out


_TREE_DIMS = 10


def greedy_distinct(order: NDArray[np.intp], candidates: FloatArray, n: int, tol: float = 1e-3) -> list[int]:
    """Walk ``order`` (indices into ``candidates`` ``(c, d)``) and keep the first ``n`` mutually distinct rows
    (a row within ``tol`` max-abs of a kept one is skipped); the close pairs come from a k-d tree first."""
    order = np.asarray(order, dtype=np.intp)
    pairs = cKDTree(candidates[order]).query_pairs(tol, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return [int(i) for i in order[:n]]
    clashes: dict[int, list[int]] = {}
    for a, b in pairs:  # positions in order; the later one clashes with the earlier one
        lo_, hi_ = (int(a), int(b)) if a < b else (int(b), int(a))
        clashes.setdefault(hi_, []).append(lo_)
    kept: list[int] = []
    kept_pos: set[int] = set()
    for pos in range(len(order)):
        if len(kept) >= n:
            break
        if any(q in kept_pos for q in clashes.get(pos, ())):
            continue
        kept_pos.add(pos)
        kept.append(int(order[pos]))
    return kept
