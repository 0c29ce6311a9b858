"""Training data of the offline mixers (DESIGN 4.0): usable runs, the train fidelity, replicates, one row per
distinct mixture, folds; and per-call randomness (:func:`call_rng`), so a cached, fitted mixer answers the same
request the same way however many calls it served before."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import spearmanr

from mixers.types import (
    FloatArray,
    Objective,
    Observation,
    Problem,
    fidelity_key,
)

# Call tags for :func:`call_rng`.
TAG_RECOMMEND = 1
TAG_PROPOSE = 2
TAG_CV = 3
TAG_FIT = 4


def call_rng(seed: int | None, tag: int, fallback: np.random.Generator) -> np.random.Generator:
    """A generator for one kind of call: seeded by ``(seed, tag)``, or ``fallback`` when ``seed`` is None."""
    if seed is None:
        return fallback
    return np.random.default_rng([int(seed) % (2**63), tag])


# -- training data ------------------------------------------------------------------------------------


def usable_observations(observations: Sequence[Observation], objective: Objective) -> list[Observation]:
    """Completed runs that carry every metric of the objective (finite values)."""
    return [o for o in observations if o.status == "completed" and objective.value(o.metrics) is not None]


def fidelity_size(fidelity: Mapping[str, float]) -> float:
    """Sum of log values: a fidelity's position on the ladder (``log N D`` for ``{params, tokens}``)."""
    return float(sum(math.log(v) for v in fidelity.values() if v > 0))


def choose_train_fidelity(
    observations: Sequence[Observation], requested: Mapping[str, float] | None
) -> tuple[dict[str, float] | None, str]:
    """The fidelity to fit on and why: the configured one, else the one with the most runs.

    Ties go to the larger fidelity (sum of log values), then to the canonical key, so the choice never
    depends on input order. Returns ``(None, reason)`` when there is nothing to choose from.
    """
    if requested is not None:
        return dict(requested), "configured train_fidelity"
    if not observations:
        return None, "no completed runs"
    groups: dict[str, Mapping[str, float]] = {}
    counts: dict[str, int] = {}
    for o in observations:
        key = fidelity_key(o.fidelity)
        groups.setdefault(key, o.fidelity)
        counts[key] = counts.get(key, 0) + 1
    best = max(counts, key=lambda k: (counts[k], fidelity_size(groups[k]), k))
    return dict(groups[best]), f"the fidelity with the most completed runs ({counts[best]} of {len(observations)})"


def group_replicates(weights: FloatArray, tol: float = 1e-9) -> NDArray[np.intp]:
    """Group index ``(n,)`` of each row of ``weights`` ``(n, d)``: rows within ``tol`` (max-abs) share a group.

    Groups are numbered in order of first appearance. Rows are compared after rounding to ``tol`` so the
    grouping is transitive; callers pass rows of one fidelity.
    """
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    keys = np.round(np.asarray(weights) / tol).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    # Renumber so that group ids follow first appearance (np.unique sorts lexicographically).
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.asarray(rank[inverse.reshape(-1)], dtype=np.intp)


def replicate_noise_std(values: FloatArray, groups: NDArray[np.intp]) -> float | None:
    """Pooled within-group standard deviation of ``values`` ``(n,)``; None without any replicated group."""
    sse = 0.0
    dof = 0
    for g in np.unique(groups):
        v = values[groups == g]
        if len(v) > 1:
            sse += float(((v - v.mean()) ** 2).sum())
            dof += len(v) - 1
    return math.sqrt(sse / dof) if dof else None


@dataclass(frozen=True)
class TrainingSet:
    """The runs of one fidelity, replicates averaged.

    ``x`` ``(n, d)`` distinct mixtures; ``metrics`` ``(n, k)`` mean value of each objective metric;
    ``y`` ``(n,)`` the objective (``metrics @ coefs``); ``counts`` ``(n,)`` runs behind each row.
    """

    x: FloatArray
    metrics: FloatArray
    y: FloatArray
    counts: NDArray[np.intp]
    metric_names: tuple[str, ...]
    coefs: FloatArray
    fidelity: dict[str, float] | None
    fidelity_reason: str
    runs_used: int
    noise_std: float | None

    @property
    def n(self) -> int:
        return len(self.x)


