"""Cost-aware acquisition functions for the ``mfbo`` mixer, and the cost model they divide by.

As in BoTorch, an acquisition is a function of a surrogate's posterior (:class:`Surrogate`), not of a
particular model, so it can be tested against a stub whose posterior is set by hand. Everything here
*minimizes*: the surrogate models the loss ``sign * objective``. Inputs are feature rows ``(m, p)`` as the
surrogate understands them (for ``mfbo``: mixture then normalized log-fidelity features, target at z = 0).

Multi-fidelity knowledge gradient, discretized (``knowledge_gradient``). After Frazier, Powell & Dayanik
(2009) for KG over a finite set, Poloczek, Wang & Frazier (2017) and Wu & Frazier (2019) for the multi-fidelity
form, and Scott, Frazier & Powell (2011, KGCP) for adding the candidate itself to the set. Observing candidate
``x`` at fidelity ``s`` gives ``y ~ N(mu_s(x), v_s(x) + noise)``; the updated posterior mean at the target T
of each point ``a`` of a finite set ``A`` (and of ``x`` itself at T) is ``mu_T(a) + sigma_a Z`` with ``Z ~ N(0, 1)`` and

    sigma_a = Cov_n(f_T(a), f_s(x)) / sqrt(v_s(x) + noise).

The knowledge gradient is the expected drop of the best (lowest) posterior mean at the target:

    KG(x, s) = min_a mu_T(a) - E_Z[ min_a (mu_T(a) + sigma_a Z) ]   (>= 0),

with the expectation of the minimum of lines computed exactly (``expected_min_of_lines``). The cost-aware
acquisition is ``KG(x, s) / cost(s)``: expected improvement of the target-fidelity optimum per unit of cost.
Cross-fidelity information flows through ``Cov_n(f_T(a), f_s(x))``: a cheap run is worth what it teaches about
the target.

Expected improvement (``expected_improvement``), for the single-fidelity mode: with ``u = (best - mu) / sd``,
``EI = (best - mu) Phi(u) + sd phi(u)``, ``best`` the lowest posterior mean at the observed points (plug-in for
noisy observations).

Augmented EI (``augmented_ei``, Huang, Allen, Notz & Miller 2006) as a cheaper multi-fidelity alternative:
``EI_T(x) * corr_n(f_T(x), f_s(x)) * (1 - sqrt(noise) / sqrt(v_s(x) + noise))``, divided by ``cost(s)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm

from mixers.cancel import checkpoint
from mixers.types import FloatArray

# Rows per block of the exact O(L^2) expectation (memory ~ 6 * EXACT_BLOCK * L^2 floats).
EXACT_BLOCK = 32


class Posterior(Protocol):
    """A posterior over ``m`` points: latent ``mean`` and ``var``, each ``(m,)``."""

    @property
    def mean(self) -> FloatArray: ...

    @property
    def var(self) -> FloatArray: ...


P_contra = TypeVar("P_contra", bound=Posterior, contravariant=True)
PT = TypeVar("PT", bound=Posterior)


class Surrogate(Protocol[P_contra]):
    """What the acquisition functions need from a model, beyond its posteriors of type ``P_contra``.

    ``mixers.gp.ExactGP`` implements it with ``GPPosterior``.
    """

    @property
    def noise_var(self) -> float: ...

    def covariance(self, a: P_contra, b: P_contra) -> FloatArray:
        """Joint posterior covariance ``(m_a, m_b)`` of the latent function."""
        ...

    def covariance_pairs(self, a: P_contra, b: P_contra) -> FloatArray:
        """Posterior covariance ``(m,)`` between row ``i`` of ``a`` and row ``i`` of ``b``."""
        ...


def expected_improvement(mean: FloatArray, std: FloatArray, best: float) -> FloatArray:
    """EI below ``best`` for a Gaussian ``N(mean, std^2)``, each ``(m,)``; returns ``(m,)`` (>= 0)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gain = best - mean
    safe = np.where(std > 0, std, 1.0)
    u = gain / safe
    ei = gain * norm.cdf(u) + std * norm.pdf(u)
    return np.asarray(np.where(std > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0)), dtype=np.float64)


