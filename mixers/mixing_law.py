"""``mixing_law``: a parametric data-mixing law per metric (Ye et al. 2024; Aioli's static law; DESIGN 4.2).

Per objective metric ``L(p) = c + s * exp(b + t . p)`` with ``s = +1`` (losses: convex, bounded below by c) or
``s = -1`` (scores that saturate from below); ``s`` is chosen by fit. On the simplex ``b`` and a common shift
of ``t`` are the same parameter, so the fit uses ``u = b + t`` (``d`` numbers) and reports
``b = mean(u)``, ``t = u - b``. Fitted with ``scipy.optimize.least_squares(loss="huber")`` on standardized
values from several seeded starts, best by cost. The optimum minimizes ``sign * L + kl_to_prior * KL(p || prior)``
over the bounded simplex with SLSQP from several starts. Predictions carry a std from the cross-validated residuals
(:mod:`mixers.uncertainty`).

Trust region (default): with one metric the law is monotone along every direction of the simplex, so its
unconstrained optimum is a vertex, far from every run it was fitted on (in the simulator campaigns that answer was
29.5% worse than the best mixture). The optimum is therefore searched only where the law has data:
``KL(p || centre) <= radius``, the centre being the mean of the best runs (5%, at least d + 1, mixed 10% with the
prior so that no domain is excluded outright) and the radius a multiple of the median KL of those runs to the
centre. The multiple is chosen by cross-validation: on each fold, the law fitted on the training runs gives its
optimum within the region of each multiple, and the held-out runs nearest that optimum (5) judge it by their
mean standardized objective; the multiple with the best mean over folds wins (ties: the smaller). Far from the
data the nearest held-out runs are poor ones, so the law is followed only as far as held-out runs confirm.
(On the 6-domain simulator world, 256 small runs: a fixed multiple of 0.25 gave a 3.2% gap at the target
fidelity, 2 gave 19%, the law's vertex 37%; ``bench/sim/law_trust.py``.)

Domain laws (default, when the data allow): when every run also reports a loss per domain (``val/<domain>`` or
``<domain>``, Aioli's names) and the objective is one other metric, each domain loss gets its own law and the
objective is fitted as a non-negative linear map of the observed domain losses plus an intercept (Ye et al.'s route
for a target that is a mixture of the domains' distributions). The combination of laws falling in different
directions has an interior optimum, searched on the bounded simplex without a trust region. It replaces the
objective's own law only when its out-of-fold error is lower (in-sample without enough runs to cross-validate);
otherwise, or with a target that is no mixture of the domains, the own law and its trust region answer. The
trust region keeps the answer near the best small runs, and their mean is itself 2-5% off at the target scale of
the simulator worlds; the domain laws move the answer towards the target's own mixture (simulator, 256 small
runs, 3 seeds, gap at the target: 5 domains 3.87% -> 1.52%, 6 domains 3.02% -> 1.11%, 7 domains 4.46% -> 1.54%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy.optimize import least_squares, minimize, nnls
from threadpoolctl import threadpool_limits

from mixers.base import MAX_PENALTY, MixerConfig
from mixers.cancel import checkpoint
from mixers.family_bounds import bounded_families
from mixers.features import FeatureMap
from mixers.importance import DomainImportance, slope_effect
from mixers.registry import register
from mixers.search import dirichlet_candidates, regularized_score, top_k_indices
from mixers.simplex import kl_to_prior, project_to_bounds
from mixers.single_fidelity import SingleFidelityConfig, SingleFidelityMixer
from mixers.training import (
    TAG_CV,
    TAG_FIT,
    TAG_RECOMMEND,
    TrainingSet,
    call_rng,
    mean_metrics,
    safe_spearman,
    subset,
)
from mixers.types import FloatArray, Problem, Recommendation

EXP_CAP = 50.0  # bound on |u|: exp(50) is far beyond any standardized metric
RADIUS_MULTIPLES = (0.125, 0.25, 0.5, 1.0, 2.0)  # trust radii tried, in units of the best runs' spread
NEAR_RUNS = 5  # held-out runs nearest the fold's optimum that judge it
CV_STARTS = 3  # optimum-search starts per fold and radius


class MixingLawConfig(SingleFidelityConfig):
    n_inits: int = Field(4, ge=1, le=100, description="seeded starting points per metric")
    huber_scale: float | None = Field(
        None, gt=0, le=MAX_PENALTY,
        description="Huber threshold in standard deviations of the metric; default 1.345 x robust "
        "residual scale"
    )
    n_starts: int = Field(8, ge=1, le=100, description="starting points of the optimum search")
    trust_region: bool = Field(
        True, description="search the optimum only near the best runs, KL(p || their centre) <= radius "
        "(off: the law's optimum on the whole bounded simplex, a vertex for one metric)"
    )
    trust_radius: float | None = Field(
        None, gt=0, le=1000, description="KL radius of the trust region; default: a multiple of the best runs' spread, "
        "chosen by cross-validation"
    )
    trust_top: float = Field(0.05, gt=0, le=1, description="share of the runs (at least d + 1) whose mean is the "
                             "centre of the trust region")
    domain_laws: bool = Field(
        True, description="when every run also reports a loss per domain (metric val/<domain> or <domain>) and the "
        "objective is one other metric: a law per domain loss and the objective as a non-negative linear map of "
        "those losses (an interior optimum, searched without a trust region), used when it predicts the objective "
        "better out of fold than the law of the objective itself"
    )


@dataclass(frozen=True)
class TrustRegion:
    """``{p : KL(p || centre) <= radius}``; ``spread``: median KL of the best runs to the centre."""

    centre: FloatArray
    spread: float
    radius: float


def trust_centre(x: FloatArray, loss: FloatArray, top: float, prior: FloatArray) -> tuple[FloatArray, float]:
    """Centre ``(d,)`` and spread of the best rows of ``x`` ``(n, d)`` by ``loss`` ``(n,)`` (lower is better)."""
    n, d = x.shape
    k = min(n, max(d + 1, math.ceil(top * n)))
    best = x[np.argsort(loss, kind="stable")[:k]]
    centre = 0.9 * best.mean(axis=0) + 0.1 * prior
    centre = centre / centre.sum()
    spread = float(np.median(kl_to_prior(best, centre)))
    return centre, max(spread, 1e-3)


@dataclass(frozen=True)
class ExpLaw:
    """``value = mean + scale * (c + s * exp(x @ u))`` for one metric (``u`` ``(d,)``)."""

    c: float
    s: float
    u: FloatArray
    mean: float
    scale: float
    cost: float

    def __call__(self, x: FloatArray) -> FloatArray:
        """Values ``(m,)`` at mixtures ``(m, d)``."""
        z = np.clip(x @ self.u, -EXP_CAP, EXP_CAP)
        return self.mean + self.scale * (self.c + self.s * np.exp(z))

    def grad(self, p: FloatArray) -> FloatArray:
        """Gradient ``(d,)`` at one mixture ``(d,)``."""
        return self.scale * self.s * float(np.exp(np.clip(p @ self.u, -EXP_CAP, EXP_CAP))) * self.u

    def summary(self) -> dict[str, Any]:
        """The law in the original units: ``L(p) = c + s * exp(b + t . p)``."""
        # scale * exp(u.p) = exp(log(scale) + u.p), so b absorbs the scale.
        b = float(np.mean(self.u))
        return {"c": self.mean + self.scale * self.c, "s": self.s, "b": b + float(np.log(self.scale)),
                "t": (self.u - b).tolist(), "huber_cost": self.cost}


@dataclass(frozen=True)
class FeatureLaw:
    """An :class:`ExpLaw` over features ``phi(p)`` (:mod:`mixers.features`) instead of the weights; same interface
    (values at mixtures, the gradient in the weights by the chain rule)."""

    law: ExpLaw
    features: FeatureMap

    def __call__(self, x: FloatArray) -> FloatArray:
        """Values ``(m,)`` at mixtures ``(m, d)``."""
        return self.law(self.features(x))

    def grad(self, p: FloatArray) -> FloatArray:
        """Gradient ``(d,)`` at one mixture ``(d,)``: ``J_phi(p).T`` times the law's gradient in the features."""
        return self.features.vjp(p, self.law.grad(self.features(p[None, :])[0]))

    def summary(self) -> dict[str, Any]:
        """The law's summary; ``t`` has one entry per feature (``features`` names them)."""
        return {**self.law.summary(), "features": list(self.features.names)}


