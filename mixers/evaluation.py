"""Cross-validation of an offline mixer on completed runs: pure numerics behind ``POST .../evaluations``.

:func:`cross_validate` picks the runs of one fidelity (the same choice :func:`mixers.training.choose_train_fidelity`
makes for fitting), splits them into seeded folds, asks the mixer for out-of-fold predictions
(:meth:`mixers.base.OfflineMixer.cross_val_predict`, where mixers share work between folds) and scores them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from mixers.base import FoldRunner, MixerError, OfflineMixer, run_in_order
from mixers.training import choose_train_fidelity, usable_observations
from mixers.types import FloatArray, Objective, Observation, fidelity_key
from mixers.uncertainty import coverage


@dataclass(frozen=True)
class Folds:
    """The runs cross-validated (``n``; ``index``: their positions in the input), their objective values
    ``actual`` ``(n,)`` and the fold of each ``(n,)``."""

    runs: list[Observation]
    index: list[int]
    fidelity: dict[str, float]
    actual: FloatArray
    fold_of: NDArray[np.intp]

    def splits(self) -> list[tuple[list[Observation], list[Observation]]]:
        """``(training runs, held-out runs)`` per fold."""
        k = int(self.fold_of.max()) + 1 if len(self.fold_of) else 0
        return [
            ([o for o, f in zip(self.runs, self.fold_of, strict=True) if f != i],
             [o for o, f in zip(self.runs, self.fold_of, strict=True) if f == i])
            for i in range(k)
        ]


@dataclass(frozen=True)
class FoldScore:
    """One fold's held-out runs (``n``) scored as :func:`score` scores them all."""

    fold: int
    n: int
    spearman: float | None
    mae: float | None
    regret: float | None


@dataclass(frozen=True)
class Scores:
    """Out-of-fold predictions ``(n,)`` (NaN where a fold gave none) and their accuracy against the truth.

    Set by :func:`cross_validate` only: ``std`` ``(n,)`` the held-out predictive sd (None when the mixer gives
    none), ``coverage`` of its 68% and 95% intervals, ``folds`` scored one by one, and the standard errors of the
    mean per-fold Spearman and MAE (sd over folds / sqrt(folds))."""

    predicted: FloatArray
    spearman: float | None
    mae: float | None
    regret: float | None
    std: FloatArray | None = None
    coverage: dict[str, float | None] = field(default_factory=lambda: {"68": None, "95": None})
    folds: list[FoldScore] = field(default_factory=list)
    spearman_se: float | None = None
    mae_se: float | None = None


def make_folds(
    observations: Sequence[Observation],
    objective: Objective,
    folds: int,
    seed: int,
    fidelity: Mapping[str, float] | None = None,
) -> Folds:
    """The completed runs at ``fidelity`` (default: the fidelity with the most runs) split into ``folds`` folds.

    Raises :class:`MixerError` when there are fewer runs than folds.
    """
    usable = usable_observations(observations, objective)
    chosen, _ = choose_train_fidelity(usable, fidelity)
    key = fidelity_key(chosen or {})
    usable_ids = {id(o) for o in usable}
    index = [i for i, o in enumerate(observations) if id(o) in usable_ids and fidelity_key(o.fidelity) == key]
    runs = [observations[i] for i in index]
    if len(runs) < folds:
        raise MixerError(f"{len(runs)} completed runs at fidelity {key!r}; need at least {folds} for {folds} folds")
    values = [objective.value(o.metrics) for o in runs]
    actual = np.array([v for v in values if v is not None], dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(runs))
    fold_of = np.empty(len(runs), dtype=np.intp)
    fold_of[order] = np.arange(len(runs)) % folds
    return Folds(runs, index, dict(chosen or {}), actual, fold_of)


def score(predicted: FloatArray, actual: FloatArray, sign: float) -> Scores:
    """Spearman and MAE of ``predicted`` against ``actual`` ``(n,)``, and the regret of the top pick: the true
    objective of the run ranked best, minus the best true objective (in the objective's direction, >= 0)."""
    ok = np.isfinite(predicted)
    varied = ok.sum() > 2 and np.ptp(predicted[ok]) > 0 and np.ptp(actual[ok]) > 0
    rho = float(spearmanr(predicted[ok], actual[ok]).statistic) if varied else float("nan")
    best_true = float((actual * sign).min() * sign)
    regret = None
    if ok.any():
        pick = int(np.nanargmin(predicted * sign))
        regret = abs(float(actual[pick]) - best_true)
    mae = float(np.nanmean(np.abs(predicted - actual))) if ok.any() else float("nan")
    return Scores(predicted, _finite(rho), _finite(mae), regret)


def cross_validate(mixer: OfflineMixer, folds: Folds, run: FoldRunner = run_in_order) -> Scores:
    """Out-of-fold predictions of ``mixer``'s class, config and seed over ``folds`` with their sd, scored: over all
    runs, fold by fold (with the standard errors of the fold means), and the coverage of the sd's intervals."""
    parts = mixer.cross_val_predictions(folds.splits(), folds.fidelity, run)
    n = len(folds.runs)
    predicted = np.full(n, np.nan)
    std = np.full(n, np.nan)
    for k, part in enumerate(parts):
        predicted[folds.fold_of == k] = part.mean
        if part.std is not None:
            std[folds.fold_of == k] = part.std
    sign = mixer.problem.objective.sign
    per_fold = []
    for k in range(len(parts)):
        held = folds.fold_of == k
        s = score(predicted[held], folds.actual[held], sign)
        per_fold.append(FoldScore(k, int(held.sum()), s.spearman, s.mae, s.regret))
    has_std = bool(np.isfinite(std).any())
    return replace(
        score(predicted, folds.actual, sign),
        std=std if has_std else None,
        coverage=coverage(folds.actual, predicted, std if has_std else None),
        folds=per_fold,
        spearman_se=standard_error([f.spearman for f in per_fold]),
        mae_se=standard_error([f.mae for f in per_fold]),
    )


def standard_error(values: Sequence[float | None]) -> float | None:
    """Standard error of the mean of the finite ``values`` (sample sd / sqrt(count)); None with fewer than 2."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return None
    return float(v.std(ddof=1) / np.sqrt(len(v)))


def fold_mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite ``values``; None without one."""
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None
