"""The numerics behind ``ot``'s performance predictor (DESIGN 4.4): Scheffé quadratic features, the per-size
fit ``L(p) = c + Q1(p) * OT(p) / s + Q0(p)`` (least squares, or ridge with the penalty chosen by exact
leave-one-out error), and projected gradient descent with Armijo backtracking on the bounded simplex."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mixers.simplex import project_to_bounds
from mixers.training import group_replicates, safe_spearman
from mixers.types import FamilySpec, FloatArray

# Projected gradient: sufficient-decrease constant, step growth / shrink, and the smallest move that counts.
ARMIJO = 1e-4
XTOL = 1e-5
GROW, SHRINK = 1.5, 0.35  # step size after an accepted / rejected move
FIRST_MOVE = 0.05  # the first step moves the largest weight by this much
# Ridge penalties tried by leave-one-out, relative to the mean squared singular value of the design.
ALPHA_GRID = np.logspace(-6, 2, 17)


# -- the performance predictor ---------------------------------------------------------------------------


def scheffe_features(p: FloatArray, degree: int) -> FloatArray:
    """Scheffé mixture basis ``(m, q)``: ``p_i`` then (degree 2) ``p_i p_j`` for ``i < j`` (triu order)."""
    p = np.atleast_2d(p)
    if degree == 1:
        return np.asarray(p, dtype=np.float64)
    iu, ju = np.triu_indices(p.shape[1], 1)
    return np.hstack([p, p[:, iu] * p[:, ju]])


@dataclass(frozen=True)
class Quadratic:
    """``q(p) = lin . p + 0.5 p' W p`` (``W`` ``(d, d)`` symmetric, zero diagonal) on mixtures ``(m, d)``."""

    lin: FloatArray
    quad: FloatArray

    @staticmethod
    def from_scheffe(coef: FloatArray, d: int) -> Quadratic:
        w = np.zeros((d, d))
        if len(coef) > d:
            iu, ju = np.triu_indices(d, 1)
            w[iu, ju] = coef[d:]
            w[ju, iu] = coef[d:]
        return Quadratic(np.asarray(coef[:d], dtype=np.float64), w)

    def __call__(self, p: FloatArray) -> FloatArray:
        return np.asarray(p @ self.lin + 0.5 * np.einsum("mi,ij,mj->m", p, self.quad, p), dtype=np.float64)

    def grad(self, p: FloatArray) -> FloatArray:
        return np.asarray(self.lin[None, :] + p @ self.quad, dtype=np.float64)

    def blend(self, other: Quadratic, lam: float) -> Quadratic:
        return Quadratic((1 - lam) * self.lin + lam * other.lin, (1 - lam) * self.quad + lam * other.quad)


@dataclass(frozen=True)
class ScalingModel:
    """``L(p) = intercept + q_ot(p) * OT(p) / ot_scale + q(p)``, evaluated from OT values and gradients."""

    intercept: float
    q_ot: Quadratic
    q: Quadratic
    ot_scale: float

    def value(self, p: FloatArray, ot_val: FloatArray) -> FloatArray:
        return np.asarray(
            self.intercept + self.q_ot(p) * ot_val / self.ot_scale + self.q(p), dtype=np.float64
        )

    def grad(self, p: FloatArray, ot_val: FloatArray, ot_grad: FloatArray) -> FloatArray:
        s = ot_val / self.ot_scale
        return np.asarray(
            self.q_ot.grad(p) * s[:, None] + self.q_ot(p)[:, None] * ot_grad / self.ot_scale + self.q.grad(p),
            dtype=np.float64,
        )

    def blend(self, other: ScalingModel, lam: float) -> ScalingModel:
        """``(1 - lam) * self + lam * other`` (``lam`` outside [0, 1] extrapolates)."""
        return ScalingModel(
            (1 - lam) * self.intercept + lam * other.intercept,
            self.q_ot.blend(other.q_ot, lam),
            self.q.blend(other.q, lam),
            self.ot_scale,
        )


@dataclass(frozen=True)
class RidgeFit:
    coef: FloatArray
    intercept: float
    alpha: float
    loo: FloatArray  # leave-one-out predictions (n,)


def ridge_loo(x: FloatArray, y: FloatArray, alpha: float | None, auto_ls: bool) -> RidgeFit:
    """Ridge regression of ``y`` ``(n,)`` on ``x`` ``(n, k)`` with an unpenalized intercept, via the SVD.

    ``alpha`` None: least squares (minimum norm) when ``auto_ls``, else the penalty of ``ALPHA_GRID`` (times
    the mean squared singular value) with the least exact leave-one-out error. Hand-written: the SVD gives
    every penalty and the leave-one-out predictions themselves (``y - r / (1 - h)``) at once; scikit-learn's
    RidgeCV exposes only squared errors, and we need the predictions for the rank-correlation diagnostic.
    """
    n = len(y)
    xm, ym = x.mean(axis=0), float(y.mean())
    u, s, vt = np.linalg.svd(x - xm, full_matrices=False)
    keep = s > (s[0] * 1e-10 if len(s) and s[0] > 0 else np.inf)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    uty = u.T @ (y - ym)

    def at(a: float) -> tuple[FloatArray, FloatArray]:
        shrink = s**2 / (s**2 + a)
        coef = vt.T @ (uty * s / (s**2 + a))
        fitted = u @ (uty * shrink) + ym
        h = (u**2 * shrink).sum(axis=1) + 1.0 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            loo = y - (y - fitted) / (1.0 - h)
        return coef, loo

    if alpha is None and auto_ls:
        alpha = 0.0
    if alpha is None:
        scale = float(np.mean(s**2)) if len(s) else 1.0
        best = (np.inf, 0.0)
        for a in ALPHA_GRID * scale:
            err = float(np.mean((y - at(a)[1]) ** 2))
            if np.isfinite(err) and err < best[0]:
                best = (err, float(a))
        alpha = best[1]
    coef, loo = at(alpha)
    return RidgeFit(coef, ym - float(xm @ coef), float(alpha), loo)


