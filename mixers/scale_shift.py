"""How the objective's dependence on the mixture moves with scale: a model fitted on runs at other fidelities
than the train fidelity, used to carry a single-fidelity model to the requested one (``regmix``, ``mixing_law``).

The single-fidelity model ``f(p)`` is fitted where most runs are (the proxy scale). For a run ``k`` at another
fidelity, its residual ``r_k = y_k - f(p_k)`` is modelled as a shift that grows linearly with the distance in
log-compute between the two fidelities, ``dl_k = sum_key log(fid_k[key] / train[key])`` (``log(N D)`` for
``{params, tokens}``)::

    r(p, dl) = dl * (slope + theta . (phi(p) - centre)),      phi(p) = (p_1, ..., p_d, H(p) / log d)

``slope`` is the ordinary scaling law's (how much every mixture gains per unit of log-compute, least squares,
unpenalized); the ``d`` weights of ``theta`` say which domains gain more than that, and the normalized entropy
``H`` whether broad mixtures gain more than narrow ones (larger models gain from broader data, so the proxy-scale
optimum is sharper than the target's). ``theta`` is a ridge regression of what the slope leaves on
``dl * (phi - centre)`` (``centre``: the runs' mean features; penalty by leave-one-out,
``sklearn.linear_model.RidgeCV``), so a handful of runs at a second fidelity is enough for ``d + 1`` numbers.
The mixture terms are kept only when their leave-one-out error on those runs is a fifth below the slope's;
otherwise ``theta`` is zero and the shift moves every prediction alike (the ranking, and so the answer, stays
the train fidelity's). The prediction at fidelity ``F`` is ``f(p) + r(p, dl_F)``: linear in
log-compute, as the optimal-transport mixer's extrapolation and the log-linear form of a power law in compute;
beyond the largest run it is an extrapolation and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV

from mixers.types import FloatArray

ALPHAS = tuple(float(a) for a in np.logspace(-4, 3, 15))  # ridge penalties tried (features are O(1) shares)
_EPS = 1e-12
#: The mixture terms must cut the common slope's leave-one-out squared error by a fifth (the variance they explain
#: out of sample); a smaller gain on a handful of runs is within what noise gives (seen on pure-noise residuals).
SUPPORT = 0.8


def log_compute_gap(fidelity: Mapping[str, float], reference: Mapping[str, float]) -> float | None:
    """``sum_key log(fidelity[key] / reference[key])`` over the keys both name; None if they share none."""
    keys = [k for k in reference if k in fidelity]
    if not keys:
        return None
    return float(sum(math.log(float(fidelity[k]) / float(reference[k])) for k in keys))


def features(x: FloatArray) -> FloatArray:
    """``phi`` ``(m, d + 1)`` of mixtures ``x`` ``(m, d)``: the weights and the normalized entropy."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    d = x.shape[1]
    q = np.clip(x, _EPS, None)
    h = -np.sum(x * np.log(q), axis=1) / (math.log(d) if d > 1 else 1.0)
    return np.column_stack([x, h])


def _feature_grad(p: FloatArray) -> FloatArray:
    """``d phi / d p`` ``(d + 1, d)`` at one mixture ``p`` ``(d,)``."""
    d = len(p)
    q = np.clip(p, _EPS, None)
    dh = -(np.log(q) + 1.0) / (math.log(d) if d > 1 else 1.0)
    return np.vstack([np.eye(d), dh[None, :]])


