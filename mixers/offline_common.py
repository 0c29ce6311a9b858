"""Helpers shared by the offline mixers (DESIGN 4.0, 4.1): training data, candidates, proposals.

Usable piece by piece by any offline mixer (``regmix``, ``mixing_law``, ``ot``, ``mfbo``):

- training data: :func:`usable_observations`, :func:`choose_train_fidelity`, :func:`group_replicates`,
  :func:`build_training_set` (one row per distinct mixture, replicates averaged, one column per objective
  metric so that a mixer fits one model per metric and combines them with the objective's weights);
- the optimum search: :func:`dirichlet_candidates` (Dirichlet(prior x 1) filtered by the bounds) and
  :func:`regularized_score` (``sign * predicted + kl_to_prior * KL(p || prior)``, lower is better);
- proposals: :class:`ProposalRecipe` (the RegMix recipe), :func:`existing_mixtures`, :func:`proposal_fidelity`,
  :func:`eligible_pool`, :func:`random_proposals`, :func:`diverse_top`, and :func:`propose_runs` which ties
  them together for a mixer that optionally scores candidates (higher score = more worth running);
- :class:`SingleFidelityMixer`: a base class for mixers that fit on the runs of one fidelity and transfer the
  answer to the requested one (``regmix``, ``mixing_law``).

Randomness: every public method derives its generator from ``(seed, call tag)`` (:func:`call_rng`), so a
cached, fitted mixer answers the same request the same way however many calls it served before.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from mixers.base import FoldRunner, MixerConfig, MixerError, OfflineMixer, held_out_mixtures, run_in_order
from mixers.simplex import kl_to_prior, project_to_bounds, sample_dirichlet
from mixers.types import (
    FidelityAnswer,
    FloatArray,
    Objective,
    Observation,
    PendingRun,
    Predictions,
    Problem,
    ProposedBatch,
    ProposedRun,
    fidelity_key,
)

# Call tags for :func:`call_rng`.
TAG_RECOMMEND = 1
TAG_PROPOSE = 2
TAG_CV = 3
TAG_FIT = 4

# Two mixtures closer than this (max-abs) are "the same run" for generated proposals; pool rows use the
# tighter POOL_TOL, since a pool may hold distinct mixtures rounded to 3 decimals (0.001 apart).
PROPOSAL_TOL = 1e-3
POOL_TOL = 1e-6

PositiveFloat = Annotated[float, Field(gt=0)]


def call_rng(seed: int | None, tag: int, fallback: np.random.Generator) -> np.random.Generator:
    """A generator for one kind of call: seeded by ``(seed, tag)``, or ``fallback`` when ``seed`` is None."""
    if seed is None:
        return fallback
    return np.random.default_rng([int(seed) % (2**63), tag])


# -- training data ------------------------------------------------------------------------------------


def usable_observations(observations: Sequence[Observation], objective: Objective) -> list[Observation]:
    """Completed runs that carry every metric of the objective (finite values)."""
    return [o for o in observations if o.status == "completed" and objective.value(o.metrics) is not None]


def _fidelity_size(fidelity: Mapping[str, float]) -> float:
    """Sum of log values: a scale to break ties between fidelities (bigger runs first)."""
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
    best = max(counts, key=lambda k: (counts[k], _fidelity_size(groups[k]), k))
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
    usable = usable_observations(observations, obj)
    fid, reason = choose_train_fidelity(usable, train_fidelity)
    key = fidelity_key(fid) if fid is not None else None
    used = [o for o in usable if fidelity_key(o.fidelity) == key]
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


# -- the optimum search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateSet:
    """Candidate mixtures ``(m, d)`` for the optimum search, and how they were made."""

    mixtures: FloatArray
    n_sampled: int
    n_feasible: int
    projected: bool


def dirichlet_candidates(
    rng: np.random.Generator, problem: Problem, n: int, min_feasible: int = 1, concentration: float = 1.0
) -> CandidateSet:
    """``n`` draws from Dirichlet(prior x ``concentration``), the infeasible ones dropped.

    When fewer than ``min_feasible`` draws are feasible (tight bounds such as a ``min_weight`` on a domain the
    prior gives almost nothing), all draws are projected into the bounds instead, flagged ``projected``.
    """
    lo, hi = problem.bounds()
    draws = sample_dirichlet(rng, problem.prior() * concentration, n)
    ok = problem.feasible(draws)
    n_ok = int(ok.sum())
    if n_ok >= min_feasible:
        return CandidateSet(draws[ok], n, n_ok, False)
    return CandidateSet(project_to_bounds(draws, lo, hi), n, n_ok, True)


def regularized_score(
    predicted: FloatArray, sign: float, mixtures: FloatArray, prior: FloatArray, kl_weight: float
) -> FloatArray:
    """``sign * predicted + kl_weight * KL(p || prior)`` for ``mixtures`` ``(m, d)``; lower is better."""
    score = sign * np.asarray(predicted, dtype=np.float64)
    if kl_weight > 0:
        score = score + kl_weight * kl_to_prior(mixtures, prior)
    return score


def top_k_indices(score: FloatArray, k: int) -> NDArray[np.intp]:
    """Indices of the ``k`` lowest scores, ties broken by index (deterministic)."""
    k = min(k, len(score))
    part = np.argpartition(score, k - 1)[:k] if k < len(score) else np.arange(len(score))
    order = np.lexsort((part, score[part]))
    return np.asarray(part[order], dtype=np.intp)


# -- proposals ------------------------------------------------------------------------------------------


def far_from(candidates: FloatArray, existing: FloatArray, tol: float) -> NDArray[np.bool_]:
    """Like :func:`mixers.simplex.novel_mask` (max-abs distance ``> tol`` from every ``existing`` row), with a
    k-d tree so that thousands of candidates against thousands of runs stay fast."""
    if len(existing) == 0 or len(candidates) == 0:
        return np.ones(len(candidates), dtype=bool)
    dist, _ = cKDTree(existing).query(candidates, k=1, p=np.inf)
    return np.asarray(dist > tol)


def distinct_in_order(candidates: FloatArray, order: NDArray[np.intp], n: int, tol: float) -> list[int]:
    """Same result as :func:`mixers.simplex.greedy_distinct` (walk ``order``, keep a row unless it is within
    ``tol`` max-abs of a kept one, stop at ``n``), using a k-d tree to find the close pairs first."""
    order = np.asarray(order, dtype=np.intp)
    pairs = cKDTree(candidates[order]).query_pairs(tol, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return [int(i) for i in order[:n]]
    clashes: dict[int, list[int]] = {}
    for a, b in pairs:  # positions in order; the later one clashes with the earlier one
        lo_, hi_ = (int(a), int(b)) if a < b else (int(b), int(a))
        clashes.setdefault(hi_, []).append(lo_)
    kept: list[int] = []
    kept_pos: set[int] = set()
    for pos in range(len(order)):
        if len(kept) >= n:
            break
        if any(q in kept_pos for q in clashes.get(pos, ())):
            continue
        kept_pos.add(pos)
        kept.append(int(order[pos]))
    return kept


@dataclass(frozen=True)
class ProposalRecipe:
    """The RegMix proposal recipe (DESIGN 4.1).

    The prior is tempered (``prior ** temperature``, renormalized); each draw picks one of ``n_strengths``
    concentrations log-spaced in ``[strength_min, strength_max]`` at random and samples Dirichlet(tempered
    prior x strength); weights under ``min_weight`` are zeroed and the row renormalized; rows over an upper
    bound (the repetition cap, ``max_weight``) are rejected, and the rest projected onto the lower bounds.
    """

    temperature: float = 0.5
    strength_min: float = 0.1
    strength_max: float = 5.0
    n_strengths: int = 15
    min_weight: float = 2e-4

    def strengths(self) -> FloatArray:
        return np.logspace(math.log10(self.strength_min), math.log10(self.strength_max), self.n_strengths)

    def as_dict(self) -> dict[str, float]:
        return {"temperature": self.temperature, "strength_min": self.strength_min,
                "strength_max": self.strength_max, "n_strengths": self.n_strengths, "min_weight": self.min_weight}

    def draw(self, rng: np.random.Generator, prior: FloatArray, m: int) -> FloatArray:
        """``m`` raw draws ``(m, d)`` (min-weight zeroing applied, bounds not yet)."""
        return self.draw_with_strengths(rng, prior, m)[0]

    def draw_with_strengths(self, rng: np.random.Generator, prior: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
        """``m`` raw draws ``(m, d)`` and the Dirichlet strength ``(m,)`` each was drawn with."""
        tempered = prior**self.temperature
        tempered = tempered / tempered.sum()
        strengths = self.strengths()
        which = rng.integers(0, len(strengths), size=m)
        out = np.empty((m, len(prior)))
        for i, s in enumerate(strengths):
            rows = np.flatnonzero(which == i)
            if len(rows):
                out[rows] = sample_dirichlet(rng, tempered * s, len(rows))
        small = out < self.min_weight
        # Never zero a whole row: keep each row's largest weight.
        small[np.arange(m), out.argmax(axis=1)] = False
        out[small] = 0.0
        return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64), np.asarray(strengths[which])

    def sample(self, rng: np.random.Generator, problem: Problem, m: int, allow_projection: bool = False) -> FloatArray:
        """Up to ``m`` feasible rows ``(<=m, d)``: over-cap draws rejected, the rest projected into the bounds.

        With ``allow_projection`` the over-cap draws are projected too (used when the caps reject nearly all).
        """
        return self.sample_with_strengths(rng, problem, m, allow_projection)[0]

    def sample_with_strengths(
        self, rng: np.random.Generator, problem: Problem, m: int, allow_projection: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`sample`, and the strength ``(<=m,)`` of each row."""
        lo, hi = problem.bounds()
        raw, strength = self.draw_with_strengths(rng, problem.prior(), m)
        if not allow_projection:
            keep = np.all(raw <= hi + 1e-12, axis=1)
            raw, strength = raw[keep], strength[keep]
        if len(raw) == 0:
            return raw, strength
        inside = problem.feasible(raw, tol=0.0)
        if not inside.all():
            raw = raw.copy()
            raw[~inside] = project_to_bounds(raw[~inside], lo, hi)
        return raw, strength


