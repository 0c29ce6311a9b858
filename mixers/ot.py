"""``ot``: optimal-transport projection and performance scaling (DESIGN 4.4, after Kang et al., NeurIPS 2023).

Inputs: ``Problem.embeddings`` holds an ``(n_i, k)`` array per domain and a ``"target"`` array ``(n_t, k)``.
The distance of a mixture ``p`` to the target is the OT distance of :mod:`mixers.ot_distance` (squared
Euclidean cost; exact ``ot.emd`` for small sets, entropic Sinkhorn with ``eps = reg * median cost`` above
``auto_exact_max`` points). The cost matrix is built once at ``fit`` and cached (not pickled: rebuilt on
first use after unpickling).

- No usable runs: ``predict`` returns the OT distance (``sign * distance``: negated for ``maximize``
  objectives, so that the best prediction is still the closest mixture); ``recommend`` returns the mixture
  closest to the target within the bounds (+ ``kl_to_prior * KL(p || prior)``).
- Runs at one or more data sizes (fidelity key ``tokens``; runs are grouped by it, other keys are ignored):
  per size, ``L(p) = c + Q1(p) * OT(p) / s + Q0(p)`` where ``Q1``, ``Q0`` are quadratics in ``p`` written in
  Scheffé's mixture basis (``p_i`` and ``p_i p_j``, ``i < j``: complete for quadratics on the simplex and
  without the collinear constant; ``degree=1`` keeps only ``p_i``) and ``s`` is the mean OT distance of the
  observed mixtures. Fitted by least squares when there are more runs than features + 1, otherwise by ridge
  regression whose penalty is chosen by exact leave-one-out error (intercept unpenalized, so predictions
  shrink towards the mean, not towards 0). The objective is fitted as one value: the fit is linear in the
  targets, so it equals the weighted sum of per-metric fits (DESIGN 4.0) for a shared penalty.
- Another size ``N``: the exact size's fit if there is one; else the fits of two sizes combined linearly in
  ``log N`` (the two largest above the observed range, the two smallest below it, the bracketing pair
  inside it); runs at one size only: that fit, said so in the diagnostics.
- The optimum: projected gradient descent on the bounded simplex (Armijo backtracking, batched over starts,
  Sinkhorn warm-started from the previous potentials). The distance (exact or entropic) and the KL term are
  convex in ``p``, so without a predictor the search starts from the prior only; with one, also from the
  uniform mixture, the best observed run and seeded Dirichlet draws (``n_starts``). Gradient: the chain rule
  with ``dOT/dp`` from the dual potentials.
- ``propose``: candidates near the recommended mixture (Dirichlet around it) and RegMix-recipe exploration
  draws (or the given ``candidates``), novel against observed and pending runs, scored by the current
  predictor (rank, best first) and picked greedily with a distance penalty for diversity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy.stats import rankdata

from mixers.base import MAX_PENALTY, MixerConfig, MixerError, OfflineMixer
from mixers.ot_distance import OTDistance, OTResult
from mixers.ot_model import Objective, ScalingModel, SizeFit, fit_size, projected_gradient
from mixers.proposals import PROPOSAL_TOL, ProposalRecipe, collect_novel, diverse_top, eligible_pool, existing_mixtures
from mixers.registry import register
from mixers.simplex import greedy_distinct, kl_to_prior, project_to_bounds, sample_dirichlet
from mixers.training import TAG_PROPOSE, TAG_RECOMMEND, call_rng, group_replicates, usable_observations
from mixers.types import (
    FidelityAnswer,
    FloatArray,
    Observation,
    PendingRun,
    Predictions,
    Problem,
    ProposedBatch,
    ProposedRun,
    Recommendation,
    fidelity_key,
)

TAG_SUBSAMPLE = 11
TARGET = "target"


class OTConfig(MixerConfig):
    solver: Literal["auto", "exact", "sinkhorn"] = Field(
        "auto", description="exact network simplex, entropic Sinkhorn, or by size (auto_exact_max)"
    )
    reg: float = Field(0.05, gt=0, le=100, description="Sinkhorn regularization, relative to the median cost")
    auto_exact_max: int = Field(
        800, ge=2, le=100_000, description="auto: exact OT up to this many points (sources + target)"
    )
    precision: Literal["auto", "single", "double"] = Field(
        "auto", description="Sinkhorn kernel precision (auto: single from 1e6 kernel entries on)"
    )
    sinkhorn_tol: float = Field(1e-6, gt=0, lt=1, description="L1 error of the target marginal to stop at")
    sinkhorn_max_iter: int = Field(1000, ge=1, le=100_000)
    max_points_per_domain: int | None = Field(None, ge=1, le=1_000_000, description="subsample each domain (seeded)")
    max_target_points: int | None = Field(None, ge=1, le=1_000_000, description="subsample the target (seeded)")
    kl_to_prior: float = Field(0.0, ge=0, le=MAX_PENALTY, description="lambda in objective + lambda * KL(p || prior)")
    n_starts: int = Field(
        4,
        ge=1,
        le=64,
        description="starting points of the optimum search with a fitted predictor (without one "
        "the distance is convex and the search starts from the prior only)",
    )
    max_iter: int = Field(60, ge=1, le=10_000, description="projected-gradient iterations")
    degree: Literal[1, 2] = Field(
        2, description="degree of the polynomials in p of the performance predictor"
    )
    ridge_alpha: float | None = Field(
        None, ge=0, le=MAX_PENALTY,
        description="ridge penalty (default: least squares if runs > features + 1, else by LOO)"
    )
    min_runs_per_size: int = Field(3, ge=2, le=10_000, description="distinct mixtures a data size needs to be fitted")
    proposal_pool: int = Field(64, ge=8, le=4096, description="candidates scored per proposal batch")


# -- the mixer ----------------------------------------------------------------------------------------------


def _subsample(x: NDArray[Any], cap: int | None, seed: int, index: int) -> NDArray[np.float32]:
    arr = np.asarray(x, dtype=np.float32)
    if cap is None or len(arr) <= cap:
        return arr
    rng = np.random.default_rng([seed, TAG_SUBSAMPLE, index])
    return arr[np.sort(rng.choice(len(arr), size=cap, replace=False))]


def check_embeddings(problem: Problem) -> tuple[list[NDArray[Any]], NDArray[Any]]:
    """The domains' arrays (in domain order) and the target's, validated; MixerError names what is wrong."""
    emb = problem.embeddings
    need = [*problem.names, TARGET]
    missing = [n for n in need if n not in emb]
    if missing:
        raise MixerError(
            f"the ot mixer needs an embedding set for every domain and for the target; missing: "
            f"{', '.join(missing)}"
        )
    arrays = {}
    for n in need:
        a = np.asarray(emb[n])
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise MixerError(f"embedding set {n!r} must be a non-empty (n, dim) array, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
            raise MixerError(f"embedding set {n!r} holds non-finite or non-numeric values")
        arrays[n] = a
    dims = {n: a.shape[1] for n, a in arrays.items()}
    if len(set(dims.values())) > 1:
        raise MixerError(
            "embedding sets differ in dimension: " + ", ".join(f"{n}={k}" for n, k in dims.items())
        )
    return [arrays[n] for n in problem.names], arrays[TARGET]


def _tokens_of(fidelity: Mapping[str, float] | None) -> float | None:
    t = (fidelity or {}).get("tokens")
    return float(t) if t is not None and t > 0 else None


@register
class OTMixer(OfflineMixer):
    """Distance to the target by optimal transport, optionally scaled by a fitted performance predictor."""

    name: ClassVar[str] = "ot"
    description: ClassVar[str] = (
        "Optimal transport (Kang et al. 2023): the mixture whose embeddings are closest to the target's, "
        "or with runs at several data sizes, L = quad(p) * OT(p) + quad(p) per size extrapolated in log N. "
        "Needs embedding sets for every domain and 'target'."
    )
    Config: ClassVar[type[MixerConfig]] = OTConfig
    needs_embeddings: ClassVar[bool] = True
    extra_embedding_sets: ClassVar[tuple[str, ...]] = (TARGET,)
    answers_without_runs: ClassVar[bool] = True
    config: OTConfig

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.dist: OTDistance | None = None
        self.fits: list[SizeFit] = []
        self.observations: list[Observation] = []
        self.notes: list[str] = []
        self.runs_used = 0
        self._recs: dict[str, Recommendation] = {}

    # fitting ----------------------------------------------------------------------------------------------

    def fit(self, observations: Sequence[Observation]) -> OTMixer:
        cfg = self.config
        sources, target = check_embeddings(self.problem)
        base_seed = 0 if self.seed is None else int(self.seed) % (2**63)
        subs = [_subsample(s, cfg.max_points_per_domain, base_seed, i) for i, s in enumerate(sources)]
        tgt = _subsample(target, cfg.max_target_points, base_seed, len(sources))
        self.dist = OTDistance(
            subs,
            tgt,
            cfg.solver,
            cfg.reg,
            cfg.auto_exact_max,
            cfg.sinkhorn_tol,
            cfg.sinkhorn_max_iter,
            cfg.precision,
        ).prepare()
        self.observations = list(observations)
        self.fits, self.notes, self._recs = [], [], {}
        self._fit_runs(usable_observations(self.observations, self.problem.objective))
        return self

    def _fit_runs(self, usable: list[Observation]) -> None:
        cfg = self.config
        with_tokens = [o for o in usable if _tokens_of(o.fidelity) is not None]
        if with_tokens and len(with_tokens) < len(usable):
            self.notes.append(
                f"{len(usable) - len(with_tokens)} runs without a 'tokens' fidelity were ignored"
            )
        runs = with_tokens or usable
        groups: dict[float | None, list[Observation]] = {}
        for o in runs:
            t = _tokens_of(o.fidelity)
            key = float(f"{t:.6g}") if t is not None else None
            groups.setdefault(key, []).append(o)
        kept: dict[float | None, list[Observation]] = {}
        for key, obs in groups.items():
            w = np.vstack([o.weights for o in obs])
            if int(group_replicates(w).max()) + 1 >= cfg.min_runs_per_size:
                kept[key] = obs
            else:
                self.notes.append(
                    f"tokens={key}: too few distinct mixtures to fit ({len(obs)} runs, need "
                    f"{cfg.min_runs_per_size} distinct)"
                )
        if not kept:
            return
        order = sorted(kept, key=lambda k: -1.0 if k is None else k)
        all_w = np.vstack([o.weights for key in order for o in kept[key]])
        uniq, inv = np.unique(np.round(all_w, 12), axis=0, return_inverse=True)
        assert self.dist is not None
        ot_all = self.dist(uniq).values[inv.reshape(-1)]
        ot_scale = float(np.mean(ot_all))
        ot_scale = ot_scale if ot_scale > 0 and math.isfinite(ot_scale) else 1.0
        start = 0
        obj = self.problem.objective
        for key in order:
            obs = kept[key]
            p = np.vstack([o.weights for o in obs]).astype(np.float64)
            y = np.array([obj.value(o.metrics) for o in obs], dtype=np.float64)
            ot_val = ot_all[start : start + len(obs)]
            start += len(obs)
            self.fits.append(fit_size(p, y, ot_val, ot_scale, key, cfg.degree, cfg.ridge_alpha))
        self.runs_used = sum(f.runs for f in self.fits)

    def _require_dist(self) -> OTDistance:
        if self.dist is None:
            raise MixerError("the mixer is not fitted; call fit first")
        return self.dist

    # the model for a size ------------------------------------------------------------------------------

    def model_for(self, fidelity: Mapping[str, float] | None) -> tuple[ScalingModel | None, str]:
        """The predictor at ``fidelity``'s data size (default: the target's) and how it was obtained."""
        if not self.fits:
            return None, "no fitted runs: predictions are the OT distance (negated for maximize objectives)"
        want = _tokens_of(fidelity if fidelity is not None else self.problem.target_fidelity)
        fits = self.fits
        if len(fits) == 1 or fits[0].tokens is None:
            f = fits[-1]
            where = (
                "runs without data size"
                if f.tokens is None
                else f"runs at one data size only (N={f.tokens:g})"
            )
            target = "the target" if want is None else f"N={want:g}"
            return f.model, f"{where}: that fit is used as is for {target}"
        if want is None:
            return fits[
                -1
            ].model, f"no requested data size: the fit at the largest size N={fits[-1].tokens:g}"
        sizes = np.array([f.tokens for f in fits], dtype=np.float64)
        hit = np.flatnonzero(np.isclose(sizes, want, rtol=1e-6, atol=0))
        if len(hit):
            return fits[int(hit[0])].model, f"the fit at N={want:g}"
        if want > sizes[-1]:
            i, j, how = len(fits) - 2, len(fits) - 1, "extrapolated from the two largest sizes"
        elif want < sizes[0]:
            i, j, how = 0, 1, "extrapolated from the two smallest sizes"
        else:
            j = int(np.searchsorted(sizes, want))
            i, how = j - 1, "interpolated between the bracketing sizes"
        lam = (math.log(want) - math.log(sizes[i])) / (math.log(sizes[j]) - math.log(sizes[i]))
        note = f"{how} N={sizes[i]:g} and N={sizes[j]:g}, linearly in log N, to N={want:g}"
        return fits[i].model.blend(fits[j].model, lam), note

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """Where :meth:`model_for`'s answer lives: ``observed`` at a fitted data size, ``extrapolated`` between or
        beyond fitted sizes (the log-N blend), ``assumed`` when one fit (or the bare OT distance) is carried to
        another size, or when the request names keys other than ``tokens`` that no run has."""
        self._require_dist()
        requested = fidelity if fidelity is not None else self.problem.target_fidelity
        _, note = self.model_for(fidelity)
        fid = {str(k): float(v) for k, v in (requested or {}).items()}
        if not self.fits:
            return FidelityAnswer(fid, "assumed", note)
        want = _tokens_of(requested)
        sizes = [f.tokens for f in self.fits]
        if want is None:
            largest = sizes[-1]
            fid = {"tokens": float(largest)} if largest is not None else {}
            return FidelityAnswer(fid, "observed", note)
        hit = any(t is not None and math.isclose(t, want, rel_tol=1e-6) for t in sizes)
        if hit:
            runs_there = {fidelity_key(o.fidelity) for o in self.observations}
            exact = set(fid) <= {"tokens"} or fidelity_key(fid) in runs_there
            return FidelityAnswer(fid, "observed" if exact else "assumed",
                                  note if exact else note + "; keys other than tokens are not modeled")
        if len(self.fits) == 1 or self.fits[0].tokens is None:
            return FidelityAnswer(fid, "assumed", note)
        return FidelityAnswer(fid, "extrapolated", note)

    # the interface -----------------------------------------------------------------------------------------

    def _check_mixtures(self, mixtures: FloatArray) -> FloatArray:
        x = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
        if x.ndim != 2 or x.shape[1] != self.problem.d:
            raise MixerError(f"mixtures must have shape (m, {self.problem.d}), got {x.shape}")
        return x

    def _predict(self, x: FloatArray, model: ScalingModel | None) -> tuple[FloatArray, OTResult]:
        res = self._require_dist()(x)
        if model is None:
            return self.problem.objective.sign * res.values, res
        return model.value(x, res.values), res

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        x = self._check_mixtures(mixtures)
        model, _ = self.model_for(fidelity)
        return Predictions(mean=self._predict(x, model)[0], std=None)

    def _search_objective(self, model: ScalingModel | None) -> Objective:
        """``sign * L`` (or the OT distance without a model) ``+ kl_to_prior * KL``, with gradients."""
        dist = self._require_dist()
        sign = self.problem.objective.sign
        lam = self.config.kl_to_prior
        prior = np.maximum(self.problem.prior(), 1e-12)

        def fun(p: FloatArray, warm: FloatArray | None) -> tuple[FloatArray, FloatArray, FloatArray]:
            r = dist(p, warm)
            if model is None:
                val, grad = r.values.copy(), r.grads.copy()
            else:
                val, grad = sign * model.value(p, r.values), sign * model.grad(p, r.values, r.grads)
            if lam > 0:
                val = val + lam * kl_to_prior(p, prior)
                grad = grad + lam * (np.log(np.maximum(p, 1e-12) / prior) + 1.0)
            return val, grad, r.target_potentials

        return fun

    def _starts(self, rng: np.random.Generator, model: ScalingModel | None) -> FloatArray:
        """Starting points ``(s, d)``.

        Without a predictor the prior alone: the OT distance and the KL term are convex in ``p``, so one start
        finds the optimum. With one, also the uniform mixture, the best observed run and Dirichlet(prior x d)
        draws, up to ``n_starts`` distinct points.
        """
        d = self.problem.d
        lo, hi = self.problem.bounds()
        prior = self.problem.prior()
        if model is None:
            return project_to_bounds(prior[None, :], lo, hi, families=self.problem.families)
        rows = [prior, np.full(d, 1.0 / d)]
        if model is not None and self.observations:
            used = usable_observations(self.observations, self.problem.objective)
            if used:
                w = np.vstack([o.weights for o in used])
                rows.append(w[int(np.argmin(self.problem.objective.sign * self._predict(w, model)[0]))])
        rows += list(sample_dirichlet(rng, prior * d, max(self.config.n_starts, 2)))
        cand = project_to_bounds(np.vstack(rows), lo, hi, families=self.problem.families)
        keep = greedy_distinct(np.arange(len(cand)), cand, self.config.n_starts, tol=PROPOSAL_TOL)
        return cand[keep]

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        dist = self._require_dist()
        key = "target" if fidelity is None else fidelity_key(fidelity)
        if key in self._recs:
            return self._recs[key]
        cfg = self.config
        rng = call_rng(self.seed, TAG_RECOMMEND, self.rng)
        lo, hi = self.problem.bounds()
        model, note = self.model_for(fidelity)
        res = projected_gradient(
            self._search_objective(model), self._starts(rng, model), lo, hi, cfg.max_iter, self.problem.families
        )
        best = int(np.argmin(res.value))
        p = project_to_bounds(res.p[best], lo, hi, families=self.problem.families)
        pred, ot_res = self._predict(p[None, :], model)
        sizes = dict(zip(self.problem.names, dist.sizes, strict=True))
        diag: dict[str, Any] = {
            "mode": "ot_distance" if model is None else "ot_performance_predictor",
            "fidelity_note": note,
            "requested_fidelity": dict(fidelity) if fidelity is not None else self.problem.target_fidelity,
            "runs_used": self.runs_used,
            "sizes": [f.summary() for f in self.fits],
            "cv_spearman": self._cv_spearman(),
            "notes": list(self.notes),
            "solver": dist.solver,
            "precision": dist.precision if dist.solver == "sinkhorn" else None,
            "eps": dist.eps if dist.solver == "sinkhorn" else None,
            "reg_relative": cfg.reg,
            "points": {"domains": sizes, "target": dist.n_target},
            "ot_distance": float(ot_res.values[0]),
            "ot_converged": bool(ot_res.converged[0]),
            "search": {
                "starts": len(res.p),
                "iterations": res.iterations,
                "evaluations": res.evaluations,
                "converged": int(res.converged.sum()),
                "objective": float(res.value[best]),
            },
            "kl_to_prior": cfg.kl_to_prior,
            "kl_of_recommendation": float(kl_to_prior(p[None, :], self.problem.prior())[0]),
        }
        rec = Recommendation(weights=p, predicted=float(pred[0]), std=None, diagnostics=diag)
        self._recs[key] = rec
        return rec

    def _cv_spearman(self) -> float | None:
        """Leave-one-out Spearman of the fit at the largest data size."""
        return self.fits[-1].loo_spearman if self.fits else None

    def propose(
        self,
        n: int,
        fidelity: Mapping[str, float] | None = None,
        pending: Sequence[PendingRun] = (),
        candidates: FloatArray | None = None,
        fidelities: Sequence[Mapping[str, float]] | None = None,
    ) -> ProposedBatch:
        if n < 1:
            raise MixerError("n must be at least 1")
        self._require_dist()
        rng = call_rng(self.seed, TAG_PROPOSE, self.rng)
        fid: dict[str, float] = {}
        for f in (fidelity, fidelities[0] if fidelities else None, self.problem.target_fidelity):
            if f is not None:
                fid = {str(k): float(v) for k, v in f.items()}
                break
        existing = existing_mixtures(self.observations, pending, fid)
        if existing.shape[1] != self.problem.d:
            existing = np.zeros((0, self.problem.d))
        if candidates is not None:
            pool_all = np.asarray(candidates, dtype=np.float64)
            idx = eligible_pool(self.problem, pool_all, existing)
            if len(idx) == 0:
                raise MixerError(
                    "no candidate is feasible and new (all are out of bounds, already run or pending)"
                )
            pool = pool_all[idx]
        else:
            pool = self._generate_pool(rng, n, fid, existing)
        model, _ = self.model_for(fid or None)
        pred = self._predict(pool, model)[0]
        score = rankdata(-self.problem.objective.sign * pred) / len(pool)  # 1 = best predicted
        pend = np.vstack([np.asarray(p.weights) for p in pending]) if pending else None
        pick = diverse_top(score, pool, n, avoid=pend)
        runs = [ProposedRun(weights=np.array(pool[i], dtype=np.float64), fidelity=dict(fid)) for i in pick]
        return ProposedBatch(runs, {
            "method": "pool_diverse_top" if candidates is not None else "diverse_top",
            "candidates_scored": len(pool),
            "runs": [{"predicted": float(pred[i]), "score_rank": int(np.sum(score > score[i])) + 1}
                     for i in pick],
        })

    def _generate_pool(
        self, rng: np.random.Generator, n: int, fid: dict[str, float], existing: FloatArray
    ) -> FloatArray:
        """Novel, distinct, feasible candidates: near the recommendation, and RegMix-recipe draws."""
        lo, hi = self.problem.bounds()
        size = max(self.config.proposal_pool, 2 * n)
        center = self.recommend(fid or None).weights
        recipe = ProposalRecipe()

        def draw(_round: int, _missing: int) -> tuple[FloatArray, FloatArray]:
            near = [sample_dirichlet(rng, center * c + 1e-3, size // 6 + 1) for c in (30.0, 100.0, 300.0)]
            far = recipe.sample(rng, self.problem, size, allow_projection=True)
            cand = project_to_bounds(np.vstack([center[None, :], *near, far]), lo, hi, families=self.problem.families)
            return cand, np.zeros(len(cand))

        return collect_novel(draw, existing.reshape(-1, self.problem.d), size, n)[0]

    def std_meaning(self) -> str:
        return ("no std: ot's answer is a distance between the mixture's data and the target's (or a regression on "
                "those distances), with no predictive distribution of the objective")

    def diagnostics_summary(self) -> dict[str, Any]:
        """Fitted sizes and notes (for logs and tests)."""
        return {
            "sizes": [f.summary() for f in self.fits],
            "notes": list(self.notes),
            "runs_used": self.runs_used,
        }


__all__ = ["OTConfig", "OTMixer"]
