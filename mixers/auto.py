"""``auto``: mixopt's default answer, a choice of mixer by evidence from the project's own runs.

- Runs at two or more fidelities (at least ``MIN_TOP_RUNS`` at the largest): each candidate (``regmix``,
  ``mixing_law``, ``mfbo``, default configs) is scored on the question the answer at the target asks, one rung
  down: the runs of the largest fidelity are held out in folds, each candidate is fitted on everything else (the
  smaller rungs and the other folds) and predicts them at that fidelity; the best Spearman wins.
- Otherwise ``regmix`` with its default config, which carries the proxy-scale ranking to the target (RegMix's
  assumption, stated in the answer's ``transfer``).

Evidence. On the simulator (``bench/sim/scale.py``: 40 small + 14 medium proxy runs, answers trained at a
target 7x the parameters and 16x the tokens, 5 draws) ``auto``'s answer is 4.42% from the best known against
6.94% for uniform, 15.9% for natural and 8.12% for the best small run; always taking ``mfbo`` across fidelities
would give 16.98% (its GP extrapolates to a corner), always ``regmix`` 4.33%, ``mixing_law`` 2.46%. On real
training (``bench/results/lm/README.md``) the choice on the 54 proxy runs is ``regmix`` (Spearman 0.90 against
``mixing_law`` 0.82 and ``mfbo`` 0.67 on the held-out medium runs), whose answer beat uniform, natural and the best
proxy run on 3 of 3 seeds at the middle size; the largest size was not trained for it.

Feature sets (:mod:`mixers.features`): where the project's domains come in families (and, for the repetition feature,
its token counts are known), the chosen ``regmix`` or ``mixing_law`` also gets the feature set that ranks held-out runs
best: ``FOLDS``-fold over the distinct mixtures at its train fidelity, Spearman of the out-of-fold predictions of each
available set (:func:`choose_features`); a family-aware set must beat plain weights by ``FEATURE_MARGIN`` to be
chosen. Projects without families (nothing but ``weights`` available) skip this and answer exactly as before.

Every call delegates to the chosen mixer with its default config (but the chosen feature set) and the same seed, so the
answer is exactly that mixer's; the diagnostics say which was chosen, why, and the candidates' scores (``auto``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from mixers.base import FoldRunner, FoldSplits, MixerConfig, MixerError, OfflineMixer, run_in_order
from mixers.features import FeatureSet, available_feature_sets
from mixers.mfbo import MFBOMixer
from mixers.mixing_law import MixingLawMixer
from mixers.proposals import ProposalRecipe, proposal_fidelity, propose_runs
from mixers.registry import register
from mixers.regmix import RegMixMixer
from mixers.reuse import ReuseConfig, ReuseSpace
from mixers.single_fidelity import SingleFidelityMixer
from mixers.training import (
    fidelity_size,
    group_replicates,
    kfold_indices,
    safe_spearman,
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
    ProposedRun,
    Recommendation,
    fidelity_key,
)


class AutoConfig(MixerConfig):
    """``auto`` uses each mixer's defaults (name a mixer to configure it); ``reuse`` alone passes through."""

    reuse: ReuseConfig | None = Field(
        None, description="proposals after a domain-set change: keep these frozen ratios as one virtual domain and "
        "vary only its total and the free domains (mixers/reuse.py); passed to the chosen mixer",
    )


CANDIDATES: tuple[type[OfflineMixer], ...] = (RegMixMixer, MixingLawMixer, MFBOMixer)
FEATURE_MARGIN = 0.01  # Spearman a family-aware feature set must gain over plain weights to be chosen
MIN_TOP_RUNS = 5  # runs at the top rung needed to score the candidates on them
FOLDS = 5


def score_across_scale(
    problem: Problem, observations: Sequence[Observation], seed: int | None
) -> tuple[dict[str, float | None], int] | None:
    """How well each candidate ranks the runs of the largest fidelity it did not see: ``FOLDS``-fold over those
    runs, each fold's model fitted on every other run (the smaller rungs and the other folds), Spearman of the
    held-out predictions at that fidelity. None with fewer than two fidelities or ``MIN_TOP_RUNS`` runs at the
    largest. This is the question the answer at the target asks, one rung down."""
    usable = usable_observations(observations, problem.objective)
    keys = {fidelity_key(o.fidelity): o.fidelity for o in usable}
    if len(keys) < 2:
        return None
    top_key = max(keys, key=lambda k: fidelity_size(keys[k]))
    top = [o for o in usable if fidelity_key(o.fidelity) == top_key]
    rest = [o for o in usable if fidelity_key(o.fidelity) != top_key]
    if len(top) < MIN_TOP_RUNS:
        return None
    fold = kfold_indices(len(top), min(FOLDS, len(top)), np.random.default_rng(0 if seed is None else seed))
    actual = np.array([problem.objective.value(o.metrics) for o in top], dtype=np.float64)
    x = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in top])
    scores: dict[str, float | None] = {}
    for cls in CANDIDATES:
        pred = np.full(len(top), np.nan)
        for k in range(int(fold.max()) + 1):
            train = rest + [o for o, f in zip(top, fold, strict=True) if f != k]
            mixer = cls(problem, None, seed)
            if isinstance(mixer, SingleFidelityMixer):
                mixer.diagnose = False  # the cross-validated diagnostics are not needed here
            try:
                pred[fold == k] = mixer.fit(train).predict(x[fold == k], keys[top_key]).mean
            except MixerError:
                break
        scores[cls.name] = safe_spearman(pred, actual) if np.isfinite(pred).all() else None
    return scores, len(top)