def existing_mixtures(
    observations: Sequence[Observation], pending: Sequence[PendingRun], fidelity: Mapping[str, float]
) -> FloatArray:
    """Mixtures ``(e, d)`` of the observed (any status) and pending runs at ``fidelity``."""
    key = fidelity_key(fidelity)
    runs: list[Observation | PendingRun] = [*observations, *pending]
    rows = [np.asarray(r.weights, dtype=np.float64) for r in runs if fidelity_key(r.fidelity) == key]
    if not rows:
        d = len(observations[0].weights) if observations else (len(pending[0].weights) if pending else 0)
        return np.zeros((0, d))
    return np.vstack(rows)


def proposal_fidelity(
    problem: Problem,
    fidelity: Mapping[str, float] | None,
    fidelities: Sequence[Mapping[str, float]] | None,
    train_fidelity: Mapping[str, float] | None,
) -> dict[str, float]:
    """Fidelity of proposed runs for mixers that do not model scale.

    The ``fidelity`` argument, else the first of ``fidelities``, else the train fidelity, else the target,
    else ``{}``.
    """
    for f in (fidelity, fidelities[0] if fidelities else None, train_fidelity, problem.target_fidelity):
        if f is not None:
            return {str(k): float(v) for k, v in f.items()}
    return {}


