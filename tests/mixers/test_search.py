"""The candidate optimizer shared by the offline mixers (mixers.search): raw Dirichlet candidates, local
refinement, and the chain of both."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mixers.search import dirichlet_candidates, dirichlet_draws, maximize, refine
from mixers.simplex import sample_dirichlet
from mixers.types import DomainSpec, FloatArray, Objective, Problem


def bounded_problem() -> Problem:
    return Problem(domains=(DomainSpec("a", tokens=6.0, max_weight=0.5), DomainSpec("b", tokens=3.0, min_weight=0.2),
                            DomainSpec("c", tokens=1.0)),
                   objective=Objective({"loss": 1.0}))


def test_one_strength_draws_exactly_what_one_dirichlet_draws() -> None:
    alpha = np.array([0.5, 0.3, 0.2]) * 3
    got = dirichlet_draws(np.random.default_rng(4), alpha, 50)
    np.testing.assert_array_equal(got, sample_dirichlet(np.random.default_rng(4), alpha, 50))


def test_several_strengths_and_centres_spread_the_draws() -> None:
    alpha = np.full(3, 1.0)
    centers = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    draws = dirichlet_draws(np.random.default_rng(0), alpha, 400, (0.1, 10.0), centers, (300.0,))
    np.testing.assert_allclose(draws.sum(axis=1), 1.0)
    # 300 global draws, then 50 around each centre, in the order of the centres.
    assert draws.shape == (400, 3)
    for k, c in enumerate(centers):
        local = draws[300 + 50 * k : 350 + 50 * k]
        assert np.abs(local - c).max(axis=1).mean() < 0.05
    # Strength 0.1 puts draws near the corners, 10 near the centre of the simplex: both kinds are there.
    peak = draws[:300].max(axis=1)
    assert (peak > 0.9).sum() > 30 and (peak < 0.6).sum() > 30


def test_candidates_drop_infeasible_draws_or_project_them_all() -> None:
    problem = bounded_problem()
    kept = dirichlet_candidates(np.random.default_rng(1), problem, 500)
    assert not kept.projected and len(kept.mixtures) == kept.n_feasible < 500
    assert problem.feasible(kept.mixtures).all()
    every = dirichlet_candidates(np.random.default_rng(1), problem, 500, concentration=3, strengths=(0.5, 2.0),
                                 project_all=True)
    assert every.projected and len(every.mixtures) == 500 and problem.feasible(every.mixtures).all()
    np.testing.assert_allclose(every.mixtures.sum(axis=1), 1.0)


def bowl(opt: FloatArray) -> Callable[[FloatArray], FloatArray]:
    def score(w: FloatArray) -> FloatArray:
        return np.asarray(-((np.atleast_2d(w) - opt) ** 2).sum(axis=1))

    return score


def test_refinement_climbs_within_the_bounds_and_never_loses() -> None:
    problem = bounded_problem()
    lo, hi = problem.bounds()
    score = bowl(np.array([0.45, 0.25, 0.3]))
    starts = dirichlet_candidates(np.random.default_rng(2), problem, 20).mixtures[:5]
    best, best_s = refine(np.random.default_rng(3), score, starts, score(starts), lo, hi)
    assert np.all(best_s >= score(starts)) and np.any(best_s > score(starts))
    np.testing.assert_allclose(best_s, score(best))
    assert problem.feasible(best).all()
    same, _ = refine(np.random.default_rng(3), score, starts, score(starts), lo, hi, steps=())
    np.testing.assert_array_equal(same, starts)


def test_maximize_finds_the_optimum_on_a_bound() -> None:
    problem = bounded_problem()
    lo, hi = problem.bounds()
    # The unconstrained optimum puts 0.7 on "a", over its max_weight 0.5: the answer sits on that bound.
    score = bowl(np.array([0.7, 0.2, 0.1]))
    cands = dirichlet_candidates(np.random.default_rng(5), problem, 256).mixtures
    w, s = maximize(np.random.default_rng(6), score, cands, 4, lo, hi)
    assert s >= score(cands).max()
    assert w[0] == pytest.approx(0.5, abs=0.01) and w[1] >= 0.2 - 1e-9
