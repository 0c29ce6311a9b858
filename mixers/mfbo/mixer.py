"""The ``mfbo`` mixer: wires the model (:mod:`mixers.mfbo.model`), the transfer gate (:mod:`mixers.mfbo.transfer`)
and the batch builders (:mod:`mixers.mfbo.batches`) into the offline mixer interface (DESIGN 4)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from scipy.linalg import cho_solve
from threadpoolctl import threadpool_limits

from mixers.base import (
    FoldRunner,
    FoldSplits,
    MixerConfig,
    MixerError,
    OfflineMixer,
    held_out_mixtures,
    run_in_order,
    stack_predictions,
    unstack_predictions,
)
from mixers.gp import ExactGP, GPParams
from mixers.importance import DomainImportance
from mixers.mfbo.batches import (
    Pick,
    believer_batch,
    calibration_batch,
    screen_batch,
    screen_runs,
    screens,
    space_fill,
)
from mixers.mfbo.candidates import candidate_pool, generate
from mixers.mfbo.config import AcquisitionKind, MFBOConfig, acquisition_kind
from mixers.mfbo.model import MFBOModel, fit_model
from mixers.mfbo.transfer import PAIR_TOL, Transfer, fidelity_correlations, gate, measure_transfer, transfer_closed
from mixers.proposals import POOL_TOL, PROPOSAL_TOL
from mixers.registry import register
from mixers.search import REFINE_STEPS, maximize
from mixers.simplex import kl_to_prior, novel_mask
from mixers.training import call_rng
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
from mixers.uncertainty import MIN_RESIDUALS, calibrate_scale

# mfbo's own random streams for call_rng (other values than mixers.training's tags, so that seeded answers
# stay as published).
MFBO_TAG_RECOMMEND = 51
MFBO_TAG_PROPOSE = 52
# Best observed mixtures (by the recommendation's score) that a quarter of its candidates are drawn around.
RECOMMEND_CENTERS = 8
# Runs per fidelity whose leave-one-out z-scores calibrate the predictive sd (a seeded subset beyond this many).
LOO_RUNS = 300


def loo_calibration(gp: ExactGP, keys: Sequence[str], seed: int | None) -> tuple[float, dict[str, float]]:
    """Multipliers of the GP's predictive sd that make its leave-one-out 68% and 95% intervals cover 68% and 95%
    of the runs (:func:`mixers.uncertainty.calibrate_scale`): over all runs, and per fidelity (``keys`` ``(n,)``:
    the fidelity key of each training row) where one has at least :data:`MIN_RESIDUALS` runs; 1 with too few.

    Exact GP leave-one-out (Rasmussen & Williams 5.12): with ``K`` the training covariance including the noise,
    the held-out run's residual over its predictive sd is ``[K^-1 y]_i / sqrt([K^-1]_ii)``."""
    n = gp.n_train
    if n < MIN_RESIDUALS:
        return 1.0, {}
    rng = np.random.default_rng([0 if seed is None else int(seed) % (2**32), 61])
    key_arr = np.asarray(keys)
    groups = {k: np.flatnonzero(key_arr == k) for k in dict.fromkeys(keys)}
    rows = np.sort(np.concatenate([
        idx if len(idx) <= LOO_RUNS else rng.choice(idx, LOO_RUNS, replace=False) for idx in groups.values()]))
    eye = np.zeros((n, len(rows)))
    eye[rows, np.arange(len(rows))] = 1.0
    with threadpool_limits(1, user_api="blas"):
        kinv = cho_solve((gp.chol, True), eye, check_finite=False)
    diag = kinv[rows, np.arange(len(rows))]
    z = gp.alpha[rows] / np.sqrt(np.maximum(diag, 1e-300))
    per_key = {k: calibrate_scale(z[key_arr[rows] == k]) for k in groups
               if int(np.sum(key_arr[rows] == k)) >= MIN_RESIDUALS}
    return calibrate_scale(z), per_key


