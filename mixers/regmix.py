"""``regmix``: regression from mixture weights to the objective (RegMix, Liu et al. 2024; DESIGN 4.1).

One regressor per objective metric (LightGBM by default: 1000 trees, learning rate 0.01, 31 leaves, no early
stopping), fitted on the runs of one fidelity. The recommendation is the mean of the top-k of many
Dirichlet(prior) candidates, projected into the bounds. Proposals follow the RegMix recipe, or with
``active`` pick the candidates where a seed- and bagging-varied ensemble disagrees most.

Determinism: LightGBM trains with ``deterministic=True``, ``force_col_wise=True``, one thread and a fixed
``seed``, which gives bit-identical models across processes (checked by the contract suite); prediction is
row-wise, so its thread count does not change the values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy.stats import rankdata
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

from mixers.base import MAX_PENALTY, FoldRunner, FoldSplits, MixerConfig, held_out_mixtures, run_in_order
from mixers.blend import BlendWeights, choose_weights
from mixers.cancel import carry, checkpoint
from mixers.features import FeatureMap
from mixers.importance import DomainImportance, slope_effect
from mixers.mixing_law import ExpLaw, fit_exp_law
from mixers.proposals import Scorer, candidate_density
from mixers.registry import register
from mixers.search import dirichlet_candidates, top_k_indices
from mixers.simplex import kl_to_prior, project_to_bounds
from mixers.single_fidelity import SingleFidelityConfig, SingleFidelityMixer
from mixers.training import TAG_FIT, TAG_RECOMMEND, TrainingSet, call_rng, subset
from mixers.types import FloatArray, Observation, Problem, Recommendation

# Prediction uses both cores. Training uses one thread per model: on 512 runs a second thread gains ~15% but
# OpenMP's spinning barrier makes it 5-10x slower whenever the other core is busy; instead the main fit runs
# in a worker thread next to the cross-validation fits (LightGBM releases the GIL).
NUM_THREADS = 2
TRAIN_THREADS = 1
# Share of each booster's trees evaluated before each pruning step of the exact top-k search: every 5%
# (on the RegMix data, 100,000 candidates shrink to ~70% at 15% of the trees, ~20% at half, ~1% at 95%).
STAGES = tuple(float(f) for f in np.linspace(0.05, 1.0, 20))


# Total Dirichlet concentrations of the candidates drawn around the best observed mixtures (candidate_centers).
CENTER_STRENGTHS = (30.0, 300.0)


class RegMixConfig(SingleFidelityConfig):
    model: Literal["auto", "lightgbm", "linear", "ridge"] = Field(
        "auto", description="regressor per metric; auto: a cross-validated blend of LightGBM and the mixing law"
    )
    blend_shrink: float = Field(
        0.5, ge=0, le=1, description="auto: share of equal weights in the blend (0: the cross-validated "
        "stacking weights, 1: equal weights)"
    )
    law_inits: int = Field(4, ge=1, le=100, description="auto: seeded starting points of each mixing-law fit")
    n_estimators: int = Field(1000, ge=1, le=20_000, description="LightGBM trees (no early stopping)")
    learning_rate: float = Field(0.01, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=4096)
    min_child_samples: int | None = Field(
        None, ge=1, le=100_000, description="LightGBM min_data_in_leaf; default min(20, max(2, runs // 10))"
    )
    ridge_alpha: float | None = Field(
        None, gt=0, le=MAX_PENALTY,
        description="ridge penalty; default chosen by leave-one-out"
    )
    n_candidates: int = Field(100_000, ge=1, le=2_000_000, description="Dirichlet(prior) candidates to score")
    top_k: int = Field(128, ge=1, le=2_000_000, description="the recommendation averages the k best candidates")
    candidate_centers: int = Field(
        0, ge=0, le=1000, description="draw a quarter of the candidates around this many best observed mixtures "
        "(Dirichlet strengths CENTER_STRENGTHS; 0: all around the prior, RegMix's search). Keeps the search where "
        "the runs are: with a prior far from the runs' good region, prior-centred candidates never reach it"
    )
    cv_trees: int = Field(
        200, ge=1, le=20_000,
        description="trees per LightGBM model in the cross-validated diagnostics"
    )
    active: bool = Field(False, description="propose where an ensemble of models disagrees most")
    ensemble_size: int = Field(8, ge=2, le=64, description="members of the active-learning ensemble")
    ensemble_trees: int = Field(200, ge=1, le=20_000, description="trees per LightGBM member of the ensemble")
    active_candidates: int = Field(2048, ge=16, le=200_000, description="recipe draws scored per active batch")
    active_diversity: float = Field(
        1.0, ge=0, le=100, description="batch spread: penalty length in median distances to the centroid (0: off)"
    )
    active_exploit: float = Field(
        0.0, ge=0, le=1, description="0: pure disagreement; 1: pure predicted objective (rank mix)"
    )
    active_plausibility: float = Field(
        1.0, ge=0, le=10, description="active: disagreement x plausibility ** this (the candidates' own density; "
        "0: disagreement alone, which favours near-vertex mixtures)"
    )


# -- regressors -------------------------------------------------------------------------------------------


def _leaf_ranges(booster: lgb.Booster) -> tuple[FloatArray, FloatArray]:
    """Min and max leaf value ``(trees,)`` of each tree, read from the model text (fast)."""
    lo, hi = [], []
    for line in booster.model_to_string().splitlines():
        if line.startswith("leaf_value="):
            vals = np.array(line[len("leaf_value="):].split(), dtype=np.float64)
            lo.append(vals.min())
            hi.append(vals.max())
    return np.array(lo), np.array(hi)


@dataclass
class _Booster:
    """One fitted LightGBM model with the per-tree leaf ranges used by the pruned top-k search."""

    booster: lgb.Booster
    leaf_lo: FloatArray
    leaf_hi: FloatArray
    features: FeatureMap | None = None  # applied to the mixtures before the trees (None: the weights)

    @property
    def n_trees(self) -> int:
        return len(self.leaf_lo)

    def predict(self, x: FloatArray, start: int = 0, stop: int | None = None) -> FloatArray:
        stop = self.n_trees if stop is None else stop
        if stop <= start:
            return np.zeros(len(x))
        if self.features is not None:
            x = self.features(x)
        return np.asarray(
            self.booster.predict(x, start_iteration=start, num_iteration=stop - start, num_threads=NUM_THREADS),
            dtype=np.float64,
        )


def lgb_params(cfg: RegMixConfig, n: int, seed: int, trees: int | None = None) -> tuple[dict[str, Any], int]:
    """LightGBM parameters and number of rounds; fewer ``trees`` keep the budget ``trees x learning rate``."""
    rounds = cfg.n_estimators if trees is None else min(trees, cfg.n_estimators)
    lr = min(1.0, cfg.learning_rate * cfg.n_estimators / rounds)
    min_leaf = cfg.min_child_samples if cfg.min_child_samples is not None else min(20, max(2, n // 10))
    params = {
        "objective": "regression",
        "learning_rate": lr,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": min_leaf,
        "verbose": -1,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": TRAIN_THREADS,
        "seed": seed,
    }
    return params, rounds


def _stop_if_cancelled(_env: Any) -> None:
    """LightGBM callback after each boosting round: a cancelled fit stops here."""
    checkpoint()


def fit_booster(
    x: FloatArray, y: FloatArray, params: Mapping[str, Any], rounds: int, ranges: bool = True,
    features: FeatureMap | None = None,
) -> _Booster:
    """Train on ``x`` ``(n, d)``, ``y`` ``(n,)``; ``ranges=False`` skips the leaf ranges (no top-k search). With
    ``features`` (not plain) the trees see ``features(x)``, and so does every prediction."""
    features = None if features is None or features.plain else features
    ds = lgb.Dataset(x if features is None else features(x), label=y, params={"verbose": -1}, free_raw_data=True)
    booster = lgb.train(dict(params), ds, num_boost_round=rounds, callbacks=[_stop_if_cancelled])
    if not ranges:
        n_trees = booster.num_trees()
        return _Booster(booster, np.zeros(n_trees), np.zeros(n_trees), features)
    lo, hi = _leaf_ranges(booster)
    return _Booster(booster, lo, hi, features)


def _fit_linear(x: FloatArray, y: FloatArray, kind: str, alpha: float | None) -> LinearRegression | Ridge | RidgeCV:
    if kind == "linear":
        return LinearRegression().fit(x, y)
    if alpha is not None:
        return Ridge(alpha=alpha).fit(x, y)
    return RidgeCV(alphas=np.logspace(-5, 2, 15)).fit(x, y)


def _seed(seed: int | None) -> int:
    return 0 if seed is None else int(seed) % (2**31 - 1)


def pruned_top_k(
    boosters: Sequence[tuple[_Booster, float]], base: FloatArray, x: FloatArray, k: int
) -> tuple[NDArray[np.intp], FloatArray]:
    """Exact ``k`` lowest of ``base + sum_j w_j * booster_j(x)`` over ``x`` ``(m, d)``, evaluating few trees.

    Trees are evaluated in stages; after each stage a candidate is dropped when its partial score plus the
    least the remaining trees can add (sum of their extreme leaf values) exceeds the k-th smallest upper
    bound. The few survivors are then scored again by the full models (the staged sums can differ from a
    full prediction in the last bits), so the result equals a full evaluation exactly. Hand-written because
    LightGBM has no top-k prediction; it cuts scoring 100,000 candidates about 3x.
    Returns (indices sorted by score, ties by index; their scores).
    """
    m = len(x)
    idx = np.arange(m)
    partial = np.array(base, dtype=np.float64)
    done = [0] * len(boosters)
    for frac in STAGES:
        if len(idx) <= k:
            break
        rest_lo = np.zeros(1)
        rest_hi = np.zeros(1)
        checkpoint()
        for j, (b, w) in enumerate(boosters):
            stop = math.ceil(frac * b.n_trees)
            partial[idx] += w * b.predict(x[idx], done[j], stop)
            done[j] = stop
            lo_t, hi_t = w * b.leaf_lo[stop:], w * b.leaf_hi[stop:]
            rest_lo = rest_lo + np.minimum(lo_t, hi_t).sum()
            rest_hi = rest_hi + np.maximum(lo_t, hi_t).sum()
        p = partial[idx]
        upper = np.partition(p + rest_hi[0], k - 1)[k - 1]
        slack = 1e-9 * (1.0 + abs(upper))
        idx = idx[p + rest_lo[0] <= upper + slack]
    full = np.array(base[idx], dtype=np.float64)
    for b, w in boosters:
        full += w * b.predict(x[idx])
    order = top_k_indices(full, k)
    return idx[order], full[order]


class _ActiveScorer:
    """Active-learning score of candidates ``(c, d)``: ensemble disagreement (std of the members' predictions)
    times plausibility (:func:`candidate_density`) ** ``power``, optionally rank-mixed with the predicted objective
    (``exploit``). ``parts`` keeps the last call's disagreement and plausibility for the proposal's diagnostics.

    Why the plausibility: disagreement alone is largest at the recipe's rare near-vertex draws (all 8 runs of a
    batch had one domain >= 0.94), which teach the model little about the mixtures it is asked to rank, and
    active lost to random order on the pool replay (``bench/replay/regmix_pool.py``). Committees of the default model
    (LightGBM + law members), integrated variance reduction, ranking disagreement, exploit mixes, k-center and
    kernel herding did no better there (bench/README.md lists the figures).
    """

    def __init__(self, members: list[Any], sign: float, exploit: float, power: float) -> None:
        self.members, self.sign, self.exploit, self.power = members, sign, exploit, power
        self.parts: dict[str, FloatArray] = {}

    def __call__(self, x: FloatArray) -> FloatArray:
        preds = np.stack([member(x) for member in self.members])  # (members, c)
        spread = preds.std(axis=0)
        plausible = candidate_density(x) if self.power > 0 else np.ones(len(x))
        self.parts = {"disagreement": spread, "plausibility": plausible}
        score = spread * plausible**self.power
        if self.exploit <= 0:
            return np.asarray(score, dtype=np.float64)
        good = -self.sign * preds.mean(axis=0)
        return np.asarray((1 - self.exploit) * rankdata(score) + self.exploit * rankdata(good),
                          dtype=np.float64) / len(x)


# -- the mixer --------------------------------------------------------------------------------------------


@register
class RegMixMixer(SingleFidelityMixer):
    """RegMix regression (LightGBM / linear / ridge per metric) with the RegMix proposal recipe."""

    name: ClassVar[str] = "regmix"
    description: ClassVar[str] = (
        "RegMix (Liu et al. 2024): regress the objective on the mixture weights of proxy runs at one fidelity "
        "(LightGBM, linear or ridge), recommend the mean of the top-k of 100,000 Dirichlet(prior) candidates; "
        "proposals by the RegMix recipe, or active (ensemble disagreement)."
    )
    Config: ClassVar[type[MixerConfig]] = RegMixConfig
    config: RegMixConfig

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.boosters: list[_Booster] = []
        self.linear: list[Any] = []
        self.laws: list[ExpLaw] = []
        self.blend: BlendWeights | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[_Booster]] = []

    @property
    def _trees(self) -> bool:
        return self.config.model in ("lightgbm", "auto")

    def _law_fits(self, n: int) -> bool:
        """Whether ``auto`` fits the mixing law on ``n`` distinct mixtures (it needs d + 2)."""
        return self.config.model == "auto" and n >= self.problem.d + 2

    def _fit_laws(self, ts: TrainingSet) -> list[ExpLaw]:
        rng = call_rng(self.seed, TAG_FIT, np.random.default_rng(0))
        # The law member stays on the weights whatever the feature set (only the trees see the features): with the
        # repetition waste among its inputs, the waste explained the repeated runs' losses and freed the weights'
        # coefficients, and the law extrapolated to -1.4e6 at a 25-epoch mixture of the family world
        # (bench.sim.families); family totals add nothing to its linear exponent.
        return [fit_exp_law(ts.x, ts.metrics[:, j], rng, self.config.law_inits, None)
                for j in range(len(ts.metric_names))]

    def _blend_weights(self) -> tuple[float, float]:
        """``(tree weight, law weight)`` of the predictor (``(1, 0)`` unless ``auto`` fitted a law)."""
        if self.blend is None:
            return 1.0, 0.0
        w = self.blend.weights
        return float(w[0]), float(w[1])

    def _fit_train_fidelity(self, observations: Sequence[Observation]) -> None:
        self.boosters, self.linear, self.laws, self.blend = [], [], [], None
        with ThreadPoolExecutor(max_workers=1) as pool:
            self._pool = pool
            try:
                super()._fit_train_fidelity(observations)
                self.boosters = [f.result() for f in self._futures]
            finally:
                self._pool, self._futures = None, []

    def _fit_model(self, ts: TrainingSet) -> None:
        cfg = self.config
        self._futures = []
        for j in range(len(ts.metric_names)):
            if self._trees:
                params, rounds = lgb_params(cfg, ts.n, _seed(self.seed))
                params = self._monotone(params, ts.coefs[j])
                if self._pool is not None:  # runs while the cross-validation fits run in this thread
                    self._futures.append(self._pool.submit(carry(fit_booster), ts.x, ts.metrics[:, j], params, rounds,
                                                          True, self.features))
                else:
                    self.boosters.append(fit_booster(ts.x, ts.metrics[:, j], params, rounds, True, self.features))
            else:
                self.linear.append(_fit_linear(self.features(ts.x), ts.metrics[:, j], cfg.model, cfg.ridge_alpha))
        if self._law_fits(ts.n):  # while the boosters train in the worker thread
            self.laws = self._fit_laws(ts)

    def _monotone(self, params: dict[str, Any], coef: float) -> dict[str, Any]:
        """``params`` with the trees constrained to make the objective worse as the repetition waste grows (feature
        set ``families+epochs``): a metric that counts with ``coef`` in an objective to minimize may only rise with
        it (to maximize: only fall). Why: in a swarm the runs that repeat a scarce domain are often the ones with
        the most of a good domain, so unconstrained trees can learn "more repetition, lower loss" and, flat beyond
        the data, recommend repeating scarce domains many times (the family world showed it: one seed's answer
        43% from the best). Unchanged for the other feature sets."""
        if self.features.epoch_scale is None:
            return params
        worse = 1 if self.problem.objective.sign * coef > 0 else -1
        return {**params, "monotone_constraints": [0] * (self.features.n_features - 1) + [worse]}

    def _predict_metrics(self, x: FloatArray) -> FloatArray:
        if self._trees:
            trees = np.column_stack([b.predict(x) for b in self.boosters])
            w_tree, w_law = self._blend_weights()
            if w_law == 0:
                return trees
            return w_tree * trees + w_law * np.column_stack([law(x) for law in self.laws])
        phi = self.features(x)
        return np.column_stack([np.asarray(m.predict(phi), dtype=np.float64) for m in self.linear])

    def _cv_predict(self, train: TrainingSet, x_test: FloatArray) -> FloatArray:
        cfg = self.config
        if not self._trees:
            return super()._cv_predict(train, x_test)
        pred = np.zeros(len(x_test))
        for j, coef in enumerate(train.coefs):
            params, rounds = lgb_params(cfg, train.n, _seed(self.seed), trees=cfg.cv_trees)
            params = self._monotone(params, coef)
            pred += coef * fit_booster(train.x, train.metrics[:, j], params, rounds, False,
                                       self.features).predict(x_test)
        return pred

    def _cross_validate(self, ts: TrainingSet) -> None:
        if self._law_fits(ts.n):
            self._cross_validate_blend(ts)
        else:
            super()._cross_validate(ts)
        if self._trees and self.cv_spearman is not None:
            rounds = min(self.config.cv_trees, self.config.n_estimators)
            lr = min(1.0, self.config.learning_rate * self.config.n_estimators / rounds)
            self.cv_note += f"; CV models use {rounds} trees at learning rate {lr:g} (same trees x rate budget)"

    def cross_val_predict(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """``auto``: each fold fits both members once (no nested cross-validation); the blend weights for fold k
        are chosen from the members' predictions on the other folds' held-out runs (cross-validated stacking).
        Those predictions come from models that saw fold k's runs, which touches only the one-number choice of
        weights (shrunk half-way to equal), never the predictions themselves."""
        if self.config.model != "auto":
            return super().cross_val_predict(folds, fidelity, run)
        d = self.problem.d

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            mixer = self.fold_mixer()
            assert isinstance(mixer, RegMixMixer)
            mixer.fit(train)
            ts = mixer._require_fit()
            x = held_out_mixtures(test, d)
            trees = np.column_stack([b.predict(x) for b in mixer.boosters]) @ ts.coefs
            law = np.column_stack([law(x) for law in mixer.laws]) @ ts.coefs if mixer.laws else trees
            return np.column_stack([trees, law])

        members = run([partial(job, train, test) for train, test in folds])
        objective = self.problem.objective
        ys = [np.array([objective.value(o.metrics) for o in test], dtype=np.float64) for _, test in folds]
        out = []
        for k, pred in enumerate(members):
            others = [j for j in range(len(folds)) if j != k and len(ys[j])]
            oof = np.vstack([members[j] for j in others]) if others else None
            y = np.concatenate([ys[j] for j in others]) if others else np.zeros(0)
            w = choose_weights(("lightgbm", "mixing_law"), oof if oof is not None and len(y) >= 3 else None, y,
                               self.config.blend_shrink).weights
            out.append(np.asarray(pred @ w, dtype=np.float64))
        return out

    def _cross_validate_blend(self, ts: TrainingSet) -> None:
        """Out-of-fold predictions of both members on the same folds, then the blend weights (``auto``).

        Evidence for the defaults (``bench/replay/regmix_blend.py``): on the RegMix 1M test runs the blend beats
        both members at every training-set size from 32 to 512 (0.933 vs 0.890 / 0.907 at 32, 0.9918 vs 0.9904 /
        0.964 at 512), most at small sizes where the two err differently. Cross-validation at the training
        fidelity favours the trees (they are best at that scale: stacking gives them 0.84 on the 512 runs), while
        on the larger real runs the law ranks better (Spearman 0.986 vs 0.962 on 1B runs) and an
        equal blend beat both on a 39-domain swarm; so the stacking weights are shrunk half-way to equal weights
        (``blend_shrink``). The cost shows in the simulator, where the law does not transfer better: fitted on
        small runs of a 24-domain world, the blend ranks target-fidelity runs at 0.903 against LightGBM's 0.938
        (0.957 vs 0.948 at the small fidelity); ``blend_shrink: 0`` uses the cross-validated weights alone.
        """
        names = ("lightgbm", "mixing_law")
        fold = self._cv_folds(ts)
        if fold is None:
            self.blend = choose_weights(names, None, ts.y, self.config.blend_shrink)
            return
        oof = np.empty((ts.n, 2))
        for k in range(self.config.cv_folds):
            checkpoint()
            tr = fold != k
            sub = subset(ts, tr)
            oof[~tr, 0] = self._cv_predict(sub, ts.x[~tr])
            if sub.n >= self.problem.d + 2:
                laws = self._fit_laws(sub)
                oof[~tr, 1] = np.column_stack([law(ts.x[~tr]) for law in laws]) @ ts.coefs
            else:
                oof[~tr, 1] = oof[~tr, 0]
        self.blend = choose_weights(names, oof, ts.y, self.config.blend_shrink)
        self._fit_residual(ts, fold, oof @ self.blend.weights)
        self.cv_spearman = self.blend.blend_cv_spearman
        self.cv_note = f"{self.config.cv_folds}-fold, on {ts.n} distinct mixtures (the blend's out-of-fold ranking)"

    # -- recommendation --------------------------------------------------------------------------------

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        ts = self._require_fit()
        if (reused := self.reused_recommendation(fidelity)) is not None:
            return reused
        cfg = self.config
        rng = call_rng(self.seed, TAG_RECOMMEND, self.rng)
        sign = self.problem.objective.sign
        centers = None
        if cfg.candidate_centers:
            centers = ts.x[np.argsort(sign * ts.y, kind="stable")[: cfg.candidate_centers]]
        cands = dirichlet_candidates(rng, self.problem, cfg.n_candidates, min_feasible=cfg.top_k, centers=centers,
                                     local_strengths=CENTER_STRENGTHS if centers is not None else ())
        x = cands.mixtures
        prior = self.problem.prior()
        base = cfg.kl_to_prior * kl_to_prior(x, prior) if cfg.kl_to_prior > 0 else np.zeros(len(x))
        gap = self.scale_gap(fidelity)
        if gap != 0.0 and self.shift is not None:  # the requested fidelity's objective: the fit plus the shift
            base = base + sign * self.shift(x, gap)
        if self._trees:
            w_tree, w_law = self._blend_weights()
            if w_law > 0:
                base = base + sign * w_law * (np.column_stack([law(x) for law in self.laws]) @ ts.coefs)
            pairs = [(b, sign * w_tree * c) for b, c in zip(self.boosters, ts.coefs, strict=True)]
            top, _ = pruned_top_k(pairs, base, x, cfg.top_k)
        else:
            top = top_k_indices(base + sign * (self._predict_metrics(x) @ ts.coefs), cfg.top_k)
        lo, hi = self.problem.bounds()
        weights = project_to_bounds(x[top].mean(axis=0), lo, hi, families=self.problem.families)
        at_weights = self.predict(weights[None, :], fidelity)
        predicted = float(at_weights.mean[0])
        best_pred = self.predict(x[top[:1]], fidelity).mean[0]
        diag = self.base_diagnostics(fidelity)
        diag.update({
            "model": cfg.model,
            "n_candidates": cands.n_sampled,
            "n_candidates_feasible": cands.n_feasible,
            "candidates_projected": cands.projected,
            "top_k": len(top),
            "candidate_centers": 0 if centers is None else len(centers),
            "best_candidate_predicted": float(best_pred),
            "kl_of_recommendation": float(kl_to_prior(weights[None, :], prior)[0]),
        })
        if cfg.model == "auto":
            diag["blend"] = (self.blend.as_dict() if self.blend is not None else
                             {"weights": {"lightgbm": 1.0, "mixing_law": 0.0},
                              "method": f"LightGBM alone: the mixing law needs {self.problem.d + 2} distinct "
                                        f"mixtures, there are {ts.n}"})
        std = None if at_weights.std is None else float(at_weights.std[0])
        return Recommendation(weights=weights, predicted=predicted, std=std, diagnostics=diag)

    # -- active proposals ------------------------------------------------------------------------------

    def _n_scored(self) -> int:
        return self.config.active_candidates

    def _diversity(self) -> float:
        return self.config.active_diversity

    def _scorer(self, rng: np.random.Generator) -> Scorer | None:
        if not self.config.active or self.ts is None:
            return None
        return _ActiveScorer(self._ensemble(self.ts), self.problem.objective.sign, self.config.active_exploit,
                             self.config.active_plausibility)

    def _ensemble(self, ts: TrainingSet) -> list[Any]:
        """Members: functions ``(m, d) -> (m,)`` of the objective, varied by seed, bagging and features.

        LightGBM members subsample 80% of runs and features per tree; linear members refit on a bootstrap.
        """
        cfg = self.config
        base_rng = call_rng(self.seed, TAG_FIT, np.random.default_rng(0))
        members: list[Any] = []
        for i in range(cfg.ensemble_size):
            checkpoint()
            if self._trees:
                params, rounds = lgb_params(cfg, ts.n, _seed(self.seed) + 1 + i, trees=cfg.ensemble_trees)
                params.update({"bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8})
                bs = [fit_booster(ts.x, ts.metrics[:, j], self._monotone(params, ts.coefs[j]), rounds, False,
                                  self.features) for j in range(len(ts.coefs))]
                members.append(lambda x, bs=bs: sum(c * b.predict(x) for b, c in zip(bs, ts.coefs, strict=True)))
            else:
                rows = base_rng.integers(0, ts.n, ts.n)
                ms = [_fit_linear(self.features(ts.x[rows]), ts.metrics[rows, j], cfg.model, cfg.ridge_alpha)
                      for j in range(len(ts.coefs))]
                members.append(lambda x, ms=ms: sum(c * m.predict(self.features(x))
                                                    for m, c in zip(ms, ts.coefs, strict=True)))
        return members

    # -- what drives the objective ---------------------------------------------------------------------

    def domain_importance(self) -> DomainImportance | None:
        """Mean |SHAP value| of each domain over the training mixtures, from LightGBM's own TreeSHAP
        (``pred_contrib``), for the objective (metrics combined by their weights); with ``auto``'s law member,
        blended with the law's slope effect (:func:`mixers.importance.slope_effect`) by the blend weights.
        Linear and ridge models: the slope effect of their coefficients."""
        ts = self._require_fit()
        if not self._trees:
            coef = sum(c * np.asarray(m.coef_, dtype=np.float64) for m, c in zip(self.linear, ts.coefs, strict=True))
            return DomainImportance(slope_effect(lambda p: self.features.vjp(p, coef), ts.x), "linear_coefficients",
                                    f"|slope| as the domain's weight grows (from the {self.config.model} coefficients) "
                                    f"x sd of the domain's weight over the {ts.n} training mixtures")
        phi = self.features(ts.x)
        nf = self.features.n_features
        contrib = self.features.attribute(ts.x, sum(
            c * np.asarray(b.booster.predict(phi, pred_contrib=True, num_threads=NUM_THREADS))[:, :nf]
            for b, c in zip(self.boosters, ts.coefs, strict=True)))
        shap = np.abs(contrib).mean(axis=0)
        w_tree, w_law = self._blend_weights()
        detail = f"mean |SHAP value| (LightGBM pred_contrib) over the {ts.n} training mixtures"
        if w_law == 0:
            return DomainImportance(shap, "lightgbm_shap", detail)

        def law_grad(p: FloatArray) -> FloatArray:
            return np.asarray(sum(c * law.grad(p) for law, c in zip(self.laws, ts.coefs, strict=True)))

        law = slope_effect(law_grad, ts.x)
        return DomainImportance(w_tree * shap + w_law * law, "lightgbm_shap+law_slope",
                                f"{detail}, weighted {w_tree:.2f}, plus the mixing law's |slope| x sd of the weight, "
                                f"weighted {w_law:.2f} (the blend's weights)")