def eligible_pool(problem: Problem, candidates: FloatArray, existing: FloatArray) -> NDArray[np.intp]:
    """Indices of pool rows that are feasible, not an existing run, and not a duplicate of an earlier row."""
    pool = np.asarray(candidates, dtype=np.float64)
    if pool.ndim != 2 or pool.shape[1] != problem.d:
        raise MixerError(f"candidates must have shape (c, {problem.d}), got {pool.shape}")
    ok = problem.feasible(pool, tol=1e-9) & np.isclose(pool.sum(axis=1), 1.0, atol=1e-6)
    ok &= far_from(pool, existing, POOL_TOL)
    idx = np.flatnonzero(ok)
    keep = distinct_in_order(pool, idx, len(idx), POOL_TOL)
    return np.asarray(sorted(keep), dtype=np.intp)


def random_proposals(
    rng: np.random.Generator,
    problem: Problem,
    recipe: ProposalRecipe,
    n: int,
    existing: FloatArray,
    batch: int | None = None,
    max_rounds: int = 20,
) -> FloatArray:
    """``n`` distinct recipe draws ``(n, d)`` novel against ``existing``; may return ``batch`` rows instead.

    With ``batch`` set, returns up to ``batch`` novel distinct rows (a candidate set for scoring; at least
    ``n`` unless impossible). Raises MixerError when ``n`` distinct feasible mixtures cannot be found.
    """
    return random_proposals_with_strengths(rng, problem, recipe, n, existing, batch, max_rounds)[0]


