"""The candidate optimizer of the offline mixers, split as BoTorch's ``optimize_acqf`` is: raw candidates, a
score over them, the best as starts, local refinement of the starts.

- Raw candidates (:func:`dirichlet_candidates`): Dirichlet draws around the prior, at one concentration or at a
  random one of several per draw, a share of them optionally around given centres (good mixtures so far);
  draws outside the bounds are dropped (all projected into the bounds when too few are left), or all projected.
- Scores: ``regmix`` and ``mixing_law`` minimize the KL-regularized prediction
  ``sign * predicted + kl_to_prior * KL(p || prior)`` (:func:`regularized_score`, :func:`top_k_indices`);
  ``mfbo`` maximizes an acquisition, or the negated posterior mean for its recommendation.
- Local refinement (:func:`refine`): a hill climb by projected random steps of shrinking size on the bounded
  simplex; :func:`maximize` runs the whole chain. (``mixing_law`` refines its starts with SLSQP on its smooth law.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixers.family_bounds import bounded_families
from mixers.simplex import kl_to_prior, project_to_bounds, sample_dirichlet
from mixers.types import (
    FamilySpec,
    FloatArray,
    Problem,
)

Strengths = Sequence[float] | FloatArray
"""Dirichlet strengths, multipliers of a base concentration ``(k,)``."""

Score = Callable[[FloatArray], FloatArray]
"""Scores ``(m,)`` of mixtures ``(m, d)``; for :func:`refine` and :func:`maximize`, higher is better."""

# Step sizes (Euclidean, per coordinate) of the local refinement rounds, and trial steps per start and round.
REFINE_STEPS = (0.05, 0.015, 0.004)
REFINE_SAMPLES = 32
# With bounds on family totals, at most this many draws (or min_feasible) are projected (Dykstra, ~1 ms per row).
FAMILY_PROJECTED = 4096
# Centre weights are floored at this in the concentration of draws around a centre (a zero weight stays reachable).
CENTER_FLOOR = 1e-4


@dataclass(frozen=True)
class CandidateSet:
    """Candidate mixtures ``(m, d)`` for the optimum search, and how they were made."""

    mixtures: FloatArray
    n_sampled: int
    n_feasible: int
    projected: bool


def dirichlet_draws(
    rng: np.random.Generator,
    alpha: FloatArray,
    n: int,
    strengths: Strengths = (1.0,),
    centers: FloatArray | None = None,
    local_strengths: Strengths = (),
) -> FloatArray:
    """About ``n`` draws ``(n', d)`` on the simplex: Dirichlet(``alpha`` x s) for a strength s of ``strengths``.

    With several strengths each draw takes one at random, and the draws come grouped by strength (one strength
    draws no index). With ``centers`` ``(k, d)`` and ``local_strengths``, a quarter of ``n`` goes around the centres
    instead: for each centre ``c`` and strength ``s``, ``max(1, (n // 4) // (k * len(local_strengths)))`` draws of
    Dirichlet(``max(c, CENTER_FLOOR)`` x s), appended after the global draws.
    """
    n_local = n // 4 if centers is not None and len(centers) and len(local_strengths) else 0
    if len(strengths) == 1:
        parts = [sample_dirichlet(rng, alpha * strengths[0], n - n_local)]
    else:
        which = rng.integers(0, len(strengths), size=n - n_local)
        parts = [sample_dirichlet(rng, alpha * s, int((which == i).sum())) for i, s in enumerate(strengths)]
    if n_local and centers is not None:
        per = max(1, n_local // (len(centers) * len(local_strengths)))
        for c in centers:
            for s in local_strengths:
                parts.append(sample_dirichlet(rng, np.maximum(c, CENTER_FLOOR) * s, per))
    return np.vstack(parts)


def dirichlet_candidates(
    rng: np.random.Generator,
    problem: Problem,
    n: int,
    min_feasible: int = 1,
    concentration: float = 1.0,
    *,
    strengths: Strengths = (1.0,),
    centers: FloatArray | None = None,
    local_strengths: Strengths = (),
    project_all: bool = False,
) -> CandidateSet:
    """``n`` draws from Dirichlet(prior x ``concentration``), the infeasible ones dropped.

    ``strengths``, ``centers`` and ``local_strengths`` spread the draws (see :func:`dirichlet_draws`, with
    ``alpha = prior x concentration``). When fewer than ``min_feasible`` draws are feasible (tight bounds such as
    a ``min_weight`` on a domain the prior gives almost nothing), or with ``project_all``, all draws are projected
    into the bounds instead, flagged ``projected`` (with family bounds only the first ``FAMILY_PROJECTED`` of them, or
    ``min_feasible`` if more: that projection is iterative).
    """
    lo, hi = problem.bounds()
    draws = dirichlet_draws(rng, problem.prior() * concentration, n, strengths, centers, local_strengths)
    ok = problem.feasible(draws)
    n_ok = int(ok.sum())
    if n_ok >= min_feasible and not project_all:
        return CandidateSet(draws[ok], len(draws), n_ok, False)
    n_drawn = len(draws)
    if bounded_families(problem.families) and n_drawn > max(FAMILY_PROJECTED, min_feasible):
        draws = draws[: max(FAMILY_PROJECTED, min_feasible)]  # the projection onto family bounds is iterative
    return CandidateSet(project_to_bounds(draws, lo, hi, families=problem.families), n_drawn, n_ok, True)


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


def refine(
    rng: np.random.Generator,
    score: Score,
    starts: FloatArray,
    start_scores: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    steps: Sequence[float] = REFINE_STEPS,
    samples: int = REFINE_SAMPLES,
    families: Sequence[FamilySpec] = (),
) -> tuple[FloatArray, FloatArray]:
    """Hill-climb each start ``(k, d)`` (scores ``(k,)``, higher is better) within the bounds ``lo``, ``hi``.

    Per round of ``steps``: ``samples`` Gaussian steps of that size per start, centred to sum 0, projected into
    the bounds; a start moves to its best trial when that beats it. Returns the best rows ``(k, d)`` and their
    scores ``(k,)``; no ``steps`` (or no starts): the starts unchanged.
    """
    best, best_s = starts.copy(), start_scores.copy()
    k, d = best.shape
    if k == 0:
        return best, best_s
    for step in steps:
        noise = rng.normal(size=(k, samples, d)) * step
        noise -= noise.mean(axis=2, keepdims=True)
        trial = np.asarray(project_to_bounds((best[:, None, :] + noise).reshape(-1, d), lo, hi,
                                                     families=families), dtype=np.float64)
        s = score(trial).reshape(k, samples)
        j = np.argmax(s, axis=1)
        better = s[np.arange(k), j] > best_s
        best[better] = trial.reshape(k, samples, d)[better, j[better]]
        best_s[better] = s[better, j[better]]
    return best, best_s


def maximize(
    rng: np.random.Generator,
    score: Score,
    candidates: FloatArray,
    n_starts: int,
    lo: FloatArray,
    hi: FloatArray,
    steps: Sequence[float] = REFINE_STEPS,
    families: Sequence[FamilySpec] = (),
) -> tuple[FloatArray, float]:
    """The best mixture ``(d,)`` and its score: ``candidates`` ``(m, d)`` scored, the ``n_starts`` best (ties by
    index) refined by :func:`refine` with ``steps``, the best of them."""
    s = score(candidates)
    top = np.argsort(-s, kind="stable")[:n_starts]
    best, best_s = refine(rng, score, candidates[top], s[top], lo, hi, steps, families=families)
    i = int(np.argmax(best_s))
    return best[i], float(best_s[i])