def choose(
    problem: Problem, observations: Sequence[Observation], seed: int | None = None
) -> tuple[type[OfflineMixer], str, dict[str, float | None] | None]:
    """The mixer class ``auto`` delegates to for these runs, why, and the candidates' scores across scale."""
    scored = score_across_scale(problem, observations, seed)
    if scored is None:
        fids = {fidelity_key(o.fidelity) for o in usable_observations(observations, problem.objective)}
        why = ("no completed runs" if not fids else "completed runs at one fidelity" if len(fids) == 1 else
               f"fewer than {MIN_TOP_RUNS} runs at the largest fidelity to compare the mixers on")
        return RegMixMixer, f"{why}: regmix (the proxy-scale ranking carried to the target)", None
    scores, n_top = scored
    ranked = sorted((v, k) for k, v in scores.items() if v is not None)
    if not ranked:
        return RegMixMixer, "no candidate ranked the largest fidelity's runs: regmix", scores
    best = ranked[-1][1]
    cls = next(c for c in CANDIDATES if c.name == best)
    return cls, (f"ranks the {n_top} runs at the largest fidelity best when they are held out (Spearman "
                 + ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} n/a" for k, v in scores.items()) + ")"), scores


def choose_features(
    problem: Problem, observations: Sequence[Observation], cls: type[OfflineMixer], seed: int | None
) -> tuple[FeatureSet, dict[str, float | None] | None]:
    """The feature set for ``cls`` (a single-fidelity mixer) and each available set's out-of-fold Spearman at the
    train fidelity (None when only ``weights`` is available, ``cls`` takes no features, or too few runs)."""
    sets = available_feature_sets(problem)
    if len(sets) < 2 or not issubclass(cls, SingleFidelityMixer):
        return "weights", None
    usable = usable_observations(observations, problem.objective)
    groups: dict[str, list[Observation]] = {}
    for o in usable:
        groups.setdefault(fidelity_key(o.fidelity), []).append(o)
    if not groups:
        return "weights", None
    runs = max(groups.values(), key=len)  # the default train fidelity: the most completed runs
    x = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in runs])
    mixture = group_replicates(x)
    n_mix = int(mixture.max()) + 1
    if n_mix < 2 * FOLDS:
        return "weights", None
    fold_of_mixture = kfold_indices(n_mix, FOLDS, np.random.default_rng(0 if seed is None else seed))
    fold = fold_of_mixture[mixture]
    folds = [([o for o, f in zip(runs, fold, strict=True) if f != k], [o for o, f in zip(runs, fold, strict=True)
                                                                          if f == k]) for k in range(FOLDS)]
    actual = np.concatenate([[problem.objective.value(o.metrics) for o in test] for _, test in folds])
    scores: dict[str, float | None] = {}
    for fs in sets:
        mixer = cls(problem, cls.Config.model_validate({"features": fs}), seed)
        try:
            pred = np.concatenate(mixer.cross_val_predict(folds))
        except MixerError:
            scores[fs] = None
            continue
        scores[fs] = safe_spearman(pred, actual.astype(np.float64)) if np.isfinite(pred).all() else None
    best: FeatureSet = "weights"
    base = scores.get("weights")
    for fs in sets[1:]:
        v, cur = scores.get(fs), scores.get(best)
        if v is not None and (cur is None or v > cur) and (base is None or v >= base + FEATURE_MARGIN):
            best = fs
    return best, scores


def configured(
    cls: type[OfflineMixer], features: FeatureSet, problem: Problem, seed: int | None,
    extra: Mapping[str, Any] | None = None,
) -> OfflineMixer:
    """``cls`` with its default config, but ``features`` when that is not plain weights, and the ``extra`` values
    (``auto``'s ``reuse``)."""
    values = dict(extra or {})
    if features != "weights":
        values["features"] = features
    return cls(problem, cls.Config.model_validate(values) if values else None, seed)


