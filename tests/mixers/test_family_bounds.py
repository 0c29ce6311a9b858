"""Bounds on family totals: the projection (exact against SLSQP, infeasible bounds rejected, the path without family
bounds unchanged) and every offline mixer's recommendation and proposals within a family max and a family min."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize

import mixers
from mixers.families import build_families
from mixers.search import FAMILY_PROJECTED, dirichlet_candidates
from mixers.simplex import project_to_bounds
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem, Report
from tests.mixers.conftest import LOW

OFFLINE = sorted(n for n in mixers.available() if mixers.get_mixer_class(n).kind == "offline")
NAMES = ("web/high", "web/low", "code/py", "code/c", "books", "math")
# The loss is lowest near OPT: web 0.7 in total (over its max 0.35), code 0.1 (under its min 0.3).
OPT = np.array([0.45, 0.25, 0.05, 0.05, 0.1, 0.1])
BOUNDS = {"web": (None, 0.35), "code": (0.3, None)}


def family_problem(bounds: Any = None) -> Problem:
    rng = np.random.default_rng(12)
    emb = {n: rng.normal(i, 1.0, size=(12, 6)).astype(np.float32) for i, n in enumerate(NAMES)}
    emb["target"] = rng.normal(1.0, 1.0, size=(10, 6)).astype(np.float32)
    return Problem(
        domains=tuple(DomainSpec(n, tokens=1e9) for n in NAMES),
        objective=Objective({"loss": 1.0}),
        target_fidelity={"params": 1e8, "tokens": 1e10},
        embeddings=emb,
        families=build_families(NAMES, BOUNDS if bounds is None else bounds),
    )


def family_observations() -> list[Observation]:
    rng = np.random.default_rng(4)
    w = rng.dirichlet(np.ones(len(NAMES)), size=40)
    return [
        Observation(
            weights=row,
            fidelity=dict(LOW),
            metrics={"loss": 2.0 + 3.0 * float(np.sum((row - OPT) ** 2)) + 0.01 * rng.normal()},
        )
        for row in w
    ]


def assert_in_family_bounds(w: FloatArray, problem: Problem) -> None:
    w = np.atleast_2d(w)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-6)
    assert problem.feasible(w, tol=1e-6).all(), (w[:, :2].sum(axis=1), w[:, 2:4].sum(axis=1))


def test_projection_matches_a_constrained_solver() -> None:
    problem = family_problem()
    lo, hi = problem.bounds()
    rng = np.random.default_rng(0)
    x = rng.normal(0.2, 0.3, size=(5, problem.d))
    y = project_to_bounds(x, lo, hi, families=problem.families)
    assert_in_family_bounds(y, problem)
    a = np.zeros((2, problem.d))
    a[0, :2], a[1, 2:4] = -1.0, 1.0
    cons = [
        {"type": "eq", "fun": lambda p: p.sum() - 1.0},
        {"type": "ineq", "fun": lambda p: a @ p + np.array([0.35, -0.3])},
    ]
    for row, got in zip(x, y, strict=True):
        res = minimize(
            lambda p, r=row: float(np.sum((p - r) ** 2)),
            np.full(problem.d, 1 / problem.d),
            bounds=list(zip(lo, hi, strict=True)),
            constraints=cons,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        assert np.abs(res.x - got).max() < 1e-6


def test_no_family_bounds_keeps_the_plain_projection() -> None:
    problem = family_problem(bounds={})
    lo, hi = problem.bounds()
    x = np.random.default_rng(1).normal(0.2, 0.3, size=(7, problem.d))
    assert np.array_equal(project_to_bounds(x, lo, hi, families=problem.families), project_to_bounds(x, lo, hi))


@pytest.mark.parametrize(
    "bounds",
    [{"web": (0.6, None), "code": (0.5, None)}, {"web": (0.5, 0.4)}, {"web": (0.95, None), "code": (0.1, None)}],
)
def test_infeasible_family_bounds_raise(bounds: Any) -> None:
    problem = family_problem(bounds)
    lo, hi = problem.bounds()
    with pytest.raises(ValueError, match="family"):
        project_to_bounds(np.full(problem.d, 1 / problem.d), lo, hi, families=problem.families)


@pytest.mark.parametrize("name", OFFLINE)
def test_recommendation_and_proposals_respect_family_bounds(name: str) -> None:
    problem = family_problem()
    observations = family_observations()
    cls = mixers.get_mixer_class(name)
    mixer: Any = cls(problem, cls.Config(), 0)
    mixer = mixer.fit(observations)
    rec = mixer.recommend()
    assert_in_family_bounds(rec.weights, problem)
    runs = mixer.propose(4, LOW)
    assert len(runs) == 4
    assert_in_family_bounds(np.vstack([r.weights for r in runs]), problem)


@pytest.mark.parametrize("name", OFFLINE)
def test_infeasible_family_bounds_are_a_clear_error(name: str) -> None:
    problem = family_problem({"web": (0.6, None), "code": (0.5, None)})
    cls = mixers.get_mixer_class(name)
    mixer: Any = cls(problem, cls.Config(), 0)
    with pytest.raises((ValueError, mixers.MixerError), match="famil"):
        mixer.fit(family_observations()).recommend()


def test_candidates_under_a_tight_family_bound_are_projected_in_a_bounded_number() -> None:
    problem = family_problem({"code": (0.8, None)})
    cands = dirichlet_candidates(np.random.default_rng(0), problem, 20_000, min_feasible=128, concentration=60.0)
    assert cands.projected and cands.n_sampled == 20_000 and cands.n_feasible < 128
    assert len(cands.mixtures) == FAMILY_PROJECTED
    assert_in_family_bounds(cands.mixtures, problem)


def test_online_aioli_directives_respect_family_bounds() -> None:
    problem = family_problem()
    cls = mixers.get_mixer_class("aioli")
    mixer: Any = cls(problem, cls.Config(), 0)
    state, directive = mixer.start(1000)
    exposure, step, seen = np.zeros(problem.d), 0, [directive.weights]
    for _ in range(2000):
        if directive.done:
            break
        exposure = exposure + np.asarray(directive.weights) * (directive.until_step - step)
        step = directive.until_step
        losses = 3.0 - 0.4 * np.log1p(exposure / 50.0) * np.linspace(1.0, 0.5, problem.d)
        state, directive = mixer.observe(state, Report(step=step, losses=losses))
        seen.append(directive.weights)
    assert directive.done and len(seen) > 3
    assert_in_family_bounds(np.vstack(seen), problem)