def expected_min_of_lines(a: FloatArray, b: FloatArray, zmax: float = 6.0, grid: int = 33) -> FloatArray:
    """``E[min_i (a_i + b_i Z)]``, ``Z ~ N(0, 1)``, for each row of intercepts ``a`` and slopes ``b`` ``(c, L)``.

    Exact: line ``i`` is the minimum on the interval ``{z : a_i + b_i z <= a_j + b_j z for all j}``, bounded by
    the pairwise crossings ``(a_j - a_i) / (b_i - b_j)``, and contributes
    ``a_i (Phi(u_i) - Phi(l_i)) + b_i (phi(l_i) - phi(u_i))`` on it. Computing all crossings is O(L^2) per row, so
    lines that cannot be the minimum anywhere on ``[-zmax, zmax]`` are dropped first: on each of ``grid - 1``
    intervals, a line whose lowest value exceeds the smallest highest value of any line is never the minimum
    there (a first pass does the same for the whole of ``[-zmax, zmax]``). Dropping changes the result only
    through ``P(|Z| > zmax)``. Equal lines: the first one owns the
    interval. Frazier et al. (2009) compute the same expectation with a sequential envelope scan; this form
    vectorizes over the rows instead.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.inf)
    # A cheap first pass over the whole interval, then the grid on the survivors.
    first = (a - zmax * np.abs(b)) <= (a + zmax * np.abs(b)).min(axis=1, keepdims=True)
    order = np.argsort(~first, axis=1, kind="stable")[:, : int(first.sum(axis=1).max())]
    a, b = np.take_along_axis(a, order, axis=1), np.take_along_axis(b, order, axis=1)
    vals = a[:, :, None] + b[:, :, None] * np.linspace(-zmax, zmax, grid)  # (c, L', grid)
    lowest = np.minimum(vals[:, :, :-1], vals[:, :, 1:])
    ceiling = np.maximum(vals[:, :, :-1], vals[:, :, 1:]).min(axis=1)
    maybe = (lowest <= ceiling[:, None, :]).any(axis=2)
    count = maybe.sum(axis=1)
    out = np.empty(len(a))
    # Rows with similar numbers of surviving lines go together, so each block pads to a similar width.
    by_count = np.argsort(count, kind="stable")
    for lo in range(0, len(a), EXACT_BLOCK):
        checkpoint()
        rows = by_count[lo : lo + EXACT_BLOCK]
        keep = int(count[rows].max())
        order = np.argsort(~maybe[rows], axis=1, kind="stable")[:, :keep]  # kept lines first, in original order
        out[rows] = _expected_min_exact(np.take_along_axis(a[rows], order, axis=1),
                                        np.take_along_axis(b[rows], order, axis=1))
    return out


def _expected_min_exact(a: FloatArray, b: FloatArray) -> FloatArray:
    """``E[min_i (a_i + b_i Z)]`` for rows ``(c, L)`` from all pairwise crossings, O(c L^2)."""
    da = a[:, None, :] - a[:, :, None]  # [r, i, j] = a_j - a_i
    db = b[:, :, None] - b[:, None, :]  # [r, i, j] = b_i - b_j
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = da / db
    upper = np.where(db > 0, cross, np.inf).min(axis=2)
    lower = np.where(db < 0, cross, -np.inf).max(axis=2)
    idx = np.arange(a.shape[1])
    beaten = (db == 0) & ((da < 0) | ((da == 0) & (idx[None, None, :] < idx[None, :, None])))
    empty = beaten.any(axis=2) | (lower >= upper)
    inv_sqrt_2pi = 1.0 / math.sqrt(2.0 * math.pi)
    part = a * (ndtr(upper) - ndtr(lower)) + b * (np.exp(-0.5 * lower**2) - np.exp(-0.5 * upper**2)) * inv_sqrt_2pi
    return np.asarray(np.where(empty, 0.0, part).sum(axis=1), dtype=np.float64)


def knowledge_gradient(
    model: Surrogate[PT], post_obs: PT, post_target: PT, disc: PT
) -> FloatArray:
    """Discretized multi-fidelity KG ``(c,)`` of observing ``c`` candidates (not divided by cost).

    ``post_obs``: the model's posterior at the candidates at their fidelity; ``post_target``: at the same
    mixtures at the target fidelity (each added to the set for its own candidate); ``disc``: at the
    discretization set ``A`` at the target.
    """
    denom = np.sqrt(post_obs.var + model.noise_var)
    s_disc = model.covariance(disc, post_obs) / denom  # (a, c)
    s_self = model.covariance_pairs(post_target, post_obs) / denom  # (c,)
    return kg_from_moments(disc.mean, s_disc, post_target.mean, s_self)


def kg_from_moments(
    mu_disc: FloatArray, s_disc: FloatArray, mu_self: FloatArray, s_self: FloatArray, chunk: int = 256
) -> FloatArray:
    """KG ``(c,)`` from the target means ``mu_disc`` ``(a,)``, their update slopes ``s_disc`` ``(a, c)``, and each
    candidate's own target mean ``mu_self`` ``(c,)`` and slope ``s_self`` ``(c,)`` (see the module docstring)."""
    c = len(mu_self)
    out = np.empty(c)
    for lo in range(0, c, chunk):
        checkpoint()
        hi = min(c, lo + chunk)
        a = np.hstack([np.broadcast_to(mu_disc, (hi - lo, len(mu_disc))), mu_self[lo:hi, None]])
        b = np.hstack([s_disc[:, lo:hi].T, s_self[lo:hi, None]])
        out[lo:hi] = a.min(axis=1) - expected_min_of_lines(a, b)
    return np.maximum(out, 0.0)