@register
class AutoMixer(OfflineMixer):
    """Delegates to the mixer :func:`choose` picks for the runs it is fitted on; see the module docstring."""

    name = "auto"
    description = (
        "mixopt's default: with runs at two or more fidelities, the one of regmix, mixing_law and mfbo that best "
        "ranks the largest fidelity's runs when they are held out; else regmix; each with its default config"
    )
    Config = AutoConfig
    answers_without_runs: ClassVar[bool] = RegMixMixer.answers_without_runs

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.inner: OfflineMixer = configured(RegMixMixer, "weights", problem, seed, self._inner_config(RegMixMixer))
        self.observations: list[Observation] = []
        self.reason = "not fitted"
        self.scores: dict[str, float | None] | None = None
        self.features: FeatureSet = "weights"
        self.feature_scores: dict[str, float | None] | None = None

    def fit(self, observations: Sequence[Observation]) -> AutoMixer:
        cls, self.reason, self.scores = choose(self.problem, observations, self.seed)
        self.features, self.feature_scores = choose_features(self.problem, observations, cls, self.seed)
        self.inner = configured(cls, self.features, self.problem, self.seed, self._inner_config(cls))
        self.inner.fit(observations)
        self.observations = list(observations)
        return self

    def _inner_config(self, cls: type[OfflineMixer]) -> dict[str, Any]:
        """Config values for the chosen mixer: ``reuse`` where it takes one (the single-fidelity mixers)."""
        reuse = getattr(self.config, "reuse", None)
        if reuse is None or not issubclass(cls, SingleFidelityMixer):
            return {}
        return {"reuse": reuse.model_dump()}

    def _auto(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mixer": self.inner.name, "reason": self.reason, "spearman_one_rung_up": self.scores}
        if self.feature_scores is not None:
            out["features"] = self.features
            out["features_cv_spearman"] = self.feature_scores
        return out

    def predict(self, mixtures: FloatArray, fidelity: Mapping[str, float] | None = None) -> Predictions:
        return self.inner.predict(mixtures, fidelity)

    def recommend(self, fidelity: Mapping[str, float] | None = None) -> Recommendation:
        rec = self.inner.recommend(fidelity)
        return Recommendation(weights=rec.weights, predicted=rec.predicted, std=rec.std,
                              diagnostics={**rec.diagnostics, "auto": self._auto()})

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        return self.inner.fidelity_answer(fidelity)

    def takes_default_fidelities(self) -> bool:
        return self.inner.takes_default_fidelities()

    def propose(
        self,
        n: int,
        fidelity: Mapping[str, float] | None = None,
        pending: Sequence[PendingRun] = (),
        candidates: FloatArray | None = None,
        fidelities: Sequence[Mapping[str, float]] | None = None,
    ) -> list[ProposedRun]:
        reuse = getattr(self.config, "reuse", None)
        batch: list[ProposedRun]
        if reuse is not None and not isinstance(self.inner, SingleFidelityMixer):
            # a mixer without reuse of its own (mfbo): random proposals in the reuse space
            space = ReuseSpace.build(self.problem, reuse.frozen, reuse.free)
            rng = np.random.default_rng(self.seed)
            fid = proposal_fidelity(self.problem, fidelity, fidelities, None)
            reused = propose_runs(self.problem, rng, n, fid, self.observations, pending, candidates, ProposalRecipe(),
                                  space=space)
            reused.diagnostics["reuse"].update({"from_version": reuse.from_version, "source": reuse.source})
            batch = reused
        else:
            batch = self.inner.propose(n, fidelity, pending, candidates, fidelities)
        if isinstance(batch, ProposedBatch):
            return ProposedBatch(list(batch), {**batch.diagnostics, "auto": self._auto()})
        return batch

    def cross_val_predict(
        self, folds: FoldSplits, fidelity: Mapping[str, float] | None = None, run: FoldRunner = run_in_order
    ) -> list[FloatArray]:
        """Each fold's training runs choose the mixer, as a fit on them would."""
        train = [o for tr, _ in folds[:1] for o in tr]
        cls, _, _ = choose(self.problem, train, self.seed)
        features, _ = choose_features(self.problem, train, cls, self.seed)
        return configured(cls, features, self.problem, self.seed).cross_val_predict(folds, fidelity, run)

    def cross_val_predictions(
        self, folds: FoldSplits, fidelity: Mapping[str, float] | None = None, run: FoldRunner = run_in_order
    ) -> list[Predictions]:
        """As :meth:`cross_val_predict`, with the chosen mixer's held-out sd."""
        train = [o for tr, _ in folds[:1] for o in tr]
        cls, _, _ = choose(self.problem, train, self.seed)
        features, _ = choose_features(self.problem, train, cls, self.seed)
        return configured(cls, features, self.problem, self.seed).cross_val_predictions(folds, fidelity, run)

    def std_meaning(self) -> str:
        return f"from {self.inner.name}, the mixer auto chose: {self.inner.std_meaning()}"
