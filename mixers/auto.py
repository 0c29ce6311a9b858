"""``auto``: mixopt's default answer, a choice of mixer by the shape of the project's runs (issue 28).

- Runs at two or more fidelities: ``mfbo``, the Gaussian process over mixture and log fidelity. It models how the
  objective changes with scale from the runs themselves, so its answer at a larger target fidelity is an
  extrapolation by a model fitted across fidelities, not the proxy scale's optimum carried over.
- Runs at one fidelity (or none): ``regmix`` with its default config (the cross-validated blend of LightGBM and
  the mixing law), which carries the proxy-scale ranking to the target (RegMix's assumption, stated in the
  answer's ``transfer``).

Evidence for the choice (``bench/results/lm/README.md``, real training on an H200, held-out target, 3 seeds): with
proxy runs at two GPT sizes, ``mfbo``'s answer beat uniform, the token-proportional mixture and the best proxy run
on 6 of 6 seed-size pairs at the middle (10.8M) and the largest (25.4M) size, while ``regmix`` with or without a
scale shift, and ``mixing_law``, lost to uniform at the largest size. With one fidelity no mixer here models the
shift, and ``regmix`` is the most accurate at the proxy scale (RegMix data: Spearman 0.99).

Every call delegates to the chosen mixer with its default config and the same seed, so the answer is exactly that
mixer's; the diagnostics say which was chosen and why (``auto``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mixers.base import FoldRunner, FoldSplits, MixerConfig, OfflineMixer, run_in_order
from mixers.mfbo import MFBOMixer
from mixers.registry import register
from mixers.regmix import RegMixMixer
from mixers.training import usable_observations
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
    """No settings: ``auto`` uses each mixer's defaults (name a mixer to configure it)."""


def choose(problem: Problem, observations: Sequence[Observation]) -> tuple[type[OfflineMixer], str]:
    """The mixer class ``auto`` delegates to for these runs, and why."""
    fids = {fidelity_key(o.fidelity) for o in usable_observations(observations, problem.objective)}
    if len(fids) >= 2:
        return MFBOMixer, (f"completed runs at {len(fids)} fidelities: mfbo's GP over mixture and log fidelity "
                           "models how the answer moves with scale")
    return RegMixMixer, ("completed runs at one fidelity" if fids else "no completed runs") + (
        ": regmix (the proxy-scale ranking carried to the target; runs at a second fidelity let auto use mfbo)")


@register
class AutoMixer(OfflineMixer):
    """Delegates to ``mfbo`` (runs at several fidelities) or ``regmix`` (one fidelity); see the module docstring."""

    name = "auto"
    description = (
        "mixopt's default: mfbo when the completed runs span two or more fidelities (a model of how the optimum "
        "moves with scale), else regmix; each with its default config"
    )
    Config = AutoConfig
    answers_without_runs: ClassVar[bool] = RegMixMixer.answers_without_runs

    def __init__(self, problem: Problem, config: MixerConfig | None = None, seed: int | None = None) -> None:
        super().__init__(problem, config, seed)
        self.inner: OfflineMixer = RegMixMixer(problem, None, seed)
        self.reason = "not fitted"

    def fit(self, observations: Sequence[Observation]) -> AutoMixer:
        cls, self.reason = choose(self.problem, observations)
        self.inner = cls(self.problem, None, self.seed)
        self.inner.fit(observations)
        return self

    def _auto(self) -> dict[str, Any]:
        return {"mixer": self.inner.name, "reason": self.reason}

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
        batch = self.inner.propose(n, fidelity, pending, candidates, fidelities)
        if isinstance(batch, ProposedBatch):
            return ProposedBatch(list(batch), {**batch.diagnostics, "auto": self._auto()})
        return batch

    def cross_val_predict(
        self, folds: FoldSplits, fidelity: Mapping[str, float] | None = None, run: FoldRunner = run_in_order
    ) -> list[FloatArray]:
        """Each fold's training runs choose the mixer, as a fit on them would."""
        train = [o for tr, _ in folds[:1] for o in tr]
        cls, _ = choose(self.problem, train)
        return cls(self.problem, None, self.seed).cross_val_predict(folds, fidelity, run)