@dataclass(frozen=True)
class ScaleShift:
    """The fitted shift ``dl * theta . phi(p)`` in the objective's units (see the module docstring)."""

    slope: float
    theta: FloatArray  # (d + 1,)
    centre: FloatArray  # (d + 1,)
    alpha: float
    runs: int
    gaps: tuple[float, ...]  # distinct log-compute gaps of the runs it was fitted on
    rmse_before: float
    rmse_after: float
    loo_rmse_slope: float = 0.0  # leave-one-out error of the common slope alone
    loo_rmse_shift: float = 0.0  # ... and with the mixture terms
    supported: bool = True  # False: the mixture terms did not beat the slope and are zero

    @property
    def moves_optimum(self) -> bool:
        """Whether the shift depends on the mixture (else it only moves every prediction alike)."""
        return bool(np.any(self.theta != 0))

    def __call__(self, x: FloatArray, gap: float) -> FloatArray:
        """Shift ``(m,)`` of mixtures ``x`` ``(m, d)`` at log-compute gap ``gap``."""
        return np.asarray(gap * (self.slope + (features(x) - self.centre) @ self.theta), dtype=np.float64)

    def grad(self, p: FloatArray, gap: float) -> FloatArray:
        """Gradient ``(d,)`` of the shift at one mixture."""
        return np.asarray(gap * (self.theta @ _feature_grad(p)), dtype=np.float64)

    def summary(self, domains: Sequence[str]) -> dict[str, Any]:
        return {
            "slope_per_unit_log_compute": self.slope,
            "per_unit_log_compute": {n: float(t) for n, t in zip(domains, self.theta[:-1], strict=True)},
            "entropy_per_unit_log_compute": float(self.theta[-1]),
            "ridge_alpha": self.alpha,
            "runs": self.runs,
            "log_compute_gaps": list(self.gaps),
            "residual_rmse_before": self.rmse_before,
            "residual_rmse_after": self.rmse_after,
            "loo_rmse_common_slope": self.loo_rmse_slope,
            "loo_rmse_with_mixture_terms": self.loo_rmse_shift,
            "mixture_terms_supported": self.supported,
        }


def _loo_mse(a: FloatArray, b: FloatArray, penalty: FloatArray) -> float:
    """Leave-one-out mean squared error of the penalized least squares ``a`` ``(n, k)`` -> ``b`` ``(n,)`` with the
    diagonal ``penalty`` ``(k,)``, from its hat matrix: ``e_i / (1 - h_ii)`` (no refits)."""
    hat = a @ np.linalg.solve(a.T @ a + np.diag(penalty), a.T)
    resid = b - hat @ b
    return float(np.mean((resid / (1.0 - np.minimum(np.diag(hat), 0.99))) ** 2))


def fit_scale_shift(x: FloatArray, gaps: FloatArray, residuals: FloatArray) -> ScaleShift | None:
    """Fit the shift on runs ``x`` ``(n, d)`` at log-compute gaps ``gaps`` ``(n,)`` (non-zero) with residuals
    ``residuals`` ``(n,)`` of the single-fidelity model; None with fewer than ``d + 2`` runs."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    gaps = np.asarray(gaps, dtype=np.float64)
    r = np.asarray(residuals, dtype=np.float64)
    n, d = x.shape
    keep = np.isfinite(r) & np.isfinite(gaps) & (np.abs(gaps) > 1e-9)
    x, gaps, r = x[keep], gaps[keep], r[keep]
    n = len(r)
    if n < d + 2:
        return None
    slope = float(gaps @ r / (gaps @ gaps))
    phi = features(x)
    centre = phi.mean(axis=0)
    design = gaps[:, None] * (phi - centre)
    left = r - slope * gaps
    model = RidgeCV(alphas=ALPHAS, fit_intercept=False).fit(design, left)
    theta = np.asarray(model.coef_, dtype=np.float64)
    # The mixture terms are kept only when they predict held-out runs better than the common slope alone
    # (leave-one-out): a shift that the runs do not support would tilt the answer on noise.
    # Both on the same footing: the slope refitted without the held-out run, unpenalized; theta with the
    # penalty chosen above.
    full = np.column_stack([gaps, design])
    loo_shift = _loo_mse(full, r, np.r_[0.0, np.full(design.shape[1], float(model.alpha_))])
    loo_slope = _loo_mse(gaps[:, None], r, np.zeros(1))
    supported = loo_shift < SUPPORT * loo_slope
    if not supported:
        theta = np.zeros_like(theta)
    after = left - design @ theta
    return ScaleShift(
        slope=slope,
        theta=theta,
        centre=centre,
        alpha=float(model.alpha_),
        runs=n,
        gaps=tuple(sorted({round(float(g), 6) for g in gaps})),
        rmse_before=float(np.sqrt(np.mean(r**2))),
        rmse_after=float(np.sqrt(np.mean(after**2))),
        loo_rmse_slope=math.sqrt(loo_slope),
        loo_rmse_shift=math.sqrt(loo_shift),
        supported=supported,
    )