@dataclass(frozen=True)
class SizeFit:
    """The predictor fitted on the runs of one data size ``tokens`` (None: runs without a ``tokens`` key)."""

    tokens: float | None
    model: ScalingModel
    runs: int
    distinct: int
    method: str
    alpha: float
    loo_spearman: float | None
    loo_rmse: float | None
    r2: float | None

    def summary(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "runs": self.runs,
            "distinct_mixtures": self.distinct,
            "method": self.method,
            "alpha": self.alpha,
            "loo_spearman": self.loo_spearman,
            "loo_rmse": self.loo_rmse,
            "r2": self.r2,
        }


def fit_size(
    p: FloatArray,
    y: FloatArray,
    ot_val: FloatArray,
    ot_scale: float,
    tokens: float | None,
    degree: int,
    alpha: float | None,
) -> SizeFit:
    """Fit ``L = c + Q1(p) * OT / ot_scale + Q0(p)`` on runs ``p`` ``(n, d)``, objective ``y`` ``(n,)``."""
    d = p.shape[1]
    phi = scheffe_features(p, degree)
    x = np.hstack([phi * (ot_val / ot_scale)[:, None], phi])
    auto_ls = len(y) > x.shape[1] + 1
    fit = ridge_loo(x, y, alpha, auto_ls)
    q = phi.shape[1]
    model = ScalingModel(
        fit.intercept,
        Quadratic.from_scheffe(fit.coef[:q], d),
        Quadratic.from_scheffe(fit.coef[q:], d),
        ot_scale,
    )
    resid = y - model.value(p, ot_val)
    tss = float(((y - y.mean()) ** 2).sum())
    ok = bool(np.all(np.isfinite(fit.loo)))
    return SizeFit(
        tokens=tokens,
        model=model,
        runs=len(y),
        distinct=int(group_replicates(p).max()) + 1,
        method="least squares" if fit.alpha == 0 else "ridge (penalty by leave-one-out)",
        alpha=fit.alpha,
        loo_spearman=safe_spearman(fit.loo, y) if ok else None,
        loo_rmse=float(np.sqrt(np.mean((y - fit.loo) ** 2))) if ok else None,
        r2=1.0 - float((resid**2).sum()) / tss if tss > 0 else None,
    )


# -- search on the bounded simplex ---------------------------------------------------------------------------

Objective = Callable[[FloatArray, FloatArray | None], tuple[FloatArray, FloatArray, FloatArray]]


@dataclass
class SearchResult:
    p: FloatArray  # (s, d) end points
    value: FloatArray  # (s,)
    iterations: int
    evaluations: int
    converged: NDArray[np.bool_]


def projected_gradient(
    fun: Objective, starts: FloatArray, lo: FloatArray, hi: FloatArray, max_iter: int,
    families: Sequence[FamilySpec] = (),
) -> SearchResult:
    """Minimize ``fun`` from each start ``(s, d)`` by projected gradient with Armijo backtracking, all starts
    evaluated together. ``fun(p (m, d), warm (m, n_t) | None) -> (values (m,), grads (m, d), warm (m, n_t))``.

    Hand-written: scipy's bounded minimizers take no simplex equality with box bounds except SLSQP, which
    cannot batch the starts into one OT call or warm-start Sinkhorn between evaluations.
    """
    p = project_to_bounds(starts, lo, hi, families=families)
    val, grad, warm = fun(p, None)
    evals = len(p)
    gc = grad - grad.mean(axis=1, keepdims=True)
    step = FIRST_MOVE / np.maximum(np.abs(gc).max(axis=1), 1e-300)
    active = np.ones(len(p), dtype=bool)
    converged = np.zeros(len(p), dtype=bool)
    it = 0
    while it < max_iter and active.any():
        it += 1
        idx = np.flatnonzero(active)
        gc = grad[idx] - grad[idx].mean(axis=1, keepdims=True)
        cand = project_to_bounds(p[idx] - step[idx, None] * gc, lo, hi, families=families)
        move = cand - p[idx]
        still = np.abs(move).max(axis=1) >= XTOL
        converged[idx[~still]] = True
        active[idx[~still]] = False
        idx, cand, move = idx[still], cand[still], move[still]
        if len(idx) == 0:
            break
        v2, g2, w2 = fun(cand, warm[idx])
        evals += len(idx)
        ok = v2 <= val[idx] + ARMIJO * np.einsum("md,md->m", grad[idx], move)
        acc, rej = idx[ok], idx[~ok]
        p[acc], val[acc], grad[acc], warm[acc] = cand[ok], v2[ok], g2[ok], w2[ok]
        step[acc] *= GROW
        step[rej] *= SHRINK
        gmax = np.abs(grad[rej] - grad[rej].mean(axis=1, keepdims=True)).max(axis=1)
        tiny = step[rej] * gmax < XTOL
        converged[rej[tiny]] = True
        active[rej[tiny]] = False
    return SearchResult(p, val, it, evals, converged)
