"""The optimum search of the offline mixers: Dirichlet(prior) candidates filtered by the bounds, the
KL-regularized score (``sign * predicted + kl_to_prior * KL(p || prior)``, lower is better), top k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixers.simplex import kl_to_prior, project_to_bounds, sample_dirichlet
from mixers.types import (
    FloatArray,
    Problem,
)


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