def build_training_set(
    problem: Problem, observations: Sequence[Observation], train_fidelity: Mapping[str, float] | None
) -> TrainingSet:
    """Select the usable runs at the train fidelity and average replicates (see :class:`TrainingSet`)."""
    obj = problem.objective
    names = tuple(obj.metrics)
    coefs = np.array([obj.metrics[m] for m in names], dtype=np.float64)
    fid, reason = choose_train_fidelity(usable_observations(observations, obj), train_fidelity)
    used = _runs_at(problem, observations, fid)
    d = problem.d
    if not used:
        empty = np.zeros((0, d))
        return TrainingSet(empty, np.zeros((0, len(names))), np.zeros(0), np.zeros(0, dtype=np.intp), names,
                           coefs, fid, reason, 0, None)
    w = np.vstack([np.asarray(o.weights, dtype=np.float64) for o in used])
    m = np.array([[o.metrics[name] for name in names] for o in used], dtype=np.float64)
    groups = group_replicates(w)
    n_groups = int(groups.max()) + 1
    counts = np.bincount(groups, minlength=n_groups).astype(np.intp)
    x = np.zeros((n_groups, d))
    mm = np.zeros((n_groups, len(names)))
    np.add.at(x, groups, w)
    np.add.at(mm, groups, m)
    x /= counts[:, None]
    mm /= counts[:, None]
    noise = replicate_noise_std(m @ coefs, groups)
    return TrainingSet(x, mm, mm @ coefs, counts, names, coefs, fid, reason, len(used), noise)


def _runs_at(
    problem: Problem, observations: Sequence[Observation], fid: Mapping[str, float] | None
) -> list[Observation]:
    """The usable runs at fidelity ``fid`` (none when ``fid`` is None), in input order."""
    if fid is None:
        return []
    key = fidelity_key(fid)
    return [o for o in usable_observations(observations, problem.objective) if fidelity_key(o.fidelity) == key]


def _value(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def mean_metrics(
    problem: Problem, observations: Sequence[Observation], ts: TrainingSet, names: Sequence[str]
) -> FloatArray | None:
    """Metrics ``names`` averaged per distinct mixture ``(ts.n, len(names))``, rows aligned with ``ts.x`` (the runs
    :func:`build_training_set` used); None when one of those runs lacks a finite value of one of them."""
    used = _runs_at(problem, observations, ts.fidelity)
    if not used or not names:
        return None
    vals = np.array([[_value(o.metrics.get(name)) for name in names] for o in used], dtype=np.float64)
    if not np.all(np.isfinite(vals)):
        return None
    groups = group_replicates(np.vstack([np.asarray(o.weights, dtype=np.float64) for o in used]))
    out = np.zeros((int(groups.max()) + 1, len(names)))
    np.add.at(out, groups, vals)
    out /= np.bincount(groups)[:, None]
    if len(out) != ts.n:
        return None
    return out


def subset(ts: TrainingSet, rows: NDArray[np.bool_]) -> TrainingSet:
    """The rows ``rows`` ``(n,)`` of ``ts`` (a cross-validation training fold; no noise estimate)."""
    return TrainingSet(ts.x[rows], ts.metrics[rows], ts.y[rows], ts.counts[rows], ts.metric_names, ts.coefs,
                       ts.fidelity, ts.fidelity_reason, int(ts.counts[rows].sum()), None)


def kfold_indices(n: int, folds: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """Fold id ``(n,)`` in ``0..folds-1`` of each row, balanced and shuffled."""
    fold = np.empty(n, dtype=np.intp)
    fold[rng.permutation(n)] = np.arange(n) % folds
    return fold


def safe_spearman(a: FloatArray, b: FloatArray) -> float | None:
    """Spearman rank correlation, or None when undefined (fewer than 3 points or a constant input)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    rho = float(spearmanr(a, b).statistic)
    return rho if math.isfinite(rho) else None


def fidelity_note(train: Mapping[str, float] | None, requested: Mapping[str, float] | None) -> str:
    """A sentence for the diagnostics on how the requested fidelity was answered."""
    if train is None:
        return "no training fidelity"
    tk = fidelity_key(train) or "{}"
    if requested is None or fidelity_key(requested) == fidelity_key(train):
        return f"fitted on the runs at {tk}"
    return (f"fitted on the runs at {tk}; the answer is transferred unchanged to the requested fidelity "
            f"{fidelity_key(requested) or '{}'} (assumes the ranking of mixtures holds across scale)")