@register
class MFBOMixer(OfflineMixer):
    """Multi-fidelity Bayesian optimization: GP surrogate, transfer-gated screening at cheap fidelities (or a
    cost-aware knowledge gradient), kriging-believer batches."""

    name = "mfbo"
    description = (
        "Multi-fidelity Bayesian optimization (after ADMIRE-BayesOpt): a GP over mixture and log fidelity, "
        "cheap fidelities screened only where they are learned to track the target (or knowledge gradient per "
        "unit cost), batches by kriging believer"
    )
    Config = MFBOConfig
    config: MFBOConfig

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.model: MFBOModel = fit_model(problem, self.config, seed, [])
        self.transfer = Transfer()
        self.gp_params: GPParams | None = None  # set: fit uses these hyperparameters instead of searching
        # The transfer gate's last decision (see mixers.mfbo.transfer.gate), reported with the proposals.
        self.gate_note = ""
        self.calibrating = False
        self.sd_calibration = 1.0  # multiplier of the GP's predictive sd, from leave-one-out z-scores
        self.sd_calibration_by_fidelity: dict[str, float] = {}  # the same, from the runs of one fidelity

    @property
    def gp(self) -> ExactGP | None:
        return self.model.gp

    @property
    def acquisition(self) -> AcquisitionKind:
        return acquisition_kind(self.config)

    def fit(self, observations: Sequence[Observation]) -> MFBOMixer:
        self.model = fit_model(self.problem, self.config, self.seed, observations, self.gp_params)
        gp = self.model.gp
        self.sd_calibration, self.sd_calibration_by_fidelity = (
            (1.0, {}) if gp is None
            else loo_calibration(gp, [fidelity_key(o.fidelity) for o in self.model.used], self.seed))
        self.transfer = measure_transfer(self.model) if self.config.multi_fidelity else Transfer()
        return self

    def takes_default_fidelities(self) -> bool:
        return bool(self.config.multi_fidelity)

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """``observed`` where runs exist at the answered fidelity, else ``extrapolated`` (the GP across
        fidelities). The answered fidelity names the keys the runs use (see
        :meth:`mixers.mfbo.features.FidelityKeys.effective`)."""
        model = self.model
        model.require_gp()
        fid = model.answer_fidelity(fidelity)
        notes = model.key_notes if fidelity is None else model.keys.notes(fidelity, "the requested fidelity")
        seen = {fidelity_key(o.fidelity) for o in model.used}
        if fidelity_key(fid) in seen or not model.fidelity_modeled:
            return FidelityAnswer(fid, "observed", "; ".join(notes))
        if model.keys.unvaried_shift(fid):
            return FidelityAnswer(fid, "assumed", "; ".join(notes))
        return FidelityAnswer(fid, "extrapolated", "; ".join(
            [*notes, "no run at this fidelity: the GP carries the runs at the other fidelities over to it"]))

    # -- predictions and the recommendation --------------------------------------------------------------

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        model = self.model
        gp = model.require_gp()
        w = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
        if w.shape[1] != self.problem.d:
            raise MixerError(f"mixtures must have {self.problem.d} columns, got {w.shape[1]}")
        x = model.x(w, model.answer_fidelity(fidelity))
        with threadpool_limits(1, user_api="blas"):
            post = gp.posterior(x)
        sign = self.problem.objective.sign
        return Predictions(mean=sign * post.mean, std=self._sd(post.var, model.answer_fidelity(fidelity)))

    def _sd(self, var: FloatArray, fidelity: Mapping[str, float]) -> FloatArray:
        """Predictive sd of a new run's objective ``(m,)`` at ``fidelity`` from the latent posterior variance
        ``(m,)``: calibrated on the leave-one-out z-scores of the runs at that fidelity, else of all runs."""
        gp = self.model.require_gp()
        c = self.sd_calibration_by_fidelity.get(fidelity_key(fidelity), self.sd_calibration)
        return np.asarray(c * np.sqrt(var + gp.noise_var), dtype=np.float64)

    def std_meaning(self) -> str:
        if self.model.gp is None:
            return "no std: mfbo has no completed runs to model yet"
        return (f"1 sd of the predictive distribution of a new run's objective at predicted_fidelity: the GP's "
                "sqrt(posterior variance + noise variance), times the factor that makes its leave-one-out 68% and 95% "
                "intervals cover 68% and 95% of the runs at that fidelity (of all runs where it has too few; "
                f"{self.sd_calibration:.3g} over all runs); a recommendation predicted "
                "better than every run observed at its fidelity reports at least its distance to the best of them")

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        """The minimizer of the posterior mean (plus ``kl_to_prior`` x KL to the prior) at ``fidelity``: the
        shared optimizer (:func:`mixers.search.maximize`) over generated candidates and the observed mixtures."""
        model = self.model
        gp = model.require_gp()
        fid = model.answer_fidelity(fidelity)
        rng = call_rng(self.seed, MFBO_TAG_RECOMMEND, self.rng)
        prior = self.problem.prior()
        lam = self.config.kl_to_prior

        def score(w: FloatArray) -> FloatArray:  # higher is better
            s = -gp.predict_mean(model.x(w, fid))
            return s - lam * kl_to_prior(w, prior) if lam > 0 else s

        with threadpool_limits(1, user_api="blas"):
            observed = model.feasible_observed()
            centers = None
            if len(observed):
                centers = observed[np.argsort(-score(observed), kind="stable")[:RECOMMEND_CENTERS]]
            cands = np.vstack([generate(rng, model, self.config.n_candidates, centers), observed])
            lo, hi = model.bounds()
            steps = REFINE_STEPS if self.config.refine_top > 0 else ()
            w, _ = maximize(rng, score, cands, max(1, self.config.refine_top), lo, hi, steps,
                            families=self.problem.families)
            post = gp.posterior(model.x(w[None, :], fid))
        sign = self.problem.objective.sign
        diag = self._diagnostics(fid, fidelity)
        std = float(self._sd(post.var, fid)[0])
        _, seen = model.level_runs(fidelity_key(fid))
        if len(seen) and post.mean[0] < seen.min():
            # The posterior mean's minimizer is chosen for being low (the optimizer's curse), and the GP's sd near
            # the runs does not cover that bias: the part of the answer beyond the best run observed at this
            # fidelity is counted as uncertainty.
            beyond = float(seen.min() - post.mean[0])
            diag["std_floor"] = {"gp_std": std, "beyond_best_observed": beyond,
                                 "note": "the prediction is better than every run observed at this fidelity; the std "
                                         "is at least the distance to the best of them"}
            std = max(std, beyond)
        diag["sd_calibration"] = {"all_runs": self.sd_calibration, "by_fidelity": self.sd_calibration_by_fidelity}
        return Recommendation(weights=w, predicted=float(sign * post.mean[0]), std=std, diagnostics=diag)

    def _diagnostics(self, fid: Mapping[str, float], requested: Mapping[str, float] | None = None
                     ) -> dict[str, Any]:
        model = self.model
        gp = model.require_gp()
        counts: dict[str, dict[str, Any]] = {}
        for o in model.used:
            entry = counts.setdefault(fidelity_key(o.fidelity), {"fidelity": dict(o.fidelity), "runs": 0})
            entry["runs"] += 1
        return {
            "mode": "multi-fidelity" if self.config.multi_fidelity else "single-fidelity",
            "acquisition": self.acquisition,
            "runs_used": len(model.used),
            "runs_ignored": len(model.observations) - len(model.used),
            "fidelities_seen": list(counts.values()),
            "fidelity_keys": list(model.features.keys),
            "fidelity_modeled": model.fidelity_modeled and self.config.multi_fidelity,
            "target_fidelity": dict(model.target),
            "answered_fidelity": dict(fid),
            "fidelity_key_notes": list(model.key_notes) if requested is None
            else model.keys.notes(requested, "the requested fidelity"),
            "kernel": gp.hyperparameters(),
            "log_marginal_likelihood": gp.log_marginal_likelihood,
            "noise_std": math.sqrt(gp.noise_var),
            "cost_model": model.cost_model([fid]).as_dict(),
            "fidelity_correlations": self.fidelity_correlations(),
            "kl_to_prior": self.config.kl_to_prior,
        }

    def fidelity_correlations(self) -> list[dict[str, Any]]:
        """Per fidelity of the runs: runs there and the learned transfer correlation with the target (see
        :func:`mixers.mfbo.transfer.fidelity_correlations`)."""
        return fidelity_correlations(self.model, self.transfer)

    def cross_val_predict(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """The means of :meth:`cross_val_predictions` (the GP's sd costs nothing beside its fit)."""
        return [p.mean for p in self.cross_val_predictions(folds, fidelity, run)]

    def cross_val_predictions(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[Predictions]:
        """Held-out predictions with each fold's predictive sd. The GP's hyperparameters are searched once, on the
        first fold's runs, and reused by the other folds (the marginal-likelihood search is nearly all of a fit's
        time; the folds share 3/4 of their runs)."""
        if not folds:
            return []
        d = self.problem.d
        first = type(self)(self.problem, self.config, self.seed).fit(folds[0][0])
        params = first.gp.params if first.gp is not None else None

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            mixer = type(self)(self.problem, self.config, self.seed)
            mixer.gp_params = params
            return stack_predictions(mixer.fit(train).predict(held_out_mixtures(test, d), fidelity))

        rest = run([partial(job, train, test) for train, test in folds[1:]])
        head = first.predict(held_out_mixtures(folds[0][1], d), fidelity)
        return [head, *(unstack_predictions(part) for part in rest)]

    # -- proposals -----------------------------------------------------------------------------------------

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
        model = self.model
        allowed = self._allowed(fidelity, fidelities)
        offered = allowed
        if model.gp is not None:
            decision = gate(model, self.transfer, allowed, pending)
            self.gate_note, self.calibrating = decision.note, decision.calibrating
            allowed = decision.allowed
            if transfer_closed(model, self.transfer, offered, decision):
                single = self._single_fidelity().propose(n, model.split_target(allowed)[0][0], pending, candidates)
                return self._batch(single, "single_fidelity", offered)
        costs = model.costs(allowed)
        rng = call_rng(self.seed, MFBO_TAG_PROPOSE, self.rng)
        pool = candidate_pool(self.problem, candidates) if candidates is not None else None
        tol = POOL_TOL if pool is not None else PROPOSAL_TOL
        existing = model.existing(pending, allowed)
        chosen: list[Pick]
        with threadpool_limits(1, user_api="blas"):
            if model.gp is None:
                method = "space_fill"
                chosen = space_fill(rng, model, n, allowed[int(np.argmin(costs))], pool, existing, tol)
            elif self.calibrating:
                method = "calibration"
                chosen = calibration_batch(rng, model, n, allowed[0], offered, pending, pool, tol)
            elif screens(model, allowed):
                method = "screen"
                chosen = screen_batch(rng, model, self.transfer, n, allowed, costs, pending, pool, existing, tol)
            else:
                method = self.acquisition if self.config.multi_fidelity else "ei"
                chosen = believer_batch(rng, model, n, allowed, costs, pending, pool, existing, tol)
        if not chosen:
            raise MixerError("no new feasible mixture is left to propose (all candidates are run or pending)")
        return self._batch([ProposedRun(weights=w.copy(), fidelity=dict(f)) for w, f in chosen], method, offered)

    def _allowed(
        self, fidelity: Mapping[str, float] | None, fidelities: Sequence[Mapping[str, float]] | None
    ) -> list[dict[str, float]]:
        """The fidelities a proposal may use, distinct, in the caller's order."""
        model = self.model
        if self.config.multi_fidelity:
            raw = list(fidelities) if fidelities else [fidelity if fidelity is not None else model.target]
        else:
            tgt = dict(model.target) if model.target else dict(fidelity or (fidelities[0] if fidelities else {}))
            if fidelity is not None and model.fidelity_modeled and fidelity_key(model.effective(fidelity)) != \
                    fidelity_key(tgt):
                raise MixerError(f"single-fidelity mode proposes only at the target fidelity {tgt}; asked for "
                                 f"{dict(fidelity)}")
            if fidelities and fidelity_key(tgt) not in {fidelity_key(model.effective(f)) for f in fidelities}:
                raise MixerError(f"single-fidelity mode proposes only at the target fidelity {tgt}, which is not "
                                 "among the allowed fidelities")
            raw = [tgt]
        out: dict[str, dict[str, float]] = {}
        for f in raw:
            out.setdefault(fidelity_key(f), {str(k): float(v) for k, v in f.items()})
        allowed = list(out.values())
        if model.gp is not None:
            for f in allowed:
                model.features(f, "proposal fidelity")
            if len(allowed) > 1 and not model.features.keys:
                raise MixerError("the runs carry no fidelity, so mfbo cannot tell the allowed fidelities apart")
        return allowed

    def _single_fidelity(self) -> MFBOMixer:
        """This mixer in single-fidelity mode (same config and seed), fitted on the same runs."""
        cfg = self.config.model_copy(update={"multi_fidelity": False, "acquisition": None})
        return MFBOMixer(self.problem, cfg, seed=self.seed).fit(self.model.observations)

    def _batch(self, runs: Sequence[ProposedRun], method: str, offered: list[dict[str, float]]) -> ProposedBatch:
        """``runs`` with the diagnostics of how they were chosen: ``method`` (space_fill, calibration, screen,
        kg / ei, or single_fidelity once the transfer gate closed), the gate's note, the measured transfer of each
        lower fidelity, and per run its ``role``: ``screen`` (at a lower fidelity), ``pair`` (at the target, at a
        mixture run at a lower fidelity) or ``target``."""
        model = self.model
        tkey = fidelity_key(model.target)
        low_w = np.vstack([np.asarray(o.weights, dtype=np.float64)[None, :] for o in model.used
                           if fidelity_key(o.fidelity) != tkey] or [np.zeros((0, self.problem.d))])
        roles = []
        for r in runs:
            if not model.at_target(r.fidelity):
                roles.append("screen")
            elif len(low_w) and not novel_mask(np.asarray(r.weights)[None, :], low_w, PAIR_TOL)[0]:
                roles.append("pair")
            else:
                roles.append("target")
        diag: dict[str, Any] = {"method": method, "runs": [{"role": role} for role in roles]}
        if self.config.multi_fidelity and len(offered) > 1:
            diag["gate_note"] = self.gate_note
            targets, lows = model.split_target(offered)
            if targets and lows and model.gp is not None:
                diag["screen_runs"] = screen_runs(model, model.cheapest(lows), targets[0])
            diag["transfer"] = [{"fidelity": fid, "correlation": self.transfer.correlations.get(key),
                                 "pairs": self.transfer.pairs.get(key, 0)}
                                for key, (fid, _) in model.levels().items() if key != tkey]
        return ProposedBatch(runs, diag)

    # -- what drives the objective ---------------------------------------------------------------------

    def domain_importance(self) -> DomainImportance | None:
        """With one lengthscale per domain (ARD): each domain's inverse lengthscale times the sd of its weight
        over the runs the GP uses (how many lengthscales the observed spread spans). None with one shared
        lengthscale (it ranks nothing): permutation importance then measures the GP's mean."""
        gp = self.model.require_gp()
        ls = None if gp.params is None else np.asarray(gp.params.lengthscales, dtype=np.float64)
        d = self.problem.d
        if ls is None or len(ls) != d or d < 2:
            return None
        w = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in self.model.used])
        return DomainImportance(w.std(axis=0) / ls, "gp_inverse_lengthscale",
                                f"sd of the domain's weight over the {len(w)} runs the GP uses / its ARD lengthscale "
                                f"(Matern/RBF kernel on the weights)")
