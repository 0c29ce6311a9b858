"""``mfbo``: multi-fidelity Bayesian optimization of the mixture (DESIGN 4.5, after ADMIRE-BayesOpt 2025).

Over 650 lines for now: the fit, the transfer gate, screening and the batch builders share the fitted GP's
state; the GP (``mixers.gp``) and the acquisitions (``mixers.acquisition``) already live apart.

Split as in BoTorch:

- model (:mod:`mixers.gp`): an exact GP over ``(mixture, log-fidelity features)`` with a mixture kernel times a
  floor-lifted fidelity kernel plus a linear-in-log-fidelity mean, hyperparameters by marginal likelihood. It
  models the loss ``sign * objective``; answers are reported in the objective's own units.
- acquisition (:mod:`mixers.acquisition`): screen-then-climb on the target's expected improvement (default, see
  below), discretized multi-fidelity knowledge gradient per unit cost, or (augmented) expected improvement;
  the cost comes from the runs' ``cost`` (log-linear in log fidelity), the product of the fidelity values, or
  configured exponents.
- optimizer (here): Dirichlet candidates around the prior and around the best mixtures, then local refinement by
  projected random steps on the bounded simplex; or only the rows of a given candidate pool. Batches are built
  one run at a time by kriging believer: pending and already chosen runs are added with their posterior mean as
  observations (a fantasy), so later picks see the reduced uncertainty there and the batch spreads out.
- transfer gate (issue 14): how much each lower fidelity tells about the target is learned from the runs
  (``fidelity_correlations`` in the diagnostics): the correlation of the losses at mixtures run both there and at
  the target, corrected for the narrow range of those pairs (they sit at the lower fidelity's best mixtures).
  Calibration makes the pairs: the cheapest lower fidelity is screened first (``screen_runs``, expected
  improvement there), then its best mixtures are run at the target until ``calibration_runs`` pairs exist.
  A lower fidelity whose correlation is below ``min_correlation`` is then no longer proposed; once none with a
  measured transfer is left, the proposals are the single-fidelity mode's on the target runs alone, so with weak
  transfer ``mfbo`` behaves as its single-fidelity mode does (after the calibration's cost).
- screening (the default multi-fidelity acquisition): with a fidelity that passed the gate, the target's EI
  picks the mixture, which is run at that cheap fidelity first if it has no run there; a screened mixture is
  climbed to the target once its cheap value beats that of every mixture run at the target.

Fidelity features are ``(log f_k - log target_k) / range_k`` over the keys the runs name (the target sits at 0;
a key only the target names is dropped, a key the runs hold at one value that the target does not name is taken
at that value, see :meth:`MFBOMixer.fidelity_answer`). Runs that name no fidelity at all are taken to be at the
target. With ``multi_fidelity=False`` only the runs at the target fidelity are used and the mixer is plain
single-fidelity BO (EI by default), the baseline for the multi-fidelity campaigns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from mixers.acquisition import (
    CostModel,
    augmented_ei,
    expected_improvement,
    fit_cost_model,
    knowledge_gradient,
)
from mixers.base import (
    MAX_PENALTY,
    FoldRunner,
    FoldSplits,
    MixerConfig,
    MixerError,
    OfflineMixer,
    held_out_mixtures,
    run_in_order,
)
from mixers.cancel import checkpoint
from mixers.gp import ExactGP, GPParams
from mixers.proposals import POOL_TOL, PROPOSAL_TOL
from mixers.registry import register
from mixers.simplex import greedy_distinct, kl_to_prior, novel_mask, project_to_bounds, sample_dirichlet
from mixers.training import call_rng, usable_observations
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

# mfbo's own random streams for call_rng (other values than mixers.training's tags, so that seeded answers
# stay as published).
MFBO_TAG_RECOMMEND = 51
MFBO_TAG_PROPOSE = 52

CostExponent = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]  # cost ~ prod fidelity[k] ** e[k]

# Dirichlet strengths (total concentration / d, around the prior) for global candidates, and around a centre.
GLOBAL_STRENGTHS = np.logspace(-1, 1, 8)
LOCAL_STRENGTHS = (30.0, 300.0)
# Step sizes (Euclidean, per coordinate) of the local refinement rounds.
REFINE_STEPS = (0.05, 0.015, 0.004)
REFINE_SAMPLES = 32
# Runs per domain from which ``ard=None`` turns on one lengthscale per domain.
ARD_RUNS_PER_DOMAIN = 4
# Candidates per pick of the empty-history space-filling design.
SPACE_FILL_DRAWS = 16
# Pairs (mixtures run both at a lower fidelity and at the target) needed to measure its transfer correlation.
MIN_TRANSFER_PAIRS = 3
# Two runs are at the same mixture (a pair across fidelities) when no weight differs by more than this.
PAIR_TOL = 1e-6
# The default screening before calibration pairs is capped at this many runs per domain.
SCREEN_RUNS_PER_DOMAIN = 20


class MFBOConfig(MixerConfig):
    """Configuration of :class:`MFBOMixer`."""

    multi_fidelity: bool = Field(
        True, description="model all fidelities jointly; False: single-fidelity BO on the target-fidelity runs only"
    )
    acquisition: Literal["kg", "ei", "screen"] | None = Field(
        None,
        description="screen: the mixture of highest expected improvement at the target, run first at the cheapest "
        "lower fidelity whose transfer passed the gate while the model is unsure there, and the best screened "
        "mixture climbed to the target once it beats the screening value of every target run; kg: knowledge "
        "gradient at the target per unit cost; ei: expected improvement (augmented EI per unit cost when "
        "multi-fidelity). Default: screen when multi_fidelity, else ei",
    )
    kernel: Literal["matern52", "rbf"] = Field("matern52", description="kernel on the mixture weights")
    ard: bool | None = Field(
        None,
        description="one lengthscale per domain (ARD) or one shared lengthscale; default: ARD once the model has "
        f"at least {ARD_RUNS_PER_DOMAIN} runs per domain (from fewer, d lengthscales are not identifiable and the "
        "posterior-mean minimizer exploits the dimensions the fit switched off)",
    )
    restarts: int = Field(3, ge=1, le=20, description="L-BFGS-B starts for the marginal-likelihood fit")
    max_fit_points: int = Field(600, ge=10, le=5000, description="runs used to fit hyperparameters (seeded subset)")
    cost_model: Literal["observed", "product"] = Field(
        "observed",
        description="observed: fit log cost on log fidelity from the runs' cost (product of the fidelity values "
        "with fewer than 2 costs); product: cost = product of the fidelity values",
    )
    cost_exponents: dict[str, CostExponent] | None = Field(
        None, description="set the cost model by hand: cost = prod fidelity[k] ** e[k] (unnamed keys: 0)"
    )
    n_candidates: int = Field(1024, ge=16, le=100_000, description="Dirichlet candidates per search")
    refine_top: int = Field(4, ge=0, le=64, description="best candidates refined locally (0: no refinement)")
    kg_set_size: int = Field(128, ge=1, le=4096, description="target-fidelity points in the KG discretization")
    kl_to_prior: float = Field(
        0.0, ge=0, le=MAX_PENALTY,
        description="lambda in predicted loss + lambda * KL(p || prior)"
    )
    min_correlation: float = Field(
        0.7, ge=0, le=1,
        description="a lower fidelity whose transfer correlation with the target (see fidelity_correlations in "
        "the diagnostics) is below this is not proposed; its runs still enter the model. 0: never gate",
    )
    screen_runs: int | None = Field(
        None, ge=0, le=256,
        description="runs at the cheapest lower fidelity (by expected improvement there) before its best mixtures "
        "are paired at the target to learn the transfer (see calibration_runs); default: max(5, 2 x domains) (a "
        "BO initial design) and at least one target run's worth of cost there (up to 20 x domains)",
    )
    calibration_runs: int = Field(
        MIN_TRANSFER_PAIRS, ge=0, le=64,
        description="mixtures run at both the target and the cheapest lower fidelity (done or pending) wanted "
        "before the screening acquisition starts: without them how much a lower fidelity tells about the target "
        "cannot be learned; 0: no calibration",
    )


class FidelityFeatures:
    """Map a fidelity dict to features ``(f,)``: ``(log value - log target) / range`` per modeled key.

    Keys the fidelity names beyond the modeled ones are ignored (the runs do not vary them, or do not name them);
    a modeled key it lacks is an error.
    """

    def __init__(self, keys: tuple[str, ...], center: FloatArray, scale: FloatArray) -> None:
        self.keys = keys
        self.center = center
        self.scale = scale

    def __call__(self, fidelity: Mapping[str, float], what: str = "fidelity") -> FloatArray:
        if not self.keys:
            return np.zeros(0)
        missing = [k for k in self.keys if k not in fidelity]
        if missing:
            raise MixerError(
                f"{what} {dict(fidelity)} does not name {missing}, which the runs vary; name the keys "
                f"{list(self.keys)}"
            )
        vals = np.array([float(fidelity[k]) for k in self.keys])
        if not np.all(np.isfinite(vals) & (vals > 0)):
            raise MixerError(f"{what} {dict(fidelity)}: fidelity values must be positive and finite")
        return np.asarray((np.log(vals) - self.center) / self.scale, dtype=np.float64)


def _log_fidelity(fid: Mapping[str, float], keys: Sequence[str]) -> FloatArray:
    vals = np.array([float(fid[k]) for k in keys])
    if not np.all(np.isfinite(vals) & (vals > 0)):
        raise MixerError(f"fidelity {dict(fid)}: values must be positive and finite")
    return np.asarray(np.log(vals), dtype=np.float64)


def _largest_fidelity(observations: Sequence[Observation]) -> dict[str, float]:
    """The fidelity with the largest sum of log values (ties: canonical key), ``{}`` without runs."""
    best: tuple[float, str] | None = None
    out: dict[str, float] = {}
    for o in observations:
        size = sum(math.log(v) for v in o.fidelity.values() if v > 0)
        cand = (size, fidelity_key(o.fidelity))
        if best is None or cand > best:
            best, out = cand, {str(k): float(v) for k, v in o.fidelity.items()}
    return out


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
        self.observations: list[Observation] = []
        self.used: list[Observation] = []
        self.target: dict[str, float] = dict(problem.target_fidelity or {})
        self.features = FidelityFeatures((), np.zeros(0), np.zeros(0))
        self.gp: ExactGP | None = None
        self.fidelity_modeled = False
        # Keys the runs vary (modeled); keys every run names with one value; notes on keys answers ignore.
        self.varying_keys: tuple[str, ...] = ()
        self.constant_keys: dict[str, float] = {}
        self.key_notes: list[str] = []
        self.gate_note = ""
        self.calibrating = False
        self.transfer: dict[str, float | None] = {}
        self.transfer_pairs: dict[str, int] = {}  # per lower fidelity: mixtures run there and at the target
        self.gp_params: GPParams | None = None  # set: fit uses these hyperparameters instead of searching

    # -- fitting ---------------------------------------------------------------------------------------

    @property
    def acquisition(self) -> Literal["kg", "ei", "screen"]:
        if self.config.acquisition is not None:
            return self.config.acquisition
        return "screen" if self.config.multi_fidelity else "ei"

    def _screen_runs(self, low: Mapping[str, float], target: Mapping[str, float]) -> int:
        """Runs at ``low`` before calibration pairs: ``screen_runs``, or by default a BO initial design
        (``max(5, 2 d)``) and at least one target run's worth of cost (``cost(target) / cost(low)``, at most
        ``SCREEN_RUNS_PER_DOMAIN * d``). Where a cheap run costs 1/115 of a target run (the simulator campaigns
        of bench.bench_campaigns), 12 screens before the 3 calibration pairs left the recommendation 1.7% off
        the best mixture after 8 target runs' cost; 116 screens brought it within 1% at 0.35."""
        if self.config.screen_runs is not None:
            return self.config.screen_runs
        design = max(5, 2 * self.problem.d)
        costs = self._costs([low, target])
        worth = math.ceil(float(costs[1] / costs[0]) - 1e-9)
        return max(design, min(worth, SCREEN_RUNS_PER_DOMAIN * self.problem.d))

    def fit(self, observations: Sequence[Observation]) -> MFBOMixer:
        self.observations = list(observations)
        usable = usable_observations(observations, self.problem.objective)
        for i, o in enumerate(usable):
            if np.shape(o.weights) != (self.problem.d,):
                raise MixerError(f"run {i}: weights must have {self.problem.d} entries, got {np.shape(o.weights)}")
        all_keys = tuple(sorted({str(k) for o in usable for k in o.fidelity}))
        for i, o in enumerate(usable):
            missing = [k for k in all_keys if k not in o.fidelity]
            if missing:
                raise MixerError(f"run {i} has no fidelity value for {missing}; runs must name the same keys "
                                 f"({list(all_keys)})")
        # The model works on the keys the runs name (DESIGN 5): a key only the target names is dropped; a key the
        # runs name with one value and the target does not name is taken at that value; a key the runs vary
        # must be named.
        keys = all_keys
        values = {k: {float(o.fidelity[k]) for o in usable} for k in all_keys}
        self.varying_keys = tuple(k for k in all_keys if len(values[k]) > 1)
        self.constant_keys = {k: next(iter(values[k])) for k in all_keys if len(values[k]) == 1}
        target = dict(self.problem.target_fidelity or {}) or _largest_fidelity(usable)
        missing_t = [k for k in self.varying_keys if k not in target]
        if missing_t:
            raise MixerError(f"the target fidelity {target} does not name {missing_t}, which the runs vary; add "
                             f"them to the project's target_fidelity")
        self.key_notes = self._key_notes(target, "the target fidelity")
        self.target = self._effective(target) if usable else target
        self.fidelity_modeled = bool(keys)
        if self.config.multi_fidelity or not keys:
            used = usable
        else:
            tkey = fidelity_key(self.target)
            used = [o for o in usable if fidelity_key(o.fidelity) == tkey]
        self.used = used
        model_keys = keys if self.config.multi_fidelity else ()
        if model_keys:
            logs = np.array([_log_fidelity(o.fidelity, model_keys) for o in used])
            center = _log_fidelity(self.target, model_keys)
            span = np.ptp(np.vstack([logs, center[None, :]]), axis=0)
            self.features = FidelityFeatures(model_keys, center, np.where(span > 1e-12, span, 1.0))
        else:
            self.features = FidelityFeatures((), np.zeros(0), np.zeros(0))
        self.gp = None
        if used:
            x = np.vstack([self._x(np.asarray(o.weights, dtype=np.float64)[None, :], o.fidelity) for o in used])
            y = np.array([self._loss(o) for o in used])
            cfg = self.config
            ard = cfg.ard if cfg.ard is not None else len(used) >= ARD_RUNS_PER_DOMAIN * self.problem.d
            self.gp = ExactGP(self.problem.d, kernel=cfg.kernel, ard=ard, restarts=cfg.restarts,
                              seed=0 if self.seed is None else int(self.seed) % (2**32),
                              max_fit_points=cfg.max_fit_points).fit(x, y, params=self.gp_params)
        self.transfer = self._transfer_correlations() if self.config.multi_fidelity else {}
        return self

    def _transfer_correlations(self) -> dict[str, float | None]:
        """Per lower fidelity ``s`` of the runs: how much its runs tell about the target, as a correlation.

        The Pearson correlation (floored at 0) of the losses at the mixtures run both at ``s`` and at the target
        (the pairs the calibration makes, :meth:`_calibration_batch`); ``None`` with fewer than
        ``MIN_TRANSFER_PAIRS`` pairs. Only observed pairs count. Two estimates were dropped after
        bench.pool_replay_mf: filling unpaired target mixtures with a GP's prediction at ``s`` collapsed the
        correlation of a fidelity that ranks with Spearman 0.93 to 0.0 to 0.3 once target runs left the pairs
        (the GP on a few runs at ``s`` predicts poorly there), and so did the share of the target runs'
        leave-one-out error that the runs at ``s`` remove.

        This is the correlation the proposals are gated on. The joint kernel's own fidelity factor
        (``kernel_correlation``) is reported too, but it multiplies the whole signal, level offsets included,
        so it stays high when only the offsets transfer and the ranking of mixtures does not (on synthetic
        pairs whose rankings correlate at 0.3 it was fitted at 0.6 to 0.9).
        """
        tkey = fidelity_key(self.target)
        keys = [fidelity_key(o.fidelity) for o in self.used]
        tw, ty = self._level_runs(tkey)
        out: dict[str, float | None] = {}
        self.transfer_pairs = {}
        for key in dict.fromkeys(keys):
            if key == tkey:
                continue
            lw, ly = self._level_runs(key)
            if not len(tw) or not len(lw):
                out[key] = None
                continue
            near = cdist(tw, lw, metric="chebyshev") <= PAIR_TOL  # (t, l) same mixture
            has = near.any(axis=1)
            self.transfer_pairs[key] = int(has.sum())
            if int(has.sum()) < MIN_TRANSFER_PAIRS:
                out[key] = None
                continue
            low = (near[has] @ ly) / near[has].sum(axis=1)  # mean of the level's repeats at each paired mixture
            out[key] = _range_corrected_correlation(low, ty[has], float(np.std(ly)))
        return out

    def _effective(self, fidelity: Mapping[str, float]) -> dict[str, float]:
        """``fidelity`` over the keys the runs name: keys no run names are dropped, a key the runs do not vary
        and ``fidelity`` does not name is taken at the runs' value. Raises when a key the runs vary is missing."""
        if not self.varying_keys and not self.constant_keys:  # the runs name no fidelity: keep it as given
            return {str(k): float(v) for k, v in fidelity.items()}
        missing = [k for k in self.varying_keys if k not in fidelity]
        if missing:
            raise MixerError(f"fidelity {dict(fidelity)} does not name {missing}, which the runs vary")
        out = dict(self.constant_keys)
        out.update({str(k): float(v) for k, v in fidelity.items() if k in out or k in self.varying_keys})
        return {k: out[k] for k in sorted(out)}

    def _key_notes(self, fidelity: Mapping[str, float], what: str) -> list[str]:
        """Sentences on the keys of ``fidelity`` that the answer does not use as given."""
        notes = []
        named = set(self.varying_keys) | set(self.constant_keys)
        extra = sorted(set(fidelity) - named)
        if extra and named:
            notes.append(f"{what} names {extra}, which no run names: answered with the keys the runs use "
                         f"({sorted(named)})")
        for k, v in sorted(self.constant_keys.items()):
            if k not in fidelity:
                notes.append(f"{what} does not name {k}: taken at the runs' {k}={v:g}")
            elif not math.isclose(float(fidelity[k]), v, rel_tol=1e-9):
                notes.append(f"{what} asks {k}={float(fidelity[k]):g}, but every run has {k}={v:g}: the runs "
                             f"cannot show how {k} matters, so the shift to {k}={float(fidelity[k]):g} is assumed, "
                             "not learned")
        return notes

    def _loss(self, o: Observation) -> float:
        value = self.problem.objective.value(o.metrics)
        assert value is not None  # usable_observations kept only runs with a value
        return self.problem.objective.sign * value

    def _x(self, w: FloatArray, fidelity: Mapping[str, float], what: str = "fidelity") -> FloatArray:
        """Model inputs ``(m, d + f)`` for mixtures ``w`` ``(m, d)`` at one fidelity."""
        z = self.features(fidelity, what)
        return np.hstack([w, np.tile(z, (len(w), 1))])

    def _require_gp(self) -> ExactGP:
        if self.gp is None:
            where = "" if self.config.multi_fidelity else f" at the target fidelity {self.target}"
            raise MixerError(f"mfbo has no completed runs{where} to model yet; propose runs first")
        return self.gp

    def _answer_fidelity(self, fidelity: Mapping[str, float] | None) -> dict[str, float]:
        fid = self._effective(fidelity) if fidelity is not None else dict(self.target)
        if not self.config.multi_fidelity and self.fidelity_modeled and fidelity_key(fid) != fidelity_key(self.target):
            raise MixerError(f"single-fidelity mode models only the target fidelity {self.target}; asked for {fid}")
        return fid

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """``observed`` where runs exist at the answered fidelity, else ``extrapolated`` (the GP across
        fidelities). The answered fidelity names the keys the runs use (see :meth:`_effective`)."""
        self._require_gp()
        fid = self._answer_fidelity(fidelity)
        notes = self.key_notes if fidelity is None else self._key_notes(fidelity, "the requested fidelity")
        seen = {fidelity_key(o.fidelity) for o in self.used}
        if fidelity_key(fid) in seen or not self.fidelity_modeled:
            return FidelityAnswer(fid, "observed", "; ".join(notes))
        unvaried = [k for k, v in self.constant_keys.items() if not math.isclose(fid.get(k, v), v, rel_tol=1e-9)]
        if unvaried:
            return FidelityAnswer(fid, "assumed", "; ".join(notes))
        return FidelityAnswer(fid, "extrapolated", "; ".join(
            [*notes, "no run at this fidelity: the GP carries the runs at the other fidelities over to it"]))

    # -- predictions and the recommendation --------------------------------------------------------------

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        gp = self._require_gp()
        w = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
        if w.shape[1] != self.problem.d:
            raise MixerError(f"mixtures must have {self.problem.d} columns, got {w.shape[1]}")
        x = self._x(w, self._answer_fidelity(fidelity))
        with threadpool_limits(1, user_api="blas"):
            post = gp.posterior(x)
        sign = self.problem.objective.sign
        return Predictions(mean=sign * post.mean, std=np.sqrt(post.var))

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        gp = self._require_gp()
        fid = self._answer_fidelity(fidelity)
        rng = call_rng(self.seed, MFBO_TAG_RECOMMEND, self.rng)
        prior = self.problem.prior()
        lam = self.config.kl_to_prior

        def score(w: FloatArray) -> FloatArray:  # higher is better
            s = -gp.predict_mean(self._x(w, fid))
            return s - lam * kl_to_prior(w, prior) if lam > 0 else s

        with threadpool_limits(1, user_api="blas"):
            observed = self._feasible_observed()
            centers = observed[np.argsort(-score(observed), kind="stable")[:8]] if len(observed) else None
            cands = np.vstack([self._generate(rng, self.config.n_candidates, centers), observed])
            s = score(cands)
            top = np.argsort(-s, kind="stable")[: max(1, self.config.refine_top)]
            best, best_s = self._refine(rng, score, cands[top], s[top])
            i = int(np.argmax(best_s))
            w = best[i]
            post = gp.posterior(self._x(w[None, :], fid))
        sign = self.problem.objective.sign
        return Recommendation(weights=w, predicted=float(sign * post.mean[0]), std=float(np.sqrt(post.var[0])),
                              diagnostics=self._diagnostics(fid, fidelity))

    def _diagnostics(self, fid: Mapping[str, float], requested: Mapping[str, float] | None = None
                     ) -> dict[str, Any]:
        gp = self._require_gp()
        counts: dict[str, dict[str, Any]] = {}
        for o in self.used:
            entry = counts.setdefault(fidelity_key(o.fidelity), {"fidelity": dict(o.fidelity), "runs": 0})
            entry["runs"] += 1
        cost = self._cost_model([fid])
        return {
            "mode": "multi-fidelity" if self.config.multi_fidelity else "single-fidelity",
            "acquisition": self.acquisition,
            "runs_used": len(self.used),
            "runs_ignored": len(self.observations) - len(self.used),
            "fidelities_seen": list(counts.values()),
            "fidelity_keys": list(self.features.keys),
            "fidelity_modeled": self.fidelity_modeled and self.config.multi_fidelity,
            "target_fidelity": dict(self.target),
            "answered_fidelity": dict(fid),
            "fidelity_key_notes": list(self.key_notes) if requested is None
            else self._key_notes(requested, "the requested fidelity"),
            "kernel": gp.hyperparameters(),
            "log_marginal_likelihood": gp.log_marginal_likelihood,
            "noise_std": math.sqrt(gp.noise_var),
            "cost_model": cost.as_dict(),
            "fidelity_correlations": self.fidelity_correlations(),
            "kl_to_prior": self.config.kl_to_prior,
        }

    # -- candidate generation and local search -----------------------------------------------------------

    def _bounds(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = self.problem.bounds()
        if lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9:
            raise MixerError("the bounds are infeasible: sum(min_weight) > 1 or sum(max_weight) < 1")
        return lo, hi

    def _project(self, w: FloatArray) -> FloatArray:
        lo, hi = self._bounds()
        return np.asarray(project_to_bounds(w, lo, hi), dtype=np.float64)

    def _feasible_observed(self) -> FloatArray:
        """Distinct observed mixtures ``(k, d)`` (the runs the model uses) inside the bounds."""
        if not self.used:
            return np.zeros((0, self.problem.d))
        w = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in self.used])
        w = w[self.problem.feasible(w)]
        _, first = np.unique(np.round(w, 9), axis=0, return_index=True)
        return w[np.sort(first)]

    def _generate(self, rng: np.random.Generator, m: int, centers: FloatArray | None) -> FloatArray:
        """``m`` candidates ``(m', d)`` in the bounds: Dirichlet around the prior, a quarter around ``centers``."""
        d = self.problem.d
        prior = self.problem.prior()
        n_local = m // 4 if centers is not None and len(centers) else 0
        which = rng.integers(0, len(GLOBAL_STRENGTHS), size=m - n_local)
        parts = [sample_dirichlet(rng, prior * d * GLOBAL_STRENGTHS[i], int((which == i).sum()))
                 for i in range(len(GLOBAL_STRENGTHS))]
        if n_local and centers is not None:
            per = max(1, n_local // (len(centers) * len(LOCAL_STRENGTHS)))
            for c in centers:
                for k in LOCAL_STRENGTHS:
                    parts.append(sample_dirichlet(rng, np.maximum(c, 1e-4) * k, per))
        return self._project(np.vstack(parts))

    def _refine(
        self, rng: np.random.Generator, score: Callable[[FloatArray], FloatArray], starts: FloatArray,
        start_scores: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Hill-climb each start ``(k, d)`` by projected random steps of shrinking size; best rows and scores."""
        best, best_s = starts.copy(), start_scores.copy()
        k, d = best.shape
        if self.config.refine_top == 0 or k == 0:
            return best, best_s
        for step in REFINE_STEPS:
            noise = rng.normal(size=(k, REFINE_SAMPLES, d)) * step
            noise -= noise.mean(axis=2, keepdims=True)
            trial = self._project((best[:, None, :] + noise).reshape(-1, d))
            s = score(trial).reshape(k, REFINE_SAMPLES)
            j = np.argmax(s, axis=1)
            better = s[np.arange(k), j] > best_s
            best[better] = trial.reshape(k, REFINE_SAMPLES, d)[better, j[better]]
            best_s[better] = s[better, j[better]]
        return best, best_s

    # -- proposals -----------------------------------------------------------------------------------------

    def _cost_model(self, fids: Sequence[Mapping[str, float]]) -> CostModel:
        keys = tuple(sorted(set(self.features.keys) | {str(k) for f in fids for k in f}))
        try:
            return fit_cost_model(
                keys,
                [o.fidelity for o in self.observations],
                [o.cost for o in self.observations],
                self.config.cost_model,
                self.config.cost_exponents,
            )
        except ValueError as exc:
            raise MixerError(str(exc)) from exc

    def _costs(self, fids: Sequence[Mapping[str, float]]) -> FloatArray:
        model = self._cost_model(fids)
        for f in fids:
            if set(f) != set(model.keys):
                raise MixerError(f"fidelities must all name the same keys {list(model.keys)}; got {dict(f)}")
        logc = np.array([model.log_cost(f) for f in fids])
        return np.asarray(np.exp(logc - logc.min()), dtype=np.float64)  # relative to the cheapest

    def _allowed(
        self, fidelity: Mapping[str, float] | None, fidelities: Sequence[Mapping[str, float]] | None
    ) -> list[dict[str, float]]:
        """The fidelities a proposal may use, distinct, in the caller's order."""
        if self.config.multi_fidelity:
            raw = list(fidelities) if fidelities else [fidelity if fidelity is not None else self.target]
        else:
            tgt = dict(self.target) if self.target else dict(fidelity or (fidelities[0] if fidelities else {}))
            if fidelity is not None and self.fidelity_modeled and fidelity_key(self._effective(fidelity)) != \
                    fidelity_key(tgt):
                raise MixerError(f"single-fidelity mode proposes only at the target fidelity {tgt}; asked for "
                                 f"{dict(fidelity)}")
            if fidelities and fidelity_key(tgt) not in {fidelity_key(self._effective(f)) for f in fidelities}:
                raise MixerError(f"single-fidelity mode proposes only at the target fidelity {tgt}, which is not "
                                 "among the allowed fidelities")
            raw = [tgt]
        out: dict[str, dict[str, float]] = {}
        for f in raw:
            out.setdefault(fidelity_key(f), {str(k): float(v) for k, v in f.items()})
        allowed = list(out.values())
        if self.gp is not None:
            for f in allowed:
                self.features(f, "proposal fidelity")
            if len(allowed) > 1 and not self.features.keys:
                raise MixerError("the runs carry no fidelity, so mfbo cannot tell the allowed fidelities apart")
        return allowed

    def takes_default_fidelities(self) -> bool:
        return bool(self.config.multi_fidelity)

    def _existing(self, pending: Sequence[PendingRun], fids: Sequence[Mapping[str, float]]) -> dict[str, FloatArray]:
        """Observed and pending mixtures ``(e, d)`` per fidelity key of ``fids``."""
        out: dict[str, list[FloatArray]] = {fidelity_key(f): [] for f in fids}
        runs: list[Observation | PendingRun] = [*self.observations, *pending]
        for r in runs:
            key = fidelity_key(r.fidelity)
            if key in out:
                out[key].append(np.asarray(r.weights, dtype=np.float64))
        d = self.problem.d
        return {k: np.vstack(v) if v else np.zeros((0, d)) for k, v in out.items()}

    def _pool(self, candidates: FloatArray) -> FloatArray:
        pool = np.asarray(candidates, dtype=np.float64)
        if pool.ndim != 2 or pool.shape[1] != self.problem.d:
            raise MixerError(f"candidates must have shape (c, {self.problem.d}), got {pool.shape}")
        ok = np.flatnonzero(self.problem.feasible(pool) & np.isclose(pool.sum(axis=1), 1.0, atol=1e-6))
        pool = pool[greedy_distinct(ok, pool, len(ok), tol=POOL_TOL)]
        if len(pool) == 0:
            raise MixerError("no candidate is feasible (all are outside the bounds or off the simplex)")
        return pool

    def cross_val_predict(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """The GP's hyperparameters are searched once, on the first fold's runs, and reused by the other folds
        (the marginal-likelihood search is nearly all of a fit's time; the folds share 3/4 of their runs)."""
        if not folds:
            return []
        d = self.problem.d
        first = type(self)(self.problem, self.config, self.seed).fit(folds[0][0])
        params = first.gp.params if first.gp is not None else None

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            mixer = type(self)(self.problem, self.config, self.seed)
            mixer.gp_params = params
            return mixer.fit(train).predict(held_out_mixtures(test, d), fidelity).mean

        rest = run([partial(job, train, test) for train, test in folds[1:]])
        return [first.predict(held_out_mixtures(folds[0][1], d), fidelity).mean, *rest]

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
        allowed = self._allowed(fidelity, fidelities)
        offered = allowed
        if self.gp is not None:
            allowed = self._gate(allowed, pending)
            if self._transfer_closed(offered, allowed):
                single = self._single_fidelity().propose(n, self._split_target(allowed)[0][0], pending, candidates)
                return self._batch(single, "single_fidelity", offered)
        costs = self._costs(allowed)
        rng = call_rng(self.seed, MFBO_TAG_PROPOSE, self.rng)
        pool = self._pool(candidates) if candidates is not None else None
        tol = POOL_TOL if pool is not None else PROPOSAL_TOL
        existing = self._existing(pending, allowed)
        with threadpool_limits(1, user_api="blas"):
            if self.gp is None:
                method = "space_fill"
                chosen = self._space_fill(rng, n, allowed[int(np.argmin(costs))], pool, existing, tol)
            elif self.calibrating:
                method = "calibration"
                chosen = self._calibration_batch(rng, n, allowed[0], offered, pending, pool, tol)
            elif self._screening(allowed):
                method = "screen"
                chosen = self._screen_batch(rng, n, allowed, costs, pending, pool, existing, tol)
            else:
                method = self.acquisition if self.config.multi_fidelity else "ei"
                chosen = self._bo_batch(rng, n, allowed, costs, pending, pool, existing, tol)
        if not chosen:
            raise MixerError("no new feasible mixture is left to propose (all candidates are run or pending)")
        return self._batch([ProposedRun(weights=w.copy(), fidelity=dict(f)) for w, f in chosen], method, offered)

    def _batch(self, runs: Sequence[ProposedRun], method: str, offered: list[dict[str, float]]) -> ProposedBatch:
        """``runs`` with the diagnostics of how they were chosen: ``method`` (space_fill, calibration, screen,
        kg / ei, or single_fidelity once the transfer gate closed), the gate's note, the measured transfer of each
        lower fidelity, and per run its ``role``: ``screen`` (at a lower fidelity), ``pair`` (at the target, at a
        mixture run at a lower fidelity) or ``target``."""
        tkey = fidelity_key(self.target)
        low_w = np.vstack([np.asarray(o.weights, dtype=np.float64)[None, :] for o in self.used
                           if fidelity_key(o.fidelity) != tkey] or [np.zeros((0, self.problem.d))])
        roles = []
        for r in runs:
            if fidelity_key(self._effective(r.fidelity)) != tkey:
                roles.append("screen")
            elif len(low_w) and not novel_mask(np.asarray(r.weights)[None, :], low_w, PAIR_TOL)[0]:
                roles.append("pair")
            else:
                roles.append("target")
        diag: dict[str, Any] = {"method": method, "runs": [{"role": role} for role in roles]}
        if self.config.multi_fidelity and len(offered) > 1:
            diag["gate_note"] = self.gate_note
            targets, lows = self._split_target(offered)
            if targets and lows and self.gp is not None:
                diag["screen_runs"] = self._screen_runs(self._cheapest(lows), targets[0])
            diag["transfer"] = [{"fidelity": fid, "correlation": self.transfer.get(key),
                                 "pairs": self.transfer_pairs.get(key, 0)}
                                for key, (fid, _) in self._levels().items() if key != tkey]
        return ProposedBatch(runs, diag)

    def fidelity_correlations(self) -> list[dict[str, Any]]:
        """Per fidelity of the runs: runs there and the learned correlation of the objective (its mixture-
        dependent part) there with the target's, ``None`` where it is not learned (fewer than two fidelities
        with runs, or no target runs)."""
        tkey = fidelity_key(self.target)
        return [{"fidelity": fid, "runs": count,
                 "correlation": 1.0 if key == tkey else self.transfer.get(key),
                 "kernel_correlation": self._correlation(fid)}
                for key, (fid, count) in self._levels().items()]

    def _levels(self) -> dict[str, tuple[dict[str, float], int]]:
        levels: dict[str, tuple[dict[str, float], int]] = {}
        for o in self.used:
            key = fidelity_key(o.fidelity)
            fid, count = levels.get(key, ({str(k): float(v) for k, v in o.fidelity.items()}, 0))
            levels[key] = (fid, count + 1)
        return levels

    def _correlation(self, fidelity: Mapping[str, float]) -> float | None:
        """``rho + (1 - rho) exp(-|z / l_z|^2 / 2)``: the fitted kernel's correlation between the target and
        ``fidelity`` at one mixture (the linear-in-fidelity mean term left out: it shifts all mixtures alike)."""
        gp = self.gp
        if gp is None or gp.params is None or not self.features.keys:
            return None
        levels = self._levels()
        tkey = fidelity_key(self.target)
        if len(levels) < 2 or tkey not in levels:
            return None
        if fidelity_key(self._effective(fidelity)) == tkey:
            return 1.0
        p = gp.params
        z = self.features(fidelity)
        kz = math.exp(-0.5 * float(((z / p.fidelity_lengthscales) ** 2).sum()))
        return float(p.rho + (1 - p.rho) * kz)

    def _gate(self, allowed: list[dict[str, float]], pending: Sequence[PendingRun]) -> list[dict[str, float]]:
        """The allowed fidelities minus those that do not inform the target (see ``min_correlation``), or only the
        target while the cheapest lower fidelity lacks ``calibration_runs`` paired target runs (see
        :meth:`_calibration_batch`); unchanged where the target is not allowed."""
        self.gate_note = ""
        self.calibrating = False
        if not self.config.multi_fidelity or len(allowed) < 2 or not self.features.keys:
            return allowed
        target, low = self._split_target(allowed)
        if not target:
            return allowed
        cheapest = self._cheapest(low)
        paired = self._paired_count(cheapest, pending)
        if paired < self.config.calibration_runs:
            self.gate_note = (f"{paired} mixture(s) run at both the target and the cheapest lower fidelity, "
                              f"{self.config.calibration_runs} wanted to learn how it relates to the target: "
                              "screening there and pairing its best mixtures at the target")
            self.calibrating = True
            return target
        keep: list[tuple[dict[str, float], float | None]] = []
        dropped: list[tuple[dict[str, float], float]] = []
        for f in low:
            corr = self.transfer.get(fidelity_key(self._effective(f)))
            if corr is not None and corr < self.config.min_correlation:
                dropped.append((f, corr))
            else:
                keep.append((f, corr))
        if dropped:
            self.gate_note = "not proposed (transfer correlation with the target below min_correlation " + \
                f"{self.config.min_correlation:g}): " + ", ".join(f"{fidelity_key(f)} ({c:.2f})" for f, c in dropped)
        return target + [f for f, _ in keep]

    def _transfer_closed(self, offered: list[dict[str, float]], allowed: list[dict[str, float]]) -> bool:
        """Whether no lower fidelity is left that screening may use (none passed the gate with a measured
        transfer; not while calibrating): then the runs there do not inform the target, and the proposals are
        the single-fidelity mode's on the target runs alone (the joint model would still carry the lower
        fidelities' ranking)."""
        if len(offered) < 2 or self.calibrating or self.acquisition != "screen" or self.config.calibration_runs == 0:
            return False
        target, lows = self._split_target(allowed)
        return bool(target) and all(self.transfer.get(fidelity_key(self._effective(f))) is None for f in lows)

    def _single_fidelity(self) -> MFBOMixer:
        """This mixer in single-fidelity mode (same config and seed), fitted on the same runs."""
        cfg = self.config.model_copy(update={"multi_fidelity": False, "acquisition": None})
        return MFBOMixer(self.problem, cfg, seed=self.seed).fit(self.observations)

    def _split_target(
        self, fids: Sequence[dict[str, float]]
    ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        """``fids`` split into those at the target fidelity (over the keys the runs name) and the lower ones."""
        tkey = fidelity_key(self.target)
        at = [fidelity_key(self._effective(f)) == tkey for f in fids]
        return [f for f, t in zip(fids, at, strict=True) if t], [f for f, t in zip(fids, at, strict=True) if not t]

    def _cheapest(self, fids: list[dict[str, float]]) -> dict[str, float]:
        return fids[int(np.argmin(self._costs(fids)))]

    def _level_runs(self, key: str) -> tuple[FloatArray, FloatArray]:
        """Mixtures ``(k, d)`` run at the fidelity ``key`` and their losses ``(k,)``."""
        runs = [o for o in self.used if fidelity_key(o.fidelity) == key]
        w = np.array([np.asarray(o.weights, dtype=np.float64) for o in runs]).reshape(-1, self.problem.d)
        return w, np.array([self._loss(o) for o in runs])

    def _paired_count(self, low: Mapping[str, float], pending: Sequence[PendingRun]) -> int:
        """Mixtures with a run (done or pending) both at the target and at ``low``."""
        lw = self._existing(pending, [low])[fidelity_key(low)]
        tw = self._existing(pending, [self.target])[fidelity_key(self.target)]
        if not len(lw) or not len(tw):
            return 0
        return int((~novel_mask(tw, lw, PAIR_TOL)).sum())

    def _calibration_batch(
        self, rng: np.random.Generator, n: int, target: dict[str, float], offered: list[dict[str, float]],
        pending: Sequence[PendingRun], pool: FloatArray | None, tol: float,
    ) -> list[tuple[FloatArray, dict[str, float]]]:
        """Screen, then pair: while the cheapest lower fidelity has fewer than ``screen_runs`` runs, the whole batch
        screens there (expected improvement at that fidelity); then its best mixtures not yet run at the target
        are climbed there until ``calibration_runs`` pairs exist, and the rest of the batch screens.
        The pairs measure the transfer (:meth:`_transfer_correlations`); where the fidelity transfers, the
        climbed mixtures are also the target's most promising ones."""
        low = self._cheapest(self._split_target(offered)[1])
        lkey = fidelity_key(self._effective(low))
        lw, ly = self._level_runs(lkey)
        usable = self.problem.feasible(lw) if len(lw) else np.zeros(0, dtype=bool)
        if pool is not None and len(lw):
            usable &= ~novel_mask(lw, pool, POOL_TOL)
        existing_low = self._existing(pending, [low])[fidelity_key(low)]
        chosen: list[tuple[FloatArray, dict[str, float]]] = []
        screen_runs = self._screen_runs(low, target)
        if len(existing_low) >= screen_runs:
            paired_ref = self._existing(pending, [target])[fidelity_key(target)]
            need = self.config.calibration_runs - self._paired_count(low, pending)
            for _ in range(min(need, n)):
                checkpoint()
                free = usable & (novel_mask(lw, paired_ref, tol) if len(paired_ref) else True)
                idx = np.flatnonzero(free)
                if len(idx) == 0:
                    break
                i = int(idx[np.argmin(ly[idx])])
                chosen.append((lw[i].copy(), target))
                paired_ref = np.vstack([paired_ref, lw[i]]) if len(paired_ref) else lw[i][None, :]
        rest = n - len(chosen)
        if rest > 0:
            more = [*pending, *(PendingRun(weights=w, fidelity=f) for w, f in chosen)]
            existing = self._existing(more, [low])
            chosen += self._bo_batch(rng, rest, [low], self._costs([low]), more, pool, existing, tol,
                                     own_level=True)
        return chosen

    def _screening(self, allowed: list[dict[str, float]]) -> bool:
        """Whether the target and a lower fidelity are both allowed under the ``screen`` acquisition."""
        if self.acquisition != "screen" or not self.config.multi_fidelity:
            return False
        tkey = fidelity_key(self.target)
        n_t = sum(fidelity_key(self._effective(f)) == tkey for f in allowed)
        return n_t == 1 and len(allowed) > 1

    def _screen_batch(
        self, rng: np.random.Generator, n: int, allowed: list[dict[str, float]], costs: FloatArray,
        pending: Sequence[PendingRun], pool: FloatArray | None, existing: dict[str, FloatArray], tol: float,
    ) -> list[tuple[FloatArray, dict[str, float]]]:
        """Screen, then climb: each pick is the mixture of highest expected improvement at the target (the model
        carries the lower-fidelity runs over to it); it is run at the cheapest allowed lower fidelity that passed
        the gate where it has no run yet, else at the target. Before each pick, the best screened mixture is
        climbed to the target when :meth:`_climb` says so. Kriging-believer fantasies between picks, as in
        :meth:`_bo_batch`. (An earlier rule ran a new pick at the target directly once the model was sure of it
        at the lower fidelity; it spent target runs on mixtures a screen would have ruled out.)"""
        model = self._require_gp()
        fant = [p for p in pending if self._placeable(p.fidelity)]
        if fant:
            xp = np.vstack([self._x(np.asarray(p.weights, dtype=np.float64)[None, :], p.fidelity) for p in fant])
            model = model.condition_on(xp, model.predict_mean(xp))
        tkey = fidelity_key(self.target)
        keys = [fidelity_key(f) for f in allowed]
        ti = next(i for i, f in enumerate(allowed) if fidelity_key(self._effective(f)) == tkey)
        # Only lower fidelities whose transfer was measured (and passed the gate) screen: an unmeasured one
        # would spend on a link the runs have not shown (unless calibration is off: then every one is trusted).
        trust = self.config.calibration_runs == 0
        lows = sorted((i for i in range(len(allowed)) if i != ti and costs[i] < costs[ti]
                       and (trust or self.transfer.get(fidelity_key(self._effective(allowed[i]))) is not None)),
                      key=lambda i: costs[i])
        observed = self._feasible_observed()
        if pool is not None:
            cands = pool
        else:
            mean_t = model.predict_mean(self._x(observed, self.target)) if len(observed) else np.zeros(0)
            centers = observed[np.argsort(mean_t, kind="stable")[:4]] if len(observed) else None
            cands = self._generate(rng, self.config.n_candidates, centers)
        ref = {k: existing[k] for k in keys}
        ok = novel_mask(cands, ref[keys[ti]], tol)
        climb_w, climb_y = self._screened(allowed, lows)
        chosen: list[tuple[FloatArray, dict[str, float]]] = []
        for _ in range(n):
            checkpoint()
            if not ok.any():
                break
            w_up = self._climb(climb_w, climb_y, ref[keys[ti]], tol)
            if w_up is not None:
                chosen.append((w_up.copy(), allowed[ti]))
                ref[keys[ti]] = np.vstack([ref[keys[ti]], w_up])
                ok &= np.abs(cands - w_up).max(axis=1) > tol
                x_new = self._x(w_up[None, :], allowed[ti])
                model = model.condition_on(x_new, model.predict_mean(x_new))
                continue
            acq = self._acquisition(model, [allowed[ti]], costs[ti : ti + 1], cands[:1])
            flat = np.where(ok, acq(cands, [0])[0], -np.inf)
            if pool is None and self.config.refine_top > 0:
                top = np.argsort(-flat, kind="stable")[: self.config.refine_top]
                w, sc = self._refine(rng, _novel_only(acq, 0, ref[keys[ti]], tol), cands[top], flat[top])
                best_w = w[int(np.argmax(sc))]
            else:
                best_w = cands[int(np.argmax(flat))]
            # A new mixture is screened first; one already screened is run at the target (the GP's pick).
            si = next((li for li in lows if novel_mask(best_w[None, :], ref[keys[li]], tol)[0]), ti)
            fid = allowed[si]
            chosen.append((best_w.copy(), fid))
            ref[keys[si]] = np.vstack([ref[keys[si]], best_w])
            ok &= np.abs(cands - best_w).max(axis=1) > tol
            x_new = self._x(best_w[None, :], fid)
            model = model.condition_on(x_new, model.predict_mean(x_new))
        return chosen

    def _screened(self, allowed: list[dict[str, float]], lows: list[int]) -> tuple[FloatArray, FloatArray]:
        """Mixtures ``(k, d)`` run at the cheapest screening fidelity and their losses ``(k,)`` there."""
        if not lows:
            return np.zeros((0, self.problem.d)), np.zeros(0)
        w, y = self._level_runs(fidelity_key(self._effective(allowed[lows[0]])))
        ok = self.problem.feasible(w) if len(w) else np.zeros(0, dtype=bool)
        return w[ok], y[ok]

    def _climb(self, w: FloatArray, y: FloatArray, at_target: FloatArray, tol: float) -> FloatArray | None:
        """The screened mixture to run at the target next: the one with the best screening loss among those
        without a target run, when it beats the screening loss of every mixture run at the target (with a
        fidelity that passed the gate, the best screened mixture is the target's most promising one)."""
        if len(w) == 0:
            return None
        free = novel_mask(w, at_target, tol) if len(at_target) else np.ones(len(w), dtype=bool)
        if not free.any() or free.all():
            return None
        i = int(np.flatnonzero(free)[np.argmin(y[free])])
        return w[i] if y[i] < y[~free].min() else None

    def _space_fill(
        self, rng: np.random.Generator, n: int, fid: dict[str, float], pool: FloatArray | None,
        existing: dict[str, FloatArray], tol: float,
    ) -> list[tuple[FloatArray, dict[str, float]]]:
        """A space-filling design of prior samples at ``fid`` by Mitchell's best-candidate rule.

        Each pick draws ``SPACE_FILL_DRAWS`` candidates (Dirichlet(prior x d) samples, or random pool rows) and
        keeps the one farthest from the runs at ``fid`` and the earlier picks; the first pick of an empty
        design is the candidate nearest the prior. The picks stay distributed like prior samples (unlike a
        global maximin, which would pick the simplex's corners) while avoiding near-duplicates.
        """
        d = self.problem.d
        prior = self.problem.prior()
        ref = existing[fidelity_key(fid)]
        chosen: list[tuple[FloatArray, dict[str, float]]] = []
        left = pool
        for _ in range(n):
            checkpoint()
            if left is not None:
                left = left[novel_mask(left, ref, tol)]
                if len(left) == 0:
                    break
                draws = left[rng.permutation(len(left))[:SPACE_FILL_DRAWS]]
            else:
                draws = self._project(sample_dirichlet(rng, prior * d, SPACE_FILL_DRAWS))
                draws = draws[novel_mask(draws, ref, tol)]
                if len(draws) == 0:
                    continue
            if len(ref):
                i = int(np.argmax(cdist(draws, ref).min(axis=1)))
            else:
                i = int(np.argmin(np.linalg.norm(draws - prior, axis=1)))
            chosen.append((draws[i].copy(), fid))
            ref = np.vstack([ref, draws[i]])
        return chosen

    def _bo_batch(
        self, rng: np.random.Generator, n: int, allowed: list[dict[str, float]], costs: FloatArray,
        pending: Sequence[PendingRun], pool: FloatArray | None, existing: dict[str, FloatArray], tol: float,
        own_level: bool = False,
    ) -> list[tuple[FloatArray, dict[str, float]]]:
        """Kriging-believer batch: pick the best (mixture, fidelity) by acquisition / cost, fantasize, repeat
        (``own_level``: expected improvement at each allowed fidelity itself, see :meth:`_acquisition`)."""
        model = self._require_gp()
        # Pending runs the model can place become fantasies at their posterior mean.
        fant = [p for p in pending if self._placeable(p.fidelity)]
        if fant:
            xp = np.vstack([self._x(np.asarray(p.weights, dtype=np.float64)[None, :], p.fidelity) for p in fant])
            model = model.condition_on(xp, model.predict_mean(xp))
        observed = self._feasible_observed()
        mean_t = model.predict_mean(self._x(observed, self.target)) if len(observed) else np.zeros(0)
        if pool is not None:
            cands = pool
        else:
            centers = observed[np.argsort(mean_t, kind="stable")[:4]] if len(observed) else None
            cands = self._generate(rng, self.config.n_candidates, centers)
        # The KG discretization: the distinct mixtures with the lowest posterior mean at the target (projection
        # onto binding bounds maps many candidates to one point; copies would only add identical lines).
        disc_w = np.vstack([cands, observed])
        disc_mean = model.predict_mean(self._x(disc_w, self.target))
        order = np.argsort(disc_mean, kind="stable")
        disc_w = disc_w[greedy_distinct(order, disc_w, self.config.kg_set_size, tol=PROPOSAL_TOL)]
        keys = [fidelity_key(f) for f in allowed]
        ref = {k: existing[k] for k in keys}
        ok = np.vstack([novel_mask(cands, ref[k], tol) for k in keys])  # (S, c) still allowed per fidelity
        chosen: list[tuple[FloatArray, dict[str, float]]] = []
        everywhere = list(range(len(allowed)))
        for _ in range(n):
            checkpoint()
            if not ok.any():
                break
            acq = self._acquisition(model, allowed, costs, disc_w, own_level)
            flat = np.where(ok, acq(cands, everywhere), -np.inf).ravel()
            if pool is None and self.config.refine_top > 0:
                top = np.argsort(-flat, kind="stable")[: self.config.refine_top]
                best_w, best_s, best_f = cands[0], -np.inf, 0
                for t in top[np.isfinite(flat[top])]:
                    si, ci = divmod(int(t), len(cands))
                    w, sc = self._refine(rng, _novel_only(acq, si, ref[keys[si]], tol), cands[ci][None, :],
                                         flat[t : t + 1])
                    if sc[0] > best_s:
                        best_w, best_s, best_f = w[0], float(sc[0]), si
            else:
                best_f, ci = divmod(int(np.argmax(flat)), len(cands))
                best_w = cands[ci]
            fid = allowed[best_f]
            chosen.append((best_w.copy(), fid))
            ref[keys[best_f]] = np.vstack([ref[keys[best_f]], best_w])
            ok[best_f] &= np.abs(cands - best_w).max(axis=1) > tol
            x_new = self._x(best_w[None, :], fid)
            model = model.condition_on(x_new, model.predict_mean(x_new))
        return chosen

    def _placeable(self, fidelity: Mapping[str, float]) -> bool:
        """Whether the model can place a run at ``fidelity`` (its keys match; single-fidelity: the target)."""
        if not self.config.multi_fidelity and self.fidelity_modeled:
            return all(k in fidelity for k in self.varying_keys) and \
                fidelity_key(self._effective(fidelity)) == fidelity_key(self.target)
        return all(k in fidelity for k in self.features.keys)

    def _acquisition(
        self, model: ExactGP, allowed: list[dict[str, float]], costs: FloatArray, disc_w: FloatArray,
        own_level: bool = False,
    ) -> Acquisition:
        """``acq(w, which)``: acquisition / cost ``(len(which), m)`` of mixtures ``w`` ``(m, d)`` at the allowed
        fidelities ``which`` (indices), sharing one target-fidelity posterior across them. ``own_level``: the
        expected improvement at each fidelity itself over the best posterior mean of its runs (screening while
        the transfer to the target is not known yet)."""
        disc = model.posterior(self._x(disc_w, self.target))
        train_w = model.x_train[:, : self.problem.d]
        best = float(model.predict_mean(self._x(train_w, self.target)).min())
        kind = self.acquisition
        multi = self.config.multi_fidelity
        tkey = fidelity_key(self.target)
        if multi and self.config.acquisition in (None, "screen") and all(fidelity_key(self._effective(f)) == tkey
                                                              for f in allowed):
            kind, multi = "ei", False  # only the target left: behave as the single-fidelity mode does

        if own_level:
            level_best = []
            for f in allowed:
                lw, _ = self._level_runs(fidelity_key(self._effective(f)))
                level_best.append(float(model.predict_mean(self._x(lw, f)).min()) if len(lw) else best)

        def acq(w: FloatArray, which: Sequence[int]) -> FloatArray:
            if own_level:
                rows_own = []
                for si in which:
                    post = model.posterior(self._x(w, allowed[si]))
                    value = expected_improvement(post.mean, np.sqrt(post.var), level_best[si])
                    rows_own.append((value + 1e-12 * np.sqrt(post.var)) / costs[si])
                return np.vstack(rows_own)
            post_tgt = model.posterior(self._x(w, self.target))
            # A tiny multiple of the target sd breaks exact ties of a vanished acquisition (e.g. EI underflow far
            # from the best) toward exploring where the target is least known, not by candidate order.
            tie = 1e-12 * np.sqrt(post_tgt.var)
            rows = []
            for si in which:
                fid = allowed[si]
                post_obs = post_tgt if fidelity_key(fid) == tkey else model.posterior(self._x(w, fid))
                if kind == "kg":
                    value = knowledge_gradient(model, post_obs, post_tgt, disc)
                elif multi:
                    value = augmented_ei(model, post_obs, post_tgt, best)
                else:
                    value = expected_improvement(post_tgt.mean, np.sqrt(post_tgt.var), best)
                rows.append((value + tie) / costs[si])
            return np.vstack(rows)

        return acq


def _range_corrected_correlation(low: FloatArray, high: FloatArray, population_sd: float) -> float:
    """Pearson correlation (floored at 0) of paired values ``low``, ``high`` ``(n,)``, corrected for the
    restricted range of ``low``: the pairs sit at the best mixtures of the lower fidelity, whose spread there
    (``std(low)``) is a fraction of its spread over all its runs (``population_sd``). Selecting on ``low`` leaves
    the regression of ``high`` on ``low`` unbiased but shrinks the correlation (Thorndike's case II):
    ``r' = r u / sqrt(1 - r^2 + r^2 u^2)`` with ``u = population_sd / std(low)`` (at least 1)."""
    s_low, s_high = float(np.std(low)), float(np.std(high))
    if s_low < 1e-12 or s_high < 1e-12:
        return 0.0
    r = float(np.corrcoef(low, high)[0, 1])
    if r <= 0:
        return 0.0
    u = max(1.0, population_sd / s_low)
    return float(r * u / math.sqrt(1 - r * r + r * r * u * u))


Acquisition = Callable[[FloatArray, Sequence[int]], FloatArray]


def _novel_only(acq: Acquisition, si: int, existing: FloatArray, tol: float) -> Callable[[FloatArray], FloatArray]:
    """Score ``(m,)`` of mixtures at allowed fidelity ``si``: the acquisition, or -inf where a run exists."""

    def score(w: FloatArray) -> FloatArray:
        return np.where(novel_mask(w, existing, tol), acq(w, [si])[0], -np.inf)

    return score