def fit_feature_law(
    x: FloatArray,
    y: FloatArray,
    rng: np.random.Generator,
    n_inits: int,
    huber: float | None,
    features: FeatureMap,
    worse: int = 1,
) -> ExpLaw | FeatureLaw:
    """:func:`fit_exp_law` on the law's features (:meth:`FeatureMap.for_law`: the weights, and the repetition waste
    when the set has it, constrained to make the metric worse: rise for ``worse`` +1, fall for -1); the plain
    :class:`ExpLaw` when that is the weights alone. Family totals are left out: the law's exponent is linear in its
    inputs, so they add nothing (and, exact sums of weights, they only make the fit's Jacobian rank-deficient)."""
    law_map = features.for_law()
    if law_map.plain:
        return fit_exp_law(x, y, rng, n_inits, huber)
    return FeatureLaw(fit_exp_law(law_map(x), y, rng, n_inits, huber, rising_last=worse), law_map)


@dataclass(frozen=True)
class DomainTransfer:
    """One objective metric through per-domain laws: ``value = s * (a . [L_1(x) .. L_k(x)] + b)``, ``a >= 0``
    ``(k,)``, ``s`` +1 when a lower metric is better (-1: higher). Same interface as :class:`ExpLaw`."""

    laws: tuple[ExpLaw, ...]
    names: tuple[str, ...]
    a: FloatArray
    b: float
    s: float

    def __call__(self, x: FloatArray) -> FloatArray:
        """Values ``(m,)`` at mixtures ``(m, d)``."""
        return np.asarray(self.s * (np.column_stack([law(x) for law in self.laws]) @ self.a + self.b))

    def grad(self, p: FloatArray) -> FloatArray:
        """Gradient ``(d,)`` at one mixture ``(d,)``."""
        return np.asarray(self.s * sum(a * law.grad(p) for a, law in zip(self.a, self.laws, strict=True)))

    def summary(self) -> dict[str, Any]:
        return {"domain_metrics": list(self.names), "weights": self.a.tolist(), "intercept": self.b, "s": self.s,
                "domain_laws": {n: law.summary() for n, law in zip(self.names, self.laws, strict=True)}}


