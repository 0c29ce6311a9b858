"""Where ``mfbo`` searches: its settings of the shared candidate optimizer (:mod:`mixers.search`), and the
check of a caller's candidate pool.

Dirichlet candidates around the prior at ``GLOBAL_STRENGTHS`` (total concentration / d), a quarter of them around
the best mixtures so far at ``LOCAL_STRENGTHS``, every draw projected into the bounds; then local refinement by
projected random steps (:func:`mixers.search.refine`). With a pool, only its rows.
"""

from __future__ import annotations

import numpy as np

from mixers.base import MixerError
from mixers.mfbo.model import MFBOModel
from mixers.proposals import POOL_TOL
from mixers.search import Score, Strengths, dirichlet_candidates, refine
from mixers.simplex import greedy_distinct
from mixers.types import FloatArray, Problem

# Dirichlet strengths (total concentration / d, around the prior) for global candidates, and around a centre.
GLOBAL_STRENGTHS = np.logspace(-1, 1, 8)
LOCAL_STRENGTHS = (30.0, 300.0)


def generate(
    rng: np.random.Generator, model: MFBOModel, m: int, centers: FloatArray | None = None,
    strengths: Strengths = GLOBAL_STRENGTHS,
) -> FloatArray:
    """About ``m`` candidates ``(m', d)`` in the bounds: Dirichlet(prior x d x s) for s in ``strengths``, a quarter
    around ``centers`` ``(k, d)`` when given."""
    model.bounds()  # a clear error for bounds no mixture satisfies
    d = model.problem.d
    return dirichlet_candidates(rng, model.problem, m, concentration=d, strengths=strengths, centers=centers,
                                local_strengths=LOCAL_STRENGTHS, project_all=True).mixtures


def refine_starts(
    rng: np.random.Generator, model: MFBOModel, score: Score, starts: FloatArray, start_scores: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`mixers.search.refine` of ``starts`` ``(k, d)`` within the model's bounds."""
    lo, hi = model.bounds()
    return refine(rng, score, starts, start_scores, lo, hi, families=model.problem.families)


def candidate_pool(problem: Problem, candidates: FloatArray) -> FloatArray:
    """The rows ``(c', d)`` of a caller's pool that are feasible and on the simplex, without near-duplicates."""
    pool = np.asarray(candidates, dtype=np.float64)
    if pool.ndim != 2 or pool.shape[1] != problem.d:
        raise MixerError(f"candidates must have shape (c, {problem.d}), got {pool.shape}")
    ok = np.flatnonzero(problem.feasible(pool) & np.isclose(pool.sum(axis=1), 1.0, atol=1e-6))
    pool = pool[greedy_distinct(ok, pool, len(ok), tol=POOL_TOL)]
    if len(pool) == 0:
        raise MixerError("no candidate is feasible (all are outside the bounds or off the simplex)")
    return pool
