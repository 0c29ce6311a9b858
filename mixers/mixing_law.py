"""``mixing_law``: a parametric data-mixing law per metric (Ye et al. 2024; Aioli's static law; DESIGN 4.2).

Per objective metric ``L(p) = c + s * exp(b + t . p)`` with ``s = +1`` (losses: convex, bounded below by c) or
``s = -1`` (scores that saturate from below); ``s`` is chosen by fit. On the simplex ``b`` and a common shift
of ``t`` are the same parameter, so the fit uses ``u = b + t`` (``d`` numbers) and reports
``b = mean(u)``, ``t = u - b``. Fitted with ``scipy.optimize.least_squares(loss="huber")`` on standardized
values from several seeded starts, best by cost. The optimum minimizes ``sign * L + kl_to_prior * KL(p || prior)``
over the bounded simplex with SLSQP from several starts. Predictions carry no std.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy.optimize import least_squares, minimize

from mixers.base import MixerConfig
from mixers.offline_common import (
    TAG_FIT,
    TAG_RECOMMEND,
    SingleFidelityConfig,
    SingleFidelityMixer,
    TrainingSet,
    call_rng,
    dirichlet_candidates,
    regularized_score,
    top_k_indices,
)
from mixers.registry import register
from mixers.simplex import kl_to_prior, project_to_bounds
from mixers.types import FloatArray, Problem, Recommendation

EXP_CAP = 50.0  # bound on |u|: exp(50) is far beyond any standardized metric


class MixingLawConfig(SingleFidelityConfig):
    n_inits: int = Field(4, ge=1, le=100, description="seeded starting points per metric")
    huber_scale: float | None = Field(
        None, gt=0, description="Huber threshold in standard deviations of the metric; default 1.345 x robust "
        "residual scale"
    )
    n_starts: int = Field(8, ge=1, le=100, description="starting points of the optimum search")


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


def fit_exp_law(
    x: FloatArray, y: FloatArray, rng: np.random.Generator, n_inits: int, huber: float | None
) -> ExpLaw:
    """Fit ``y ~ c + s exp(x @ u)`` to ``x`` ``(n, d)``, ``y`` ``(n,)`` with a Huber loss.

    Starts: ``c`` a margin beyond the data's extreme and ``u`` the least-squares fit of ``log |y - c|`` on x,
    the margin varied per start and ``u`` jittered after the first; the best of ``n_inits`` by cost wins.
    ``huber`` is the Huber threshold in standard deviations of ``y``; None: a first pass at 1.0, then a refit
    at 1.345 times the residuals' robust scale (1.4826 x MAD), the usual choice for Huber regression,
    re-estimated three times.
    """
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

    def run(s: float, theta0: FloatArray, f_scale: float, max_nfev: int) -> tuple[FloatArray, float]:
        res = least_squares(resid, theta0, jac=jac, loss="huber", f_scale=f_scale, bounds=(lb, ub),
                            max_nfev=max_nfev, args=(s,))
        return np.asarray(res.x, dtype=np.float64), float(res.cost)

    f0 = 1.0 if huber is None else huber
    budget = 100 * (d + 2)
    # The sign is settled by one short fit each: the wrong sign drifts towards c = +-inf (a linear model)
    # and would otherwise use up its whole evaluation budget on every start.
    probes = [(s, *run(s, start(s, 0), f0, max(50, 5 * (d + 2)))) for s in (1.0, -1.0)]
    sign, theta, cost = min(probes, key=lambda p: p[2])
    for i in range(n_inits):
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
        "runs of one fidelity; the optimum by constrained minimization on the simplex. Cheap and interpretable."
    )
    Config: ClassVar[type[MixerConfig]] = MixingLawConfig
    config: MixingLawConfig

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.laws: list[ExpLaw] = []

    @property
    def min_runs(self) -> int:
        return self.problem.d + 2

    def _fit_model(self, ts: TrainingSet) -> None:
        rng = call_rng(self.seed, TAG_FIT, np.random.default_rng(0))
        self.laws = [fit_exp_law(ts.x, ts.metrics[:, j], rng, self.config.n_inits, self.config.huber_scale)
                     for j in range(len(ts.metric_names))]

    def _predict_metrics(self, x: FloatArray) -> FloatArray:
        return np.column_stack([law(x) for law in self.laws])

    def _objective(self, coefs: FloatArray) -> tuple[Any, Any]:
        """``f(p)`` and its gradient: ``sign * objective + kl_to_prior * KL(p || prior)`` at one mixture."""
        sign = self.problem.objective.sign
        lam = self.config.kl_to_prior
        prior = self.problem.prior()

        def f(p: FloatArray) -> float:
            val = sign * sum(c * float(law(p[None, :])[0]) for law, c in zip(self.laws, coefs, strict=True))
            if lam > 0:
                val += lam * float(kl_to_prior(np.clip(p, 0, None)[None, :], prior)[0])
            return float(val)

        def g(p: FloatArray) -> FloatArray:
            grad = sign * sum(c * law.grad(p) for law, c in zip(self.laws, coefs, strict=True))
            if lam > 0:
                q = np.clip(p, 1e-12, None)
                grad = grad + lam * (np.log(q / np.maximum(prior, 1e-12)) + 1.0)
            return np.asarray(grad, dtype=np.float64)

        return f, g

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        ts = self._require_fit()
        cfg = self.config
        rng = call_rng(self.seed, TAG_RECOMMEND, self.rng)
        lo, hi = self.problem.bounds()
        f, g = self._objective(ts.coefs)
        # Starts: the prior, the best observed run, and the best of a small Dirichlet(prior) sample.
        cands = dirichlet_candidates(rng, self.problem, 2000, min_feasible=cfg.n_starts).mixtures
        score = regularized_score(self._predict_metrics(cands) @ ts.coefs, self.problem.objective.sign, cands,
                                  self.problem.prior(), cfg.kl_to_prior)
        starts = [self.problem.prior(), ts.x[int(np.argmin(self.problem.objective.sign * ts.y))]]
        starts += list(cands[top_k_indices(score, max(0, cfg.n_starts - 2))])
        bounds = list(zip(lo, hi, strict=True))
        cons = [{"type": "eq", "fun": lambda p: np.sum(p) - 1.0, "jac": lambda p: np.ones_like(p)}]
        best_p, best_f = None, np.inf
        for start in starts[: cfg.n_starts]:
            p0 = project_to_bounds(start, lo, hi)
            res = minimize(f, p0, jac=g, method="SLSQP", bounds=bounds, constraints=cons,
                           options={"maxiter": 300, "ftol": 1e-12})
            p = project_to_bounds(np.asarray(res.x, dtype=np.float64), lo, hi)
            val = f(p)
            if val < best_f - 1e-12:
                best_p, best_f = p, val
        assert best_p is not None
        predicted = float(self.predict(best_p[None, :]).mean[0])
        diag = self.base_diagnostics(fidelity)
        diag.update({
            "laws": {name: law.summary() for name, law in zip(ts.metric_names, self.laws, strict=True)},
            "n_starts": min(cfg.n_starts, len(starts)),
            "search_objective": float(best_f),
            "kl_of_recommendation": float(kl_to_prior(best_p[None, :], self.problem.prior())[0]),
        })
        if len(ts.metric_names) == 1 and cfg.kl_to_prior == 0:
            diag["note"] = (
                "with one metric the law is monotone along every direction of the simplex, so the optimum is a "
                "vertex of the feasible region (a single domain when unbounded); for an interior mixture use an "
                "objective over several per-domain metrics, bounds, or kl_to_prior"
            )
        return Recommendation(weights=best_p, predicted=predicted, std=None, diagnostics=diag)