def fit_domain_transfer(
    x: FloatArray, y: FloatArray, losses: FloatArray, names: tuple[str, ...], s: float,
    rng: np.random.Generator, n_inits: int, huber: float | None,
) -> DomainTransfer:
    """Laws of the domain ``losses`` ``(n, k)`` at mixtures ``x`` ``(n, d)``, and ``s * y`` ``(n,)`` as a
    non-negative combination of the observed losses plus an intercept (least squares, :func:`scipy.optimize.nnls`).
    """
    laws = tuple(fit_exp_law(x, losses[:, j], rng, n_inits, huber) for j in range(losses.shape[1]))
    ones = np.ones((len(y), 1))
    coef, _ = nnls(np.hstack([losses, ones, -ones]), s * y)
    k = losses.shape[1]
    return DomainTransfer(laws, names, np.asarray(coef[:k], dtype=np.float64), float(coef[k] - coef[k + 1]), s)


def fit_exp_law(
    x: FloatArray, y: FloatArray, rng: np.random.Generator, n_inits: int, huber: float | None, rising_last: int = 0
) -> ExpLaw:
    """Fit ``y ~ c + s exp(x @ u)`` to ``x`` ``(n, d)``, ``y`` ``(n,)`` with a Huber loss.

    Starts: ``c`` a margin beyond the data's extreme and ``u`` the least-squares fit of ``log |y - c|`` on x,
    the margin varied per start and ``u`` jittered after the first; the best of ``n_inits`` by cost wins.
    ``huber`` is the Huber threshold in standard deviations of ``y``; None: a first pass at 1.0, then a refit
    at 1.345 times the residuals' robust scale (1.4826 x MAD), the usual choice for Huber regression,
    re-estimated three times. ``rising_last`` +1 (-1) constrains the law to rise (fall) with the last column of
    ``x`` (the sign of ``s * u[-1]``; 0: free).
    """
    # One BLAS thread: the problem is tiny ((n, d + 1) Jacobians), and OpenBLAS's spinning threads made a fit on
    # the 512 RegMix runs 30x slower (10 s instead of 0.3 s) whenever the other core was busy.
    with threadpool_limits(1, user_api="blas"):
        return _fit_exp_law(x, y, rng, n_inits, huber, rising_last)


