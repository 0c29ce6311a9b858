"""A base class for offline mixers that fit on the runs of one fidelity and transfer the answer to the
requested one (``regmix``, ``mixing_law``): fit, cross-validation, predict, propose."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

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
from mixers.features import FeatureMap, FeatureSet
from mixers.proposals import PositiveFloat, ProposalRecipe, Scorer, proposal_fidelity, propose_runs
from mixers.reuse import ReuseConfig, ReuseSpace, recommend_in_space
from mixers.scale_shift import ScaleShift, fit_scale_shift, log_compute_gap
from mixers.training import (
    TAG_CV,
    TAG_PROPOSE,
    TAG_RECOMMEND,
    TrainingSet,
    build_training_set,
    call_rng,
    fidelity_note,
    kfold_indices,
    safe_spearman,
    subset,
    usable_observations,
)
from mixers.types import (
    FidelityAnswer,
    FloatArray,
    Observation,
    PendingRun,
    Predictions,
    Problem,
    ProposedBatch,
    Recommendation,
    fidelity_key,
)
from mixers.uncertainty import ResidualModel, fold_distances, nearest_distance


class SingleFidelityConfig(MixerConfig):
    """Config fields shared by the offline mixers that fit on one fidelity."""

    train_fidelity: dict[str, PositiveFloat] | None = Field(
        None, description="fit on the runs at this fidelity (default: the fidelity with the most completed runs)"
    )
    kl_to_prior: float = Field(0.0, ge=0, le=MAX_PENALTY, description="lambda in predicted + lambda * KL(p || prior)")
    cv_folds: int = Field(5, ge=2, le=20, description="folds of the cross-validated Spearman in the diagnostics")
    proposal_temperature: float = Field(0.5, gt=0, le=1, description="prior tempering of the RegMix recipe")
    proposal_strength_min: float = Field(0.1, gt=0, le=1000, description="Dirichlet strengths of the recipe, from")
    proposal_strength_max: float = Field(5.0, gt=0, le=1000, description="to (log-spaced)")
    proposal_n_strengths: int = Field(15, ge=1, le=100)
    proposal_min_weight: float = Field(2e-4, ge=0, lt=0.5, description="weights under this are zeroed")
    proposal_uniform_share: float = Field(
        0.0, ge=0, le=1, description="share of the recipe's draws centred on the uniform mixture instead of the "
        "tempered prior (0: RegMix's recipe)"
    )
    features: FeatureSet = Field(
        "weights",
        description="what the model regresses on (mixers/features.py): weights (default); families: plus each "
        "family's total weight; families+epochs: plus the share of training tokens repetition wastes at the "
        "target (needs every domain's tokens and the target's tokens). auto chooses among those the project "
        "supports by cross-validation",
    )
    scale_transfer: Literal["assume", "shift"] = Field(
        "assume",
        description="how answers reach a fidelity other than the train fidelity: assume (default): the "
        "train-fidelity fit is carried over unchanged (RegMix's rank-invariance assumption); shift: when at least "
        "d + 2 runs sit at other fidelities, a model of how the objective's mixture dependence moves with "
        "log-compute (mixers/scale_shift.py) is fitted on them and applied. On real training (bench.lm.scale) "
        "the shift did not beat assume; for runs at several fidelities use mfbo or auto",
    )
    reuse: ReuseConfig | None = Field(
        None, description="proposals after a domain-set change: keep these frozen ratios as one virtual domain and "
        "vary only its total and the free domains (mixers/reuse.py)",
    )

    def recipe(self) -> ProposalRecipe:
        lo, hi = sorted((self.proposal_strength_min, self.proposal_strength_max))
        return ProposalRecipe(self.proposal_temperature, lo, hi, self.proposal_n_strengths, self.proposal_min_weight,
                              self.proposal_uniform_share)


class SingleFidelityMixer(OfflineMixer):
    """An offline mixer fitted on the runs of one fidelity (DESIGN 4.1 "Scale").

    Subclasses implement ``_fit_model(ts)`` (store whatever they need), ``_predict_metrics(x) -> (m, k)``
    and ``recommend``; they may override ``_scorer`` for active proposals and ``_cv_predict`` for the
    cross-validated diagnostics. ``min_runs`` is the number of distinct mixtures the model needs.
    """

    config: SingleFidelityConfig
    cv_max_runs = 2000

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        try:
            self.features = FeatureMap.build(problem, self.config.features)
        except ValueError as exc:
            raise MixerError(str(exc)) from exc
        self.ts: TrainingSet | None = None
        self.observations: list[Observation] = []
        self.cv_spearman: float | None = None
        self.cv_note = ""
        self.shift: ScaleShift | None = None
        self.shift_note = ""
        self.diagnose = True  # False: fit skips the cross-validated diagnostics (evaluation folds)
        self.residual: ResidualModel | None = None  # the predictive sd, from the out-of-fold residuals
        # per fidelity key other than the train fidelity: the sd of the fit carried there, from the runs there
        self.transfer_sd: dict[str, ResidualModel] = {}

    # subclass hooks --------------------------------------------------------------------------------

    @property
    def min_runs(self) -> int:
        return 3

    @abstractmethod
    def _fit_model(self, ts: TrainingSet) -> None:
        """Fit on ``ts`` (called only when ``ts.n >= min_runs``)."""

    @abstractmethod
    def _predict_metrics(self, x: FloatArray) -> FloatArray:
        """Per-metric predictions ``(m, k)`` for mixtures ``(m, d)`` from the fitted model."""

    def _cv_predict(self, train: TrainingSet, x_test: FloatArray) -> FloatArray:
        """Objective predictions ``(m,)`` of a model fitted on ``train`` (default: refit a copy)."""
        clone = type(self)(self.problem, self.config, self.seed)
        clone._fit_model(train)
        return clone._predict_metrics(x_test) @ train.coefs

    def _scorer(self, rng: np.random.Generator) -> Scorer | None:
        """Acquisition for proposals (higher = run it sooner); None = random proposals."""
        return None

    def _n_scored(self) -> int:
        """Recipe draws scored per batch when ``_scorer`` is set."""
        return 2048

    def _diversity(self) -> float:
        """Penalty length of :func:`diverse_top` for scored batches."""
        return 1.0

    def _objective_at_train(self, x: FloatArray) -> FloatArray:
        """The objective ``(m,)`` the fitted model predicts at the train fidelity for mixtures ``(m, d)``."""
        ts = self._require_fit()
        return np.asarray(self._predict_metrics(x) @ ts.coefs, dtype=np.float64)

    # the interface -----------------------------------------------------------------------------------

    def fit(self, observations: Sequence[Observation]) -> SingleFidelityMixer:
        self._fit_train_fidelity(observations)
        self.shift, self.shift_note = self._fit_shift(observations)
        self.transfer_sd = self._fit_transfer_sd(observations)
        return self

    def _fit_transfer_sd(self, observations: Sequence[Observation]) -> dict[str, ResidualModel]:
        """Per other fidelity with enough completed runs: a residual model of this fit's answers there (the train
        fit, carried over or shifted), fitted on those runs' residuals. The train fit never saw them, so they are
        held out for it (the scale shift, when used, was fitted on them)."""
        ts = self.ts
        if ts is None or ts.n < self.min_runs or ts.fidelity is None:
            return {}
        objective = self.problem.objective
        train_key = fidelity_key(ts.fidelity)
        groups: dict[str, list[Observation]] = {}
        for o in usable_observations(observations, objective):
            key = fidelity_key(o.fidelity)
            if key != train_key:
                groups.setdefault(key, []).append(o)
        out: dict[str, ResidualModel] = {}
        for key, runs in groups.items():
            x = held_out_mixtures(runs, self.problem.d)
            y = np.array([_value(objective.value(o.metrics)) for o in runs])
            mean = self._mean(x, runs[0].fidelity)
            model = ResidualModel.fit(y - mean, nearest_distance(x, ts.x))
            if model is not None:
                out[key] = model
        return out

    def _mean(self, x: FloatArray, fidelity: Mapping[str, float] | None) -> FloatArray:
        """The predicted objective ``(m,)`` at ``fidelity`` for mixtures ``(m, d)`` (the fit, shifted if it applies)."""
        mean = self._objective_at_train(x)
        gap = self.scale_gap(fidelity)
        if gap != 0.0 and self.shift is not None:
            mean = mean + self.shift(x, gap)
        return mean

    def _fit_train_fidelity(self, observations: Sequence[Observation]) -> None:
        """Fit the model on the runs of the train fidelity (and its cross-validated diagnostics)."""
        self.observations = list(observations)
        self.ts = build_training_set(self.problem, observations, self.config.train_fidelity)
        self.cv_spearman = None
        self.residual = None
        if self.ts.n >= self.min_runs:
            self._fit_model(self.ts)
            if self.diagnose:
                self._cross_validate(self.ts)
            else:
                self.cv_note = "skipped: fitted for an evaluation fold"
        else:
            self.cv_note = f"not fitted: {self.ts.n} distinct mixtures, need {self.min_runs}"

    def _fit_shift(self, observations: Sequence[Observation]) -> tuple[ScaleShift | None, str]:
        """The scale shift (``mixers.scale_shift``) from the runs at other fidelities than the train one."""
        ts = self.ts
        if self.config.scale_transfer != "shift":
            return None, "scale_transfer is 'assume': the train-fidelity fit is carried over unchanged"
        if ts is None or ts.n < self.min_runs or ts.fidelity is None:
            return None, "no fit at the train fidelity"
        objective = self.problem.objective
        rows: list[tuple[FloatArray, float, float]] = []
        for o in usable_observations(observations, objective):
            gap = log_compute_gap(o.fidelity, ts.fidelity)
            value = objective.value(o.metrics)
            if gap is not None and abs(gap) > 1e-9 and value is not None:
                rows.append((np.asarray(o.weights, dtype=np.float64), gap, value))
        need = self.problem.d + 2
        if len(rows) < need:
            return None, (f"{len(rows)} completed runs at other fidelities than the train fidelity; the scale "
                          f"shift needs {need}: answers elsewhere assume the ranking holds across scale")
        x = np.vstack([r[0] for r in rows])
        gaps = np.array([r[1] for r in rows])
        resid = np.array([r[2] for r in rows]) - self._objective_at_train(x)
        shift = fit_scale_shift(x, gaps, resid)
        if shift is None:
            return None, "the scale shift could not be fitted"
        return shift, (f"fitted on {shift.runs} runs at other fidelities (log-compute gaps "
                       f"{', '.join(f'{g:+.2f}' for g in shift.gaps)}) against the train fidelity's model")

    def scale_gap(self, fidelity: Mapping[str, float] | None) -> float:
        """Log-compute gap from the train fidelity to ``fidelity`` (default: the target) when the scale shift
        applies there, else 0 (the train-fidelity answer)."""
        requested = fidelity if fidelity is not None else self.problem.target_fidelity
        ts = self.ts
        if self.shift is None or requested is None or ts is None or ts.fidelity is None:
            return 0.0
        gap = log_compute_gap(requested, ts.fidelity)
        return 0.0 if gap is None else gap

    def _cv_folds(self, ts: TrainingSet) -> NDArray[np.intp] | None:
        """Fold id ``(n,)`` of each row for the cross-validated diagnostics, or None (``cv_note`` says why)."""
        folds = self.config.cv_folds
        if ts.n > self.cv_max_runs:
            self.cv_note = f"skipped: more than {self.cv_max_runs} runs"
            return None
        if ts.n < 2 * folds or ts.n - math.ceil(ts.n / folds) < self.min_runs:
            self.cv_note = f"skipped: {ts.n} distinct mixtures are too few for {folds} folds"
            return None
        return kfold_indices(ts.n, folds, call_rng(self.seed, TAG_CV, np.random.default_rng(0)))

    def _cross_validate(self, ts: TrainingSet) -> None:
        fold = self._cv_folds(ts)
        if fold is None:
            return
        folds = self.config.cv_folds
        pred = np.empty(ts.n)
        for k in range(folds):
            checkpoint()
            tr = fold != k
            pred[~tr] = self._cv_predict(subset(ts, tr), ts.x[~tr])
        self.cv_spearman = safe_spearman(pred, ts.y)
        self.cv_note = f"{folds}-fold, on {ts.n} distinct mixtures"
        self._fit_residual(ts, fold, pred)

    def _fit_residual(self, ts: TrainingSet, fold: NDArray[np.intp], pred: FloatArray) -> None:
        """The residual model of the predictive sd (:mod:`mixers.uncertainty`) from the out-of-fold predictions
        ``pred`` ``(n,)`` of the cross-validated diagnostics, ``fold`` ``(n,)`` the fold of each row."""
        self.residual = ResidualModel.fit(ts.y - pred, fold_distances(ts.x, fold))

    def std_meaning(self) -> str:
        if self.residual is None:
            why = self.cv_note or "no cross-validation"
            return f"no std: it comes from the cross-validated residuals, and there are none ({why})"
        return (f"1 sd of the predictive distribution of a new run's objective: at the train fidelity a residual "
                f"model fitted on {self.residual.n} out-of-fold residuals ({self.config.cv_folds}-fold), growing with "
                "the distance to the nearest training mixture, its scale calibrated so that the out-of-fold 68% and "
                "95% intervals cover 68% and 95%; at another fidelity with completed runs, the same model fitted on "
                "the residuals of the answers carried there (those runs were not fitted on); at a fidelity without "
                "runs it does not include the change of scale")

    def fold_mixer(self) -> SingleFidelityMixer:
        """A fresh mixer of this class, config and seed that skips the diagnostics (an evaluation fold)."""
        mixer = type(self)(self.problem, self.config, self.seed)
        mixer.diagnose = False
        return mixer

    def cross_val_predict(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """As :meth:`OfflineMixer.cross_val_predict`, without each fold's own cross-validated diagnostics (an
        evaluation needs predictions only; the diagnostics were most of a fit's time)."""

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            return self.fold_mixer().fit(train).predict(held_out_mixtures(test, self.problem.d), fidelity).mean

        return run([partial(job, train, test) for train, test in folds])

    def cross_val_predictions(
        self,
        folds: FoldSplits,
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[Predictions]:
        """:meth:`cross_val_predict`'s means; the sd of fold k's runs from the residual model a fit builds
        (:meth:`_fit_residual`), fitted here on the other folds' out-of-fold residuals (fold k's own outcomes are
        never used for its sd; the other folds' models saw fold k's runs, as the auto blend's weights do)."""
        means = self.cross_val_predict(folds, fidelity, run)
        d = self.problem.d
        objective = self.problem.objective
        xs = [held_out_mixtures(test, d) for _, test in folds]
        dist = [nearest_distance(x, held_out_mixtures(train, d)) for x, (train, _) in zip(xs, folds, strict=True)]
        resid = [np.array([_value(objective.value(o.metrics)) for o in test]) - m
                 for (_, test), m in zip(folds, means, strict=True)]
        out = []
        for k, mean in enumerate(means):
            others = [j for j in range(len(folds)) if j != k]
            model = ResidualModel.fit(np.concatenate([resid[j] for j in others] or [np.zeros(0)]),
                                      np.concatenate([dist[j] for j in others] or [np.zeros(0)]))
            out.append(Predictions(mean=mean, std=None if model is None else model.std(dist[k])))
        return out

    def _require_fit(self) -> TrainingSet:
        ts = self.ts
        if ts is None:
            raise MixerError("the mixer is not fitted; call fit first")
        if ts.n < self.min_runs:
            where = fidelity_key(ts.fidelity) if ts.fidelity is not None else "any fidelity"
            raise MixerError(
                f"{self.name} needs at least {self.min_runs} completed runs with distinct mixtures at the train "
                f"fidelity ({where or '{}'}); it has {ts.n}"
            )
        return ts

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        ts = self._require_fit()
        x = np.atleast_2d(np.asarray(mixtures, dtype=np.float64))
        if x.shape[1] != self.problem.d:
            raise MixerError(f"mixtures must have {self.problem.d} columns, got {x.shape[1]}")
        mean = self._mean(x, fidelity)
        requested = fidelity if fidelity is not None else self.problem.target_fidelity
        sd_model = self.residual
        if requested is not None and ts.fidelity is not None and fidelity_key(requested) != fidelity_key(ts.fidelity):
            sd_model = self.transfer_sd.get(fidelity_key(requested), sd_model)
        std = None if sd_model is None else sd_model.std(nearest_distance(x, ts.x))
        return Predictions(mean=mean, std=std)

    def reused_recommendation(self, fidelity: Mapping[str, float] | None = None) -> Recommendation | None:
        """With config ``reuse``: the recommendation searched in the reuse space only (the frozen block's total and
        the free domains; ``mixers.reuse.recommend_in_space``), which bench/sim/reuse.py and
        bench/replay/regmix_reuse.py measured no worse than the full space in 4 of 5 settings; else ``None``."""
        reuse = self.config.reuse
        if reuse is None:
            return None
        space = ReuseSpace.build(self.problem, reuse.frozen, reuse.free)
        rec = recommend_in_space(self, space, call_rng(self.seed, TAG_RECOMMEND, self.rng), fidelity)
        diag = {**self.base_diagnostics(fidelity), **rec.diagnostics}
        diag["reuse"] = {**diag["reuse"], "from_version": reuse.from_version, "source": reuse.source}
        return Recommendation(weights=rec.weights, predicted=rec.predicted, std=rec.std, diagnostics=diag)

    def base_diagnostics(self, fidelity: Mapping[str, float] | None) -> dict[str, Any]:
        ts = self._require_fit()
        return {
            "runs_used": ts.runs_used,
            "distinct_mixtures": ts.n,
            "train_fidelity": ts.fidelity,
            "train_fidelity_reason": ts.fidelity_reason,
            "requested_fidelity": dict(fidelity) if fidelity is not None else self.problem.target_fidelity,
            "fidelity_note": fidelity_note(ts.fidelity, fidelity if fidelity is not None
                                          else self.problem.target_fidelity),
            "cv_spearman": self.cv_spearman,
            "cv_note": self.cv_note,
            "replicate_noise_std": ts.noise_std,
            "residual_model": None if self.residual is None else self.residual.describe(),
            "transfer_residual_models": {k: m.describe() for k, m in self.transfer_sd.items()},
            "kl_to_prior": self.config.kl_to_prior,
            "scale_shift": {
                "used": self.scale_gap(fidelity) != 0.0,
                "log_compute_gap": self.scale_gap(fidelity),
                "note": self.shift_note,
                **({} if self.shift is None else self.shift.summary(self.problem.names)),
            },
        }

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """``observed`` when the requested (default: target) fidelity is the train fidelity; ``extrapolated`` when
        the scale shift carries the fit there; else ``assumed``: the fit on the train fidelity is carried over
        unchanged (ranks assumed to hold across scale)."""
        ts = self._require_fit()
        requested = fidelity if fidelity is not None else self.problem.target_fidelity
        train = dict(ts.fidelity or {})
        if requested is None:
            return FidelityAnswer(train, "observed", "no target fidelity: the answer is for the train fidelity")
        fid = {str(k): float(v) for k, v in requested.items()}
        if fidelity_key(fid) == fidelity_key(train):
            return FidelityAnswer(fid, "observed", fidelity_note(train, fid))
        gap = self.scale_gap(fid)
        if gap != 0.0:
            return FidelityAnswer(fid, "extrapolated", (
                f"fitted on the runs at {fidelity_key(train)}, shifted to {fidelity_key(fid)} by the scale shift "
                f"({gap:+.2f} in log-compute; {self.shift_note})"))
        return FidelityAnswer(fid, "assumed", fidelity_note(train, fid))

    def propose(
        self,
        n: int,
        fidelity: Mapping[str, float] | None = None,
        pending: Sequence[PendingRun] = (),
        candidates: FloatArray | None = None,
        fidelities: Sequence[Mapping[str, float]] | None = None,
    ) -> ProposedBatch:
        rng = call_rng(self.seed, TAG_PROPOSE, self.rng)
        train_fid = self.ts.fidelity if self.ts is not None else None
        fid = proposal_fidelity(self.problem, fidelity, fidelities, train_fid)
        fitted = self.ts is not None and self.ts.n >= self.min_runs
        scorer = self._scorer(rng) if fitted else None
        reuse = self.config.reuse
        space = None if reuse is None else ReuseSpace.build(self.problem, reuse.frozen, reuse.free)
        batch = propose_runs(self.problem, rng, n, fid, self.observations, pending, candidates,
                             self.config.recipe(), scorer, self._n_scored(), self._diversity(), space)
        if reuse is not None:
            batch.diagnostics["reuse"].update({"from_version": reuse.from_version, "source": reuse.source})
        return batch


def _value(v: float | None) -> float:
    return float("nan") if v is None else float(v)