def augmented_ei(model: Surrogate[PT], post_obs: PT, post_target: PT, best: float) -> FloatArray:
    """Huang et al.'s augmented EI ``(c,)`` of observing ``c`` candidates (not divided by cost).

    ``post_obs`` / ``post_target``: the posterior at the candidates at their fidelity / at the target.
    """
    ei = expected_improvement(post_target.mean, np.sqrt(post_target.var), best)
    cov = model.covariance_pairs(post_target, post_obs)
    corr = np.clip(cov / np.sqrt(post_target.var * post_obs.var), 0.0, 1.0)
    shrink = 1.0 - math.sqrt(model.noise_var) / np.sqrt(post_obs.var + model.noise_var)
    return np.asarray(ei * corr * shrink, dtype=np.float64)


# -- costs -------------------------------------------------------------------------------------------------

CostSource = Literal["observed", "product", "config"]


@dataclass(frozen=True)
class CostModel:
    """``cost(f) = exp(log_scale) * prod_k f_k ** exponents_k`` over the fidelity ``keys``."""

    keys: tuple[str, ...]
    exponents: FloatArray
    log_scale: float
    source: CostSource
    note: str = ""

    def log_cost(self, fidelity: Mapping[str, float]) -> float:
        return self.log_scale + float(sum(e * math.log(fidelity[k]) for k, e in zip(self.keys, self.exponents,
                                                                                    strict=True)))

    def cost(self, fidelity: Mapping[str, float]) -> float:
        return math.exp(self.log_cost(fidelity))

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "exponents": dict(zip(self.keys, map(float, self.exponents), strict=True)),
                "log_scale": self.log_scale, "note": self.note}


def fit_cost_model(
    keys: Sequence[str],
    fidelities: Sequence[Mapping[str, float]],
    costs: Sequence[float | None],
    kind: Literal["observed", "product"] = "observed",
    exponents: Mapping[str, float] | None = None,
) -> CostModel:
    """The cost model over ``keys``.

    ``exponents`` given: ``prod f_k ** e_k`` (keys it omits get 0). ``kind="product"``: ``prod f_k``.
    ``kind="observed"``: least squares of ``log cost = a + sum_k b_k log f_k`` on the runs with a positive cost
    (``fidelities`` and ``costs`` aligned), when at least two have one. The fit is ridge-regularized toward
    ``b = 1`` with a tiny weight, so exponents the data cannot identify (e.g. all costed runs share one value of a
    key) stay at the product's 1 while the identified ones follow the data. Fewer than two costs: the product.
    """
    keys = tuple(keys)
    f = len(keys)
    if exponents is not None:
        unknown = sorted(set(exponents) - set(keys))
        if unknown:
            raise ValueError(f"cost_exponents names fidelity keys the runs do not have: {unknown}; known: {list(keys)}")
        return CostModel(keys, np.array([float(exponents.get(k, 0.0)) for k in keys]), 0.0, "config")
    product = CostModel(keys, np.ones(f), 0.0, "product")
    if kind == "product":
        return product
    rows = [(fid, c) for fid, c in zip(fidelities, costs, strict=True)
            if c is not None and math.isfinite(c) and c > 0 and all(k in fid for k in keys)]
    if len(rows) < 2:
        return CostModel(keys, np.ones(f), 0.0, "product",
                         f"{len(rows)} run(s) carry a cost; need 2 to fit, so cost = product of fidelity values")
    z = np.array([[math.log(fid[k]) for k in keys] for fid, _ in rows]).reshape(len(rows), f)
    y = np.log([c for _, c in rows])
    zc = z - z.mean(axis=0)
    yc = y - y.mean()
    gram = zc.T @ zc
    lam = 1e-8 * max(1.0, float(np.trace(gram)))
    b = np.linalg.solve(gram + lam * np.eye(f), zc.T @ yc + lam * np.ones(f)) if f else np.zeros(0)
    a = float(y.mean() - z.mean(axis=0) @ b)
    return CostModel(keys, b, a, "observed", f"log-linear fit on {len(rows)} runs with a cost")