def random_proposals_with_strengths(
    rng: np.random.Generator,
    problem: Problem,
    recipe: ProposalRecipe,
    n: int,
    existing: FloatArray,
    batch: int | None = None,
    max_rounds: int = 20,
) -> tuple[FloatArray, FloatArray]:
    """:func:`random_proposals`, and the recipe strength ``(rows,)`` each row was drawn with."""
    want = max(n, batch or 0)
    found = np.zeros((0, problem.d))
    found_s = np.zeros(0)
    for rnd in range(max_rounds):
        m = 2 * (want - len(found)) + 64
        draws, strength = recipe.sample_with_strengths(rng, problem, m, allow_projection=rnd >= max_rounds // 2)
        if len(draws) == 0:
            continue
        keep_new = far_from(draws, existing, PROPOSAL_TOL)
        draws, strength = draws[keep_new], strength[keep_new]
        keep_new = far_from(draws, found, PROPOSAL_TOL)
        draws, strength = draws[keep_new], strength[keep_new]
        keep = distinct_in_order(draws, np.arange(len(draws)), want - len(found), PROPOSAL_TOL)
        found = np.vstack([found, draws[keep]])
        found_s = np.concatenate([found_s, strength[keep]])
        if len(found) >= want:
            break
    if len(found) < n:
        raise MixerError(
            f"could only find {len(found)} distinct feasible mixtures not already run or pending "
            f"(asked for {n}); the bounds may leave too little room"
        )
    return found, found_s


def diverse_top(
    score: FloatArray, mixtures: FloatArray, n: int, avoid: FloatArray | None = None, diversity: float = 1.0
) -> list[int]:
    """Pick ``n`` rows of ``mixtures`` ``(c, d)`` with high ``score`` ``(c,)`` that are spread out.

    Greedy local penalization: after each pick, every score is multiplied by ``1 - exp(-dist^2 / length^2)``
    (dist: Euclidean distance to the pick), so near-duplicates of a pick lose their appeal. ``avoid`` rows
    (e.g. pending runs) penalize from the start. ``length`` is ``diversity`` times the median distance from the
    candidates to their centroid (1.0 did best among 0.5-3 in the RegMix pool replay, ``bench/pool_replay.py``).
    Scores are shifted to be positive first. Hand-written: greedy batch
    selection with a distance penalty is a few lines, and no library provides it for a plain candidate set.
    """
    c = len(mixtures)
    if c == 0 or n <= 0:
        return []
    s = np.asarray(score, dtype=np.float64)
    s = s - s.min() + 1e-12 * (1.0 + abs(float(s.max())))
    spread = np.linalg.norm(mixtures - mixtures.mean(axis=0), axis=1)
    length = max(diversity * float(np.median(spread)), 1e-6)
    penalty = np.ones(c)
    if avoid is not None and len(avoid):
        for row in avoid:
            penalty *= 1.0 - np.exp(-np.sum((mixtures - row) ** 2, axis=1) / length**2)
    chosen: list[int] = []
    taken = np.zeros(c, dtype=bool)
    for _ in range(min(n, c)):
        eff = np.where(taken, -np.inf, s * penalty)
        i = int(np.argmax(eff))
        chosen.append(i)
        taken[i] = True
        penalty *= 1.0 - np.exp(-np.sum((mixtures - mixtures[i]) ** 2, axis=1) / length**2)
    return chosen


def candidate_density(x: FloatArray, max_reference: int = 2048) -> FloatArray:
    """Plausibility ``(c,)`` in ``(0, 1]`` of candidates ``x`` ``(c, d)`` under the distribution they were drawn
    from: a Gaussian kernel density over (up to ``max_reference`` evenly spaced rows of) the candidates themselves,
    bandwidth half the median distance to their centroid, divided by its maximum. Isolated draws (a recipe's
    near-vertex mixtures) score low, the bulk where most mixtures, and most future questions, lie scores high.
    Hand-written: scipy's gaussian_kde needs a non-singular covariance, which mixtures on the simplex lack.
    """
    c = len(x)
    if c == 0:
        return np.zeros(0)
    ref = x[np.linspace(0, c - 1, min(c, max_reference)).astype(np.intp)]
    h = max(0.5 * float(np.median(np.linalg.norm(x - x.mean(axis=0), axis=1))), 1e-6)
    dens = np.empty(c)
    step = max(1, 4_000_000 // len(ref))
    for i in range(0, c, step):
        d2 = cdist(x[i:i + step], ref, "sqeuclidean")
        dens[i:i + step] = np.exp(-d2 / (2 * h * h)).mean(axis=1)
    return np.asarray(dens / dens.max(), dtype=np.float64)


Scorer = Callable[[FloatArray], FloatArray]
"""Scores ``(c,)`` of candidate mixtures ``(c, d)``, higher = more worth running. A scorer may also expose
``parts``: a dict of per-candidate arrays ``(c,)`` from its last call (e.g. disagreement, plausibility), which the
proposal's diagnostics report for the chosen runs."""


def _summary(values: FloatArray) -> dict[str, float]:
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def propose_runs(
    problem: Problem,
    rng: np.random.Generator,
    n: int,
    fidelity: dict[str, float],
    observations: Sequence[Observation],
    pending: Sequence[PendingRun],
    candidates: FloatArray | None,
    recipe: ProposalRecipe,
    scorer: Scorer | None = None,
    n_scored: int = 2048,
    diversity: float = 1.0,
) -> ProposedBatch:
    """``n`` new runs at ``fidelity``: distinct, feasible, none equal to an observed or pending run there.

    ``candidates`` ``(c, d)``: choose only among its eligible rows (fewer than ``n`` if the pool runs out;
    MixerError if none is left). Without a ``scorer`` the choice is random (pool rows in random order, or
    fresh recipe draws); with one, ``n_scored`` recipe draws (or the pool) are scored (higher = better) and
    a spread-out high-scoring batch is taken (:func:`diverse_top` with ``diversity``, pending runs penalized).
    The batch's ``diagnostics`` say how: ``method`` (recipe, active, pool, pool_active), the recipe and each
    run's Dirichlet strength when drawn from it, and the scorer's parts (disagreement, plausibility) for each
    chosen run next to their spread over all candidates scored.
    """
    if n < 1:
        raise MixerError("n must be at least 1")
    existing = existing_mixtures(observations, pending, fidelity)
    if existing.shape[1] != problem.d:
        existing = np.zeros((0, problem.d))
    pend = np.vstack([np.asarray(p.weights) for p in pending]) if pending else None
    diag: dict[str, Any] = {}
    strengths: FloatArray | None = None
    picked_parts: dict[str, FloatArray] = {}
    cand_parts: dict[str, FloatArray] = {}

    def scored(cands: FloatArray) -> list[int]:
        assert scorer is not None
        score = scorer(cands)
        chosen = diverse_top(score, cands, n, pend, diversity)
        parts = {"score": score, **getattr(scorer, "parts", {})}
        for key, values in parts.items():
            cand_parts[key] = np.asarray(values, dtype=np.float64)
            picked_parts[key] = cand_parts[key][chosen]
        return chosen

    if candidates is not None:
        pool = np.asarray(candidates, dtype=np.float64)
        idx = eligible_pool(problem, pool, existing)
        if len(idx) == 0:
            raise MixerError("no candidate is feasible and new (all are out of bounds, already run or pending)")
        picked = idx[rng.permutation(len(idx))[:n]] if scorer is None else idx[scored(pool[idx])]
        rows = pool[picked]
        diag.update({"method": "pool" if scorer is None else "pool_active", "pool_eligible": len(idx)})
    elif scorer is None:
        rows, strengths = random_proposals_with_strengths(rng, problem, recipe, n, existing)
        diag.update({"method": "recipe", "recipe": recipe.as_dict()})
    else:
        cands, cand_strengths = random_proposals_with_strengths(rng, problem, recipe, n, existing, batch=n_scored)
        chosen = scored(cands)
        rows, strengths = cands[chosen], cand_strengths[chosen]
        diag.update({"method": "active", "recipe": recipe.as_dict(), "candidates_scored": len(cands)})
    if scorer is not None:
        diag["diversity"] = diversity
        if candidates is not None:
            diag["candidates_scored"] = len(idx)
        diag["candidates"] = {key: _summary(values) for key, values in cand_parts.items()}
    per_run: list[dict[str, float | None]] = []
    for i, row in enumerate(rows):
        entry: dict[str, float | None] = {"max_weight": float(np.max(row))}
        if strengths is not None:
            entry["strength"] = float(strengths[i])
        for key, values in picked_parts.items():
            entry[key] = float(values[i])
        per_run.append(entry)
    diag["runs"] = per_run
    return ProposedBatch(
        [ProposedRun(weights=np.array(r, dtype=np.float64), fidelity=dict(fidelity)) for r in rows], diag
    )


# -- a base class for mixers fitted on one fidelity -------------------------------------------------------


class SingleFidelityConfig(MixerConfig):
    """Config fields shared by the offline mixers that fit on one fidelity."""

    train_fidelity: dict[str, PositiveFloat] | None = Field(
        None, description="fit on the runs at this fidelity (default: the fidelity with the most completed runs)"
    )
    kl_to_prior: float = Field(0.0, ge=0, description="lambda in predicted + lambda * KL(p || prior)")
    cv_folds: int = Field(5, ge=2, le=20, description="folds of the cross-validated Spearman in the diagnostics")
    proposal_temperature: float = Field(0.5, gt=0, le=1, description="prior tempering of the RegMix recipe")
    proposal_strength_min: float = Field(0.1, gt=0)
    proposal_strength_max: float = Field(5.0, gt=0)
    proposal_n_strengths: int = Field(15, ge=1, le=100)
    proposal_min_weight: float = Field(2e-4, ge=0, lt=0.5, description="weights under this are zeroed")

    def recipe(self) -> ProposalRecipe:
        lo, hi = sorted((self.proposal_strength_min, self.proposal_strength_max))
        return ProposalRecipe(self.proposal_temperature, lo, hi, self.proposal_n_strengths, self.proposal_min_weight)


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
        self.ts: TrainingSet | None = None
        self.observations: list[Observation] = []
        self.cv_spearman: float | None = None
        self.cv_note = ""
        self.diagnose = True  # False: fit skips the cross-validated diagnostics (evaluation folds)

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

    # the interface -----------------------------------------------------------------------------------

    def fit(self, observations: Sequence[Observation]) -> SingleFidelityMixer:
        self.observations = list(observations)
        self.ts = build_training_set(self.problem, observations, self.config.train_fidelity)
        self.cv_spearman = None
        if self.ts.n >= self.min_runs:
            self._fit_model(self.ts)
            if self.diagnose:
                self._cross_validate(self.ts)
            else:
                self.cv_note = "skipped: fitted for an evaluation fold"
        else:
            self.cv_note = f"not fitted: {self.ts.n} distinct mixtures, need {self.min_runs}"
        return self

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
            tr = fold != k
            pred[~tr] = self._cv_predict(subset(ts, tr), ts.x[~tr])
        self.cv_spearman = safe_spearman(pred, ts.y)
        self.cv_note = f"{folds}-fold, on {ts.n} distinct mixtures"

    def fold_mixer(self) -> SingleFidelityMixer:
        """A fresh mixer of this class, config and seed that skips the diagnostics (an evaluation fold)."""
        mixer = type(self)(self.problem, self.config, self.seed)
        mixer.diagnose = False
        return mixer

    def cross_val_predict(
        self,
        folds: Sequence[tuple[Sequence[Observation], Sequence[Observation]]],
        fidelity: Mapping[str, float] | None = None,
        run: FoldRunner = run_in_order,
    ) -> list[FloatArray]:
        """As :meth:`OfflineMixer.cross_val_predict`, without each fold's own cross-validated diagnostics (an
        evaluation needs predictions only; the diagnostics were most of a fit's time)."""

        def job(train: Sequence[Observation], test: Sequence[Observation]) -> FloatArray:
            return self.fold_mixer().fit(train).predict(held_out_mixtures(test, self.problem.d), fidelity).mean

        return run([partial(job, train, test) for train, test in folds])

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
        return Predictions(mean=np.asarray(self._predict_metrics(x) @ ts.coefs, dtype=np.float64), std=None)

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
            "kl_to_prior": self.config.kl_to_prior,
        }

    def fidelity_answer(self, fidelity: Mapping[str, float] | None = None) -> FidelityAnswer:
        """``observed`` when the requested (default: target) fidelity is the train fidelity, else ``assumed``: the
        fit on the train fidelity is carried over unchanged (ranks assumed to hold across scale)."""
        ts = self._require_fit()
        requested = fidelity if fidelity is not None else self.problem.target_fidelity
        train = dict(ts.fidelity or {})
        if requested is None:
            return FidelityAnswer(train, "observed", "no target fidelity: the answer is for the train fidelity")
        fid = {str(k): float(v) for k, v in requested.items()}
        if fidelity_key(fid) == fidelity_key(train):
            return FidelityAnswer(fid, "observed", fidelity_note(train, fid))
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
        return propose_runs(self.problem, rng, n, fid, self.observations, pending, candidates,
                            self.config.recipe(), scorer, self._n_scored(), self._diversity())
