"""Predictive uncertainty from out-of-fold residuals: a residual model whose scale is calibrated on z-scores.

A mixer that has out-of-fold predictions of its own training runs (its cross-validated diagnostics) turns them
into a predictive standard deviation of the objective with :class:`ResidualModel`:

``std(x) = c * s * sqrt(1 + a * (dist(x) / unit) ** 2)``

``dist(x)`` is the distance from ``x`` to the nearest training mixture (for an out-of-fold residual: to the nearest
mixture of the fold's training runs), so the spread grows away from the data. ``s`` and ``a`` are fitted by
Gaussian likelihood on the residuals; ``c`` then calibrates the intervals on the out-of-fold z-scores
(:func:`calibrate_scale`): residuals of mixture models are heavy-tailed, so a scale fitted by likelihood (or the
plain RMS of the residuals) makes the 68% interval cover far more than 68% of new runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mixers.types import FloatArray

Z68 = 0.994457883  # two-sided 68% quantile of the standard normal
Z95 = 1.959963985  # two-sided 95% quantile
LEVELS = ((Z68, 0.68), (Z95, 0.95))
MIN_RESIDUALS = 8  # fewer out-of-fold residuals give no residual model
SLOPES = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 25)])  # growth of the variance with (distance / unit)^2


def nearest_distance(x: FloatArray, ref: FloatArray) -> FloatArray:
    """Euclidean distance ``(m,)`` from each row of ``x`` ``(m, d)`` to the nearest row of ``ref`` ``(r, d)``
    (inf when ``ref`` is empty)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if len(ref) == 0:
        return np.full(len(x), np.inf)
    dist, _ = cKDTree(np.asarray(ref, dtype=np.float64)).query(x, k=1)
    return np.asarray(dist, dtype=np.float64)


def calibrate_scale(z: FloatArray) -> float:
    """The multiplier ``c`` of a standard deviation that makes the intervals ``+-c * 0.994 sd`` and ``+-c * 1.96 sd``
    cover 68% and 95% of the z-scores ``z`` ``(n,)`` as nearly as one number can (least squares over both levels,
    on a log grid from 0.2 to 5; ties: the value nearest 1)."""
    a = np.abs(np.asarray(z, dtype=np.float64))
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return 1.0
    grid = np.geomspace(0.2, 5.0, 321)
    loss = np.zeros(len(grid))
    for q, nominal in LEVELS:
        cover = (a[None, :] <= q * grid[:, None]).mean(axis=1)
        loss += (cover - nominal) ** 2
    best = np.flatnonzero(loss <= loss.min() + 1e-12)
    return float(grid[best[np.argmin(np.abs(np.log(grid[best])))]])


def coverage(actual: FloatArray, mean: FloatArray, std: FloatArray | None) -> dict[str, float | None]:
    """Share of ``actual`` ``(n,)`` inside ``mean +- 0.994 std`` and ``mean +- 1.96 std`` (keys ``"68"``, ``"95"``),
    over the rows with a finite mean and a positive std; None for both without such a row."""
    if std is None:
        return {"68": None, "95": None}
    actual, mean, std = (np.asarray(v, dtype=np.float64) for v in (actual, mean, std))
    ok = np.isfinite(actual) & np.isfinite(mean) & np.isfinite(std) & (std > 0)
    if not ok.any():
        return {"68": None, "95": None}
    z = np.abs(actual[ok] - mean[ok]) / std[ok]
    return {"68": float(np.mean(z <= Z68)), "95": float(np.mean(z <= Z95))}


@dataclass(frozen=True)
class ResidualModel:
    """``std(dist) = scale * sqrt(1 + slope * (dist / unit) ** 2)``, fitted by :meth:`fit` (``unit``: the median
    distance of the residuals it was fitted on); ``calibration`` is the
    multiplier :func:`calibrate_scale` chose (already inside ``scale``); ``n``: residuals it was fitted on."""

    scale: float
    slope: float
    unit: float
    calibration: float
    n: int

    def std(self, dist: FloatArray) -> FloatArray:
        """Predictive sd ``(m,)`` at distances ``dist`` ``(m,)`` to the nearest training mixture."""
        d = np.minimum(np.asarray(dist, dtype=np.float64), 1e6) / self.unit
        return np.asarray(self.scale * np.sqrt(1.0 + self.slope * d * d), dtype=np.float64)

    @classmethod
    def fit(cls, residuals: FloatArray, dist: FloatArray) -> ResidualModel | None:
        """Fit on out-of-fold ``residuals`` ``(n,)`` and the distance ``(n,)`` of each held-out run to its fold's
        training mixtures; None with fewer than :data:`MIN_RESIDUALS` finite residuals or no spread."""
        r = np.asarray(residuals, dtype=np.float64)
        dd = np.asarray(dist, dtype=np.float64)
        ok = np.isfinite(r) & np.isfinite(dd)
        r, dd = r[ok], dd[ok]
        if len(r) < MIN_RESIDUALS or not np.any(r != 0):
            return None
        unit = float(np.median(dd[dd > 0])) if np.any(dd > 0) else 1.0
        u2 = (dd / unit) ** 2
        r2 = r * r
        # Profile likelihood over the slope (a grid with 0): for each slope the scale's maximum-likelihood value
        # is closed-form, s^2 = mean(r^2 / (1 + a u^2)); the slope with the least negative log-likelihood wins.
        growth = 1.0 + SLOPES[:, None] * u2[None, :]  # (slopes, n)
        var = np.maximum(np.mean(r2[None, :] / growth, axis=1), 1e-300)  # (slopes,)
        nll = len(r) * np.log(var) + np.sum(np.log(growth), axis=1)
        best = int(np.argmin(nll))
        scale, slope = float(np.sqrt(var[best])), float(SLOPES[best])
        z = r / (scale * np.sqrt(1.0 + slope * u2))
        c = calibrate_scale(z)
        return cls(scale * c, slope, unit, c, len(r))

    def describe(self) -> dict[str, float | int]:
        return {"scale": self.scale, "slope": self.slope, "distance_unit": self.unit,
                "calibration": self.calibration, "residuals": self.n}


def fold_distances(x: FloatArray, fold_of: Sequence[int] | NDArray[np.integer[Any]]) -> FloatArray:
    """Distance ``(n,)`` from each row of ``x`` ``(n, d)`` to the nearest row of the other folds (the training runs
    of the fold that held it out)."""
    fold = np.asarray(fold_of)
    out = np.full(len(x), np.inf)
    for k in np.unique(fold):
        held = fold == k
        out[held] = nearest_distance(x[held], x[~held])
    return out