def _fit_exp_law(
    x: FloatArray, y: FloatArray, rng: np.random.Generator, n_inits: int, huber: float | None, rising_last: int = 0
) -> ExpLaw:
    mean = float(y.mean())
    scale = float(y.std()) or 1.0
    z = (y - mean) / scale
    d = x.shape[1]
    margins = np.geomspace(0.05, 3.0, max(n_inits, 1))
    lb = np.concatenate([[-np.inf], np.full(d, -EXP_CAP)])
    ub = np.concatenate([[np.inf], np.full(d, EXP_CAP)])

    def resid(theta: FloatArray, s: float) -> FloatArray:
        return np.asarray(theta[0] + s * np.exp(np.clip(x @ theta[1:], -EXP_CAP, EXP_CAP)) - z)

    def jac(theta: FloatArray, s: float) -> FloatArray:
        e = s * np.exp(np.clip(x @ theta[1:], -EXP_CAP, EXP_CAP))
        return np.column_stack([np.ones(len(z)), e[:, None] * x])

    def start(s: float, i: int) -> FloatArray:
        c0 = (z.min() - margins[i]) if s > 0 else (z.max() + margins[i])
        u0 = np.linalg.lstsq(x, np.log(np.abs(z - c0)), rcond=None)[0]
        if i > 0:
            u0 = u0 + rng.normal(0.0, 0.3, size=d)
        return np.clip(np.concatenate([[c0], u0]), -EXP_CAP + 1, EXP_CAP - 1)

    def bounds(s: float) -> tuple[FloatArray, FloatArray]:
        lo_s, hi_s = lb.copy(), ub.copy()
        if rising_last * s > 0:
            lo_s[-1] = 0.0
        elif rising_last * s < 0:
            hi_s[-1] = 0.0
        return lo_s, hi_s

    def run(s: float, theta0: FloatArray, f_scale: float, max_nfev: int) -> tuple[FloatArray, float]:
        lo_s, hi_s = bounds(s)
        theta0 = np.clip(theta0, lo_s, hi_s)
        res = least_squares(resid, theta0, jac=jac, loss="huber", f_scale=f_scale, bounds=(lo_s, hi_s),
                            max_nfev=max_nfev, args=(s,))
        return np.asarray(res.x, dtype=np.float64), float(res.cost)

    f0 = 1.0 if huber is None else huber
    budget = 100 * (d + 2)
    # The sign is settled by one short fit each: the wrong sign drifts towards c = +-inf (a linear model)
    # and would otherwise use up its whole evaluation budget on every start.
    probes = [(s, *run(s, start(s, 0), f0, max(50, 5 * (d + 2)))) for s in (1.0, -1.0)]
    sign, theta, cost = min(probes, key=lambda p: p[2])
    for i in range(n_inits):
        checkpoint()
        cand, c = run(sign, theta if i == 0 else start(sign, i), f0, budget)
        if i == 0 or c < cost - 1e-12:
            theta, cost = cand, c
    if huber is None:
        for _ in range(3):  # re-estimate the scale from less and less biased residuals
            r = resid(theta, sign)
            sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
            theta, cost = run(sign, theta, max(1.345 * sigma, 1e-4), budget)
    return ExpLaw(float(theta[0]), sign, theta[1:].copy(), mean, scale, cost)


