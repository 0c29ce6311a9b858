"""What drives a fitted offline mixer's predictions: per-domain importance and partial dependence on one domain.

Both work through the mixer's ``predict`` alone, so they apply to every fitted offline mixer; a mixer with a
measure of its own (LightGBM's SHAP values, a GP's lengthscales, a law's coefficients) returns it from
:meth:`mixers.base.OfflineMixer.domain_importance` and :func:`domain_importance` prefers it.

A mixture lives on the simplex: changing one domain's weight renormalises the others proportionally (their
ratios kept), so every probed mixture still sums to 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mixers.cancel import checkpoint
from mixers.types import FloatArray, Predictions

PERMUTATION_REPEATS = 3  # shuffles per domain, averaged
PD_GRID_POINTS = 21


@dataclass(frozen=True)
class DomainImportance:
    """Non-negative importance ``values`` ``(d,)`` summing to 1, the ``method`` that measured them (a short name)
    and ``detail`` (one sentence on how)."""

    values: FloatArray
    method: str
    detail: str


@dataclass(frozen=True)
class PartialDependence:
    """The objective predicted when domain ``domain`` (its index) takes each weight of ``grid`` ``(g,)``:
    ``mean`` ``(g,)`` averaged over the probed mixtures; ``std`` ``(g,)`` the mean predictive sd, None when the
    mixer gives none."""

    domain: int
    grid: FloatArray
    mean: FloatArray
    std: FloatArray | None


class FittedModel(Protocol):
    """What these functions need of a fitted offline mixer (:class:`mixers.base.OfflineMixer` has it)."""

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions: ...

    def domain_importance(self) -> DomainImportance | None: ...


def normalised(values: FloatArray) -> FloatArray:
    """``values`` ``(d,)`` clipped at 0 and scaled to sum to 1 (equal shares when all are 0 or not finite)."""
    v = np.where(np.isfinite(values), np.clip(values, 0.0, None), 0.0)
    total = float(v.sum())
    if total <= 0.0:
        return np.full(len(v), 1.0 / len(v))
    return np.asarray(v / total, dtype=np.float64)


def slope_effect(grad: Callable[[FloatArray], FloatArray], x: FloatArray) -> FloatArray:
    """Effect ``(d,)`` of each domain on a smooth model at the mixtures ``x`` ``(m, d)``: the mean over rows of
    the absolute slope of the model as that domain's weight grows and the others shrink proportionally (the
    derivative along ``e_i - p_{-i} / (1 - p_i)``, from ``grad`` ``(d,) -> (d,)``; a common shift of the
    gradient cancels, as it must on the simplex), times the spread (sd) of that domain's weight over ``x``: in
    objective units, comparable with :func:`permutation_importance`."""
    g = np.vstack([np.asarray(grad(p), dtype=np.float64) for p in x])
    rest = np.maximum(1.0 - x, 1e-12)
    slopes = g - ((g * x).sum(axis=1, keepdims=True) - g * x) / rest
    return np.asarray(np.abs(slopes).mean(axis=0) * x.std(axis=0), dtype=np.float64)


def with_domain_weight(x: FloatArray, i: int, values: FloatArray) -> FloatArray:
    """Mixtures ``x`` ``(m, d)`` with column ``i`` set to ``values`` ``(m,)`` and the other columns scaled so that
    each row sums to 1 (their ratios kept; a row that was all domain ``i`` spreads the rest equally)."""
    out = np.array(x, dtype=np.float64, copy=True)
    d = out.shape[1]
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), (len(out),))
    rest = 1.0 - out[:, i]
    others = np.arange(d) != i
    whole = rest <= 1e-12  # rows that were all domain i: nothing to scale
    out[:, others] *= np.where(whole, 0.0, (1.0 - values) / np.where(whole, 1.0, rest))[:, None]
    if d > 1:
        out[np.ix_(whole, others)] = ((1.0 - values[whole]) / (d - 1))[:, None]
    out[:, i] = values
    return out


def permutation_importance(
    mixer: FittedModel,
    x: FloatArray,
    rng: np.random.Generator,
    fidelity: Mapping[str, float] | None = None,
    repeats: int = PERMUTATION_REPEATS,
) -> FloatArray:
    """Importance ``(d,)`` of each domain to ``mixer``'s predictions at the mixtures ``x`` ``(m, d)``: the mean
    absolute change of the predicted objective when that domain's weights are shuffled across the rows (the other
    domains renormalised), averaged over ``repeats`` shuffles. Not normalised."""
    base = np.asarray(mixer.predict(x, fidelity).mean, dtype=np.float64)
    d = x.shape[1]
    out = np.zeros(d)
    for i in range(d):
        checkpoint()
        probes = [with_domain_weight(x, i, x[rng.permutation(len(x)), i]) for _ in range(repeats)]
        pred = np.asarray(mixer.predict(np.vstack(probes), fidelity).mean, dtype=np.float64)
        out[i] = float(np.mean(np.abs(pred.reshape(repeats, len(x)) - base[None, :])))
    return out


def pd_grid(x: FloatArray, i: int, lo: float, hi: float, points: int = PD_GRID_POINTS) -> FloatArray:
    """Weights ``(points,)`` of domain ``i`` to probe: the range the mixtures ``x`` ``(m, d)`` span (the model
    has seen nothing beyond it), within the domain's bounds ``[lo, hi]``; the whole bound range when the
    mixtures all share one weight."""
    a, b = float(np.min(x[:, i])), float(np.max(x[:, i]))
    a, b = max(a, lo), min(b, hi)
    if b - a < 1e-9:
        a, b = lo, hi
    return np.linspace(a, b, points)


def partial_dependence(
    mixer: FittedModel,
    x: FloatArray,
    i: int,
    grid: FloatArray,
    fidelity: Mapping[str, float] | None = None,
) -> PartialDependence:
    """Partial dependence of ``mixer``'s prediction on domain ``i``: for each weight of ``grid`` ``(g,)``, every
    mixture of ``x`` ``(m, d)`` with domain ``i`` at that weight (the others renormalised), predictions averaged."""
    m = len(x)
    probes = np.vstack([with_domain_weight(x, i, np.full(m, g)) for g in grid])
    checkpoint()
    pred = mixer.predict(probes, fidelity)
    mean = np.asarray(pred.mean, dtype=np.float64).reshape(len(grid), m).mean(axis=1)
    std = None
    if pred.std is not None:
        std = np.asarray(pred.std, dtype=np.float64).reshape(len(grid), m).mean(axis=1)
    return PartialDependence(i, np.asarray(grid, dtype=np.float64), mean, std)


def domain_importance(
    mixer: FittedModel,
    x: FloatArray,
    rng: np.random.Generator,
    fidelity: Mapping[str, float] | None = None,
) -> DomainImportance:
    """The mixer's own importance measure when it has one, else :func:`permutation_importance` at ``x``."""
    own = mixer.domain_importance()
    if own is not None:
        return DomainImportance(normalised(own.values), own.method, own.detail)
    raw = permutation_importance(mixer, x, rng, fidelity)
    return DomainImportance(
        normalised(raw),
        "permutation",
        f"mean absolute change of the predicted objective when one domain's weights are shuffled across "
        f"{len(x)} observed mixtures (the other domains renormalised), {PERMUTATION_REPEATS} shuffles, normalised "
        f"to sum to 1",
    )