@register
class MixingLawMixer(SingleFidelityMixer):
    """The exponential data-mixing law per metric, optimized on the bounded simplex."""

    name: ClassVar[str] = "mixing_law"
    description: ClassVar[str] = (
        "Data-mixing law (Ye et al. 2024): per metric L(p) = c + exp(b + t.p), fitted robustly (Huber) on the "
        "runs of one fidelity; the optimum by constrained minimization on the simplex, near the best runs, or, when "
        "the runs report a loss per domain, through per-domain laws. Cheap and interpretable."
    )
    Config: ClassVar[type[MixerConfig]] = MixingLawConfig
    config: MixingLawConfig

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.laws: list[ExpLaw | FeatureLaw | DomainTransfer] = []  # what predicts and optimizes: one per metric
        self.own_laws: list[ExpLaw | FeatureLaw] = []  # the law of each objective metric itself (on the features)
        self.transfer: DomainTransfer | None = None  # the objective through per-domain laws, when fitted
        self.domains: tuple[tuple[str, ...], FloatArray] | None = None  # domain metric names, losses (n, k)
        self.transfer_cv: dict[str, Any] = {}
        self.radius_multiple = 1.0
        self.radius_cv: dict[str, float | None] = {}

    @property
    def min_runs(self) -> int:
        return self.features.for_law().n_features + 2

    def _domain_losses(self, ts: TrainingSet) -> tuple[tuple[str, ...], FloatArray] | None:
        """Per-domain loss metrics of every run behind ``ts`` (``val/<domain>`` or ``<domain>``, domains without
        one left out) and their values ``(n, k)``; None unless the objective is one metric, not one of them, and at
        least two domains have one."""
        metrics = tuple(self.problem.objective.metrics)
        if not self.config.domain_laws or len(metrics) != 1:
            return None
        names: list[str] = []
        cols: list[FloatArray] = []
        for dom in self.problem.domains:
            if metrics[0] in (f"val/{dom.name}", dom.name):
                return None  # the objective is itself a domain loss: its own law is the per-domain law
            for name in (f"val/{dom.name}", dom.name):
                col = mean_metrics(self.problem, self.observations, ts, [name])
                if col is not None:
                    names.append(name)
                    cols.append(col[:, 0])
                    break
        return (tuple(names), np.column_stack(cols)) if len(names) >= 2 else None

    def _fit_model(self, ts: TrainingSet) -> None:
        self.domains = self._domain_losses(ts)
        self._fit_laws(ts, self.domains)
        self.transfer_cv = {}
        if self.transfer is not None:  # until cross-validation decides: the better in-sample fit
            own = self.own_laws[0](ts.x) - ts.metrics[:, 0]
            via = self.transfer(ts.x) - ts.metrics[:, 0]
            self._use_transfer(float(np.mean(via**2)) < float(np.mean(own**2)))

    def _fit_laws(self, ts: TrainingSet, domains: tuple[tuple[str, ...], FloatArray] | None) -> None:
        """The law of each objective metric, and the per-domain transfer when ``domains`` (names, losses ``(n, k)``)."""
        cfg = self.config
        rng = call_rng(self.seed, TAG_FIT, np.random.default_rng(0))
        sign = self.problem.objective.sign
        self.own_laws = [fit_feature_law(ts.x, ts.metrics[:, j], rng, cfg.n_inits, cfg.huber_scale, self.features,
                                         1 if sign * ts.coefs[j] > 0 else -1)
                         for j in range(len(ts.metric_names))]
        self.laws = list(self.own_laws)
        self.transfer = None
        if domains is not None:
            s = 1.0 if self.problem.objective.sign * ts.coefs[0] > 0 else -1.0
            self.transfer = fit_domain_transfer(ts.x, ts.metrics[:, 0], domains[1], domains[0], s, rng,
                                                cfg.n_inits, cfg.huber_scale)

    def _use_transfer(self, use: bool) -> None:
        self.laws = [self.transfer] if use and self.transfer is not None else list(self.own_laws)

    @property
    def uses_transfer(self) -> bool:
        """Whether the objective is predicted (and optimized) through the per-domain laws."""
        return self.transfer is not None and self.laws[0] is self.transfer

    def _predict_metrics(self, x: FloatArray) -> FloatArray:
        return np.column_stack([law(x) for law in self.laws])

    def _cross_validate(self, ts: TrainingSet) -> None:
        """Out-of-fold Spearman, and the trust radius's multiple from the same fold fits (module docstring)."""
        self.radius_multiple, self.radius_cv = RADIUS_MULTIPLES[0], {}
        fold = self._cv_folds(ts)
        if fold is None:
            return
        folds = self.config.cv_folds
        sign = self.problem.objective.sign
        z = sign * (ts.y - ts.y.mean()) / (ts.y.std() or 1.0)  # standardized loss, lower is better
        pred = np.empty(ts.n)
        near = np.zeros(len(RADIUS_MULTIPLES))
        rng = call_rng(self.seed, TAG_CV, np.random.default_rng(0))
        via = np.empty(ts.n) if self.transfer is not None else None
        for k in range(folds):
            checkpoint()
            tr = fold != k
            sub = subset(ts, tr)
            clone = type(self)(self.problem, self.config, self.seed)
            clone._fit_laws(sub, None if self.domains is None else (self.domains[0], self.domains[1][tr]))
            pred[~tr] = clone._predict_metrics(ts.x[~tr]) @ ts.coefs
            if via is not None and clone.transfer is not None:
                via[~tr] = ts.coefs[0] * clone.transfer(ts.x[~tr])
            if not self.config.trust_region or self.config.trust_radius is not None:
                continue
            centre, spread = trust_centre(sub.x, sign * sub.y, self.config.trust_top, self.problem.prior())
            held_x, held_z = ts.x[~tr], z[~tr]
            n_near = min(NEAR_RUNS, len(held_z))
            for i, mult in enumerate(RADIUS_MULTIPLES):
                checkpoint()
                p, _, _ = clone._optimum(sub, TrustRegion(centre, spread, mult * spread), rng, CV_STARTS)
                dist = np.linalg.norm(held_x - p, axis=1)
                near[i] += float(held_z[np.argsort(dist, kind="stable")[:n_near]].mean())
        self.cv_spearman = safe_spearman(pred, ts.y)
        self.cv_note = f"{folds}-fold, on {ts.n} distinct mixtures"
        self._fit_residual(ts, fold, pred)
        if via is not None:
            rmse_own, rmse_via = (float(np.sqrt(np.mean((p - ts.y) ** 2))) for p in (pred, via))
            self.transfer_cv = {"rmse_own_law": rmse_own, "rmse_domain_laws": rmse_via}
            self._use_transfer(rmse_via < rmse_own)
            if self.uses_transfer:
                self.cv_spearman = safe_spearman(via, ts.y)
                self._fit_residual(ts, fold, via)
                self.cv_note += " (the objective through the per-domain laws)"
        if self.config.trust_region and self.config.trust_radius is None:
            mean_near = near / folds
            self.radius_cv = {f"{m:g}": float(v) for m, v in zip(RADIUS_MULTIPLES, mean_near, strict=True)}
            self.radius_multiple = RADIUS_MULTIPLES[int(np.argmin(mean_near))]  # first minimum: the smaller

    def trust_region(self) -> TrustRegion | None:
        """The region the optimum is searched in (None: the whole bounded simplex)."""
        ts = self._require_fit()
        if not self.config.trust_region or self.uses_transfer:
            return None
        centre, spread = trust_centre(ts.x, self.problem.objective.sign * ts.y, self.config.trust_top,
                                      self.problem.prior())
        radius = self.config.trust_radius if self.config.trust_radius is not None else self.radius_multiple * spread
        return TrustRegion(centre, spread, radius)

    def _objective(self, coefs: FloatArray, gap: float = 0.0) -> tuple[Any, Any]:
        """``f(p)`` and its gradient: ``sign * objective + kl_to_prior * KL(p || prior)`` at one mixture, the
        objective shifted by ``gap`` in log-compute when the scale shift is fitted."""
        sign = self.problem.objective.sign
        lam = self.config.kl_to_prior
        prior = self.problem.prior()
        shift = self.shift if gap != 0.0 else None

        def f(p: FloatArray) -> float:
            val = sign * sum(c * float(law(p[None, :])[0]) for law, c in zip(self.laws, coefs, strict=True))
            if shift is not None:
                val += sign * float(shift(p[None, :], gap)[0])
            if lam > 0:
                val += lam * float(kl_to_prior(np.clip(p, 0, None)[None, :], prior)[0])
            return float(val)

        def g(p: FloatArray) -> FloatArray:
            grad = sign * sum(c * law.grad(p) for law, c in zip(self.laws, coefs, strict=True))
            if shift is not None:
                grad = grad + sign * shift.grad(p, gap)
            if lam > 0:
                q = np.clip(p, 1e-12, None)
                grad = grad + lam * (np.log(q / np.maximum(prior, 1e-12)) + 1.0)
            return np.asarray(grad, dtype=np.float64)

        return f, g

    def _optimum(
        self, ts: TrainingSet, region: TrustRegion | None, rng: np.random.Generator, n_starts: int, gap: float = 0.0
    ) -> tuple[FloatArray, float, int]:
        """The law's optimum ``(d,)`` within the bounds (and ``region``), its search objective, starts used."""
        # One BLAS thread, as for the fit: SLSQP's small dense solves otherwise spin on a busy machine.
        with threadpool_limits(1, user_api="blas"):
            return self._optimum_here(ts, region, rng, n_starts, gap)

    def _optimum_here(
        self, ts: TrainingSet, region: TrustRegion | None, rng: np.random.Generator, n_starts: int, gap: float
    ) -> tuple[FloatArray, float, int]:
        cfg = self.config
        lo, hi = self.problem.bounds()
        f, g = self._objective(ts.coefs, gap)
        # Starts: the prior, the best observed run, and the best of a small Dirichlet(prior) sample.
        cands = dirichlet_candidates(rng, self.problem, 2000, min_feasible=n_starts).mixtures
        values = self._predict_metrics(cands) @ ts.coefs
        if gap != 0.0 and self.shift is not None:
            values = values + self.shift(cands, gap)
        score = regularized_score(values, self.problem.objective.sign, cands, self.problem.prior(), cfg.kl_to_prior)
        starts = [self.problem.prior(), ts.x[int(np.argmin(self.problem.objective.sign * ts.y))]]
        bounds = list(zip(lo, hi, strict=True))
        cons: list[dict[str, Any]] = [
            {"type": "eq", "fun": lambda p: np.sum(p) - 1.0, "jac": lambda p: np.ones_like(p)},
            *family_constraints(self.problem),
        ]
        if region is not None:
            centre, radius = region.centre, region.radius
            starts = [project_to_bounds(centre, lo, hi, families=self.problem.families),
                      *[s for s in starts if _kl(s, centre) <= radius]]
            score = np.where(kl_to_prior(cands, centre) <= radius, score, np.inf)
            cons.append({
                "type": "ineq",
                "fun": lambda p: radius - _kl(p, centre),
                "jac": lambda p: -(np.log(np.clip(p, 1e-12, None) / centre) + 1.0),
            })
        n_more = max(0, n_starts - len(starts))
        starts += [cands[i] for i in top_k_indices(score, n_more) if np.isfinite(score[i])]
        best_p, best_f = None, np.inf
        for start in starts[:n_starts]:
            checkpoint()
            p0 = project_to_bounds(start, lo, hi, families=self.problem.families)
            # Within a trust region the optimum sits on its KL boundary, which SLSQP approaches slowly: 100
            # iterations to 1e-9 reach it to well under a thousandth of the radius (300 to 1e-12 cost 30x more).
            opts = {"maxiter": 300, "ftol": 1e-12} if region is None else {"maxiter": 100, "ftol": 1e-9}
            res = minimize(f, p0, jac=g, method="SLSQP", bounds=bounds, constraints=cons, options=opts)
            p = project_to_bounds(np.asarray(res.x, dtype=np.float64), lo, hi, families=self.problem.families)
            if region is not None and _kl(p, region.centre) > region.radius * (1 + 1e-3) + 1e-9:
                continue  # SLSQP stopped outside the region
            val = f(p)
            if val < best_f - 1e-12:
                best_p, best_f = p, val
        if best_p is None:  # no run ended inside: the first start (the centre, with a region)
            best_p = project_to_bounds(starts[0], lo, hi, families=self.problem.families)
            best_f = f(best_p)
        return best_p, float(best_f), min(n_starts, len(starts))

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        ts = self._require_fit()
        if (reused := self.reused_recommendation(fidelity)) is not None:
            return reused
        cfg = self.config
        rng = call_rng(self.seed, TAG_RECOMMEND, self.rng)
        region = self.trust_region()
        best_p, best_f, used_starts = self._optimum(ts, region, rng, cfg.n_starts, self.scale_gap(fidelity))
        at_best = self.predict(best_p[None, :], fidelity)
        predicted = float(at_best.mean[0])
        diag = self.base_diagnostics(fidelity)
        diag.update({
            "laws": {name: law.summary() for name, law in zip(ts.metric_names, self.laws, strict=True)},
            "n_starts": used_starts,
            "search_objective": float(best_f),
            "kl_of_recommendation": float(kl_to_prior(best_p[None, :], self.problem.prior())[0]),
        })
        if self.transfer is not None:
            diag["domain_laws"] = {
                "used": self.uses_transfer,
                "cv_rmse": self.transfer_cv,
                "note": "the objective as a non-negative linear map of per-domain losses, each with its own law; "
                        "used when its out-of-fold error is lower than the objective's own law's, and then "
                        "optimized without a trust region (the combination has an interior optimum)",
            }
        if region is not None:
            diag["trust_region"] = {
                "centre": region.centre.tolist(),
                "radius": region.radius,
                "best_runs_spread": region.spread,
                "radius_multiple": None if cfg.trust_radius is not None else self.radius_multiple,
                "cv_held_out_near_optimum_by_multiple": self.radius_cv,
                "kl_of_recommendation_to_centre": _kl(best_p, region.centre),
                "note": "the optimum is searched only within KL(p || centre of the best runs) <= radius, where "
                        "the law was fitted; radius multiple chosen by cross-validation unless trust_radius is set",
            }
        elif len(ts.metric_names) == 1 and cfg.kl_to_prior == 0 and not self.uses_transfer:
            diag["note"] = (
                "with one metric the law is monotone along every direction of the simplex, so the optimum is a "
                "vertex of the feasible region (a single domain when unbounded); for an interior mixture use an "
                "objective over several per-domain metrics, bounds, or kl_to_prior"
            )
        std = None if at_best.std is None else float(at_best.std[0])
        return Recommendation(weights=best_p, predicted=predicted, std=std, diagnostics=diag)

    # -- what drives the objective ---------------------------------------------------------------------

    def domain_importance(self) -> DomainImportance | None:
        """The fitted laws' slope effect per domain (:func:`mixers.importance.slope_effect`): from the law's
        gradient ``s * exp(b + t.p) * t`` (the coefficients ``t`` times the law's local scale; through the
        per-domain laws when those predict), the slope as the domain's weight grows and the others shrink
        proportionally, in absolute value, averaged over the training mixtures, times the sd of the domain's
        weight there."""
        ts = self._require_fit()

        def grad(p: FloatArray) -> FloatArray:
            return np.asarray(sum(c * law.grad(p) for law, c in zip(self.laws, ts.coefs, strict=True)))

        via = "per-domain laws" if self.uses_transfer else "the objective's law"
        return DomainImportance(slope_effect(grad, ts.x), "law_slope",
                                f"|slope of {via}| as the domain's weight grows (from the coefficients t x the law's "
                                f"local scale), averaged over the {ts.n} training mixtures, x sd of the domain's "
                                f"weight")


def family_constraints(problem: Problem) -> list[dict[str, Any]]:
    """SLSQP inequality constraints ``A p <= b`` for the bounds on family totals (none without family bounds)."""
    rows, rhs = [], []
    for fam in bounded_families(problem.families):
        row = np.zeros(problem.d)
        row[list(fam.members)] = 1.0
        if fam.max_weight is not None:
            rows.append(-row)
            rhs.append(fam.max_weight)
        if fam.min_weight is not None:
            rows.append(row)
            rhs.append(-fam.min_weight)
    if not rows:
        return []
    a, b = np.array(rows), np.array(rhs)
    return [{"type": "ineq", "fun": lambda p: a @ p + b, "jac": lambda p: a}]


def _kl(p: FloatArray, centre: FloatArray) -> float:
    """KL(p || centre) of one mixture ``(d,)`` (entries <= 0 of an SLSQP iterate count as 0)."""
    pos = p > 0
    return float(np.sum(p[pos] * np.log(p[pos] / np.maximum(centre[pos], 1e-12))))
