"""Tests of the ``aioli`` online mixer: the round's numerics against hand-computed cases, and whole sessions
driven by a synthetic training run whose losses follow a known linear interaction matrix."""

from __future__ import annotations

import copy
import itertools
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mixers.aioli import (
    AioliConfig,
    AioliMixer,
    domain_importance,
    eg_update,
    ema_combine,
    normalize_interactions,
    smoothed_one_hots,
    solve_interactions,
)
from mixers.base import MixerError
from mixers.registry import get_mixer_class, parse_config
from mixers.types import Directive, DomainSpec, Objective, Problem, Report

REPO = Path(__file__).resolve().parents[2]

# Training on domain c lowers every loss; a and b only help themselves.
A_TRUE = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])


def problem(names: str = "abc", objective: Objective | None = None, **bounds: dict[str, float]) -> Problem:
    lo = bounds.get("lo", {})
    hi = bounds.get("hi", {})
    return Problem(
        domains=tuple(DomainSpec(n, min_weight=lo.get(n), max_weight=hi.get(n)) for n in names),
        objective=objective or Objective({"loss": 1.0}),
    )


def small(**kw: Any) -> AioliConfig:
    """3 domains: sweeps take 2 * 3 * 3 = 18 steps of each 50-step round."""
    return AioliConfig(**{"lp_rounds": 2, "lp_steps": 3, "round_steps": 50, **kw})


def drive(
    mixer: AioliMixer,
    total: int | None,
    a_at: Callable[[int], np.ndarray] = lambda step: A_TRUE,
    initial: np.ndarray | None = None,
    rate: float = 0.01,
) -> list[tuple[dict[str, Any], Directive]]:
    """Run a session to the end; training at p for n steps from step s lowers L by n * rate * a_at(s) @ p.

    Every state goes through JSON on its way back to the mixer, as it does through the database.
    """
    state, directive = mixer.start(total, initial)
    out = [(state, directive)]
    losses = np.full(mixer.problem.d, 10.0)
    step = 0
    while not directive.done:
        losses = losses - (directive.until_step - step) * rate * a_at(step) @ directive.weights
        step = directive.until_step
        state, directive = mixer.observe(json.loads(json.dumps(state)), Report(step, losses))
        out.append((state, directive))
        assert len(out) < 10_000
    return out


def exploit_states(trace: list[tuple[dict[str, Any], Directive]]) -> list[dict[str, Any]]:
    return [s for s, _ in trace if s["phase"] == "exploit"]


# -- the round's numerics ---------------------------------------------------------------------------


def test_smoothed_one_hots() -> None:
    np.testing.assert_allclose(smoothed_one_hots(2, 0.625), [[0.625, 0.375], [0.375, 0.625]])
    np.testing.assert_allclose(smoothed_one_hots(3, 0.5), [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(smoothed_one_hots(1, 0.625), [[1.0]])


def test_solve_two_domains() -> None:
    # A = [[2, 1], [0, 3]], W = [[.625, .375], [.375, .625]]; beta[i, j] = A[i] . W[j] by hand:
    # beta[0] = [2*.625 + 1*.375, 2*.375 + 1*.625] = [1.625, 1.375]; beta[1] = [3*.375, 3*.625] = [1.125, 1.875].
    beta = np.array([[1.625, 1.375], [1.125, 1.875]])
    a = solve_interactions(beta, smoothed_one_hots(2, 0.625))
    np.testing.assert_allclose(a, [[2.0, 1.0], [0.0, 3.0]], atol=1e-12)


def test_solve_three_domains() -> None:
    # W = (I + J) / 4, so W^-1 = 4 I - J and A[i, j] = 4 beta[i, j] - sum_k beta[i, k].
    beta = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    a = solve_interactions(beta, smoothed_one_hots(3, 0.5))
    np.testing.assert_allclose(a, [[3.0, -1.0, -1.0], [-2.0, 6.0, -2.0], [1.0, 1.0, 1.0]], atol=1e-12)


def test_solve_singular_w_still_fits_beta() -> None:
    # Domain c pinned at 0.2: its column of W is constant, W is singular; the min-norm A reproduces beta.
    w = np.array([[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.4, 0.4, 0.2]])
    assert np.linalg.matrix_rank(w) == 2
    beta = A_TRUE @ w.T
    a = solve_interactions(beta, w)
    np.testing.assert_allclose(a @ w.T, beta, atol=1e-12)


def test_normalize_shifts_negative_minimum_and_divides() -> None:
    a = np.array([[3.0, -1.0, -1.0], [-2.0, 6.0, -2.0], [1.0, 1.0, 1.0]])
    # + 2 everywhere -> [[5, 1, 1], [0, 8, 0], [3, 3, 3]], total 24.
    expected = np.array([[5.0, 1.0, 1.0], [0.0, 8.0, 0.0], [3.0, 3.0, 3.0]]) / 24.0
    np.testing.assert_allclose(normalize_interactions(a), expected)
    np.testing.assert_allclose(a, [[3.0, -1.0, -1.0], [-2.0, 6.0, -2.0], [1.0, 1.0, 1.0]])  # input kept


def test_normalize_without_shift_and_zero_total() -> None:
    np.testing.assert_allclose(normalize_interactions(np.array([[1.0, 3.0], [0.0, 4.0]])), [[0.125, 0.375], [0, 0.5]])
    np.testing.assert_array_equal(normalize_interactions(np.full((2, 2), -3.0)), np.zeros((2, 2)))
    np.testing.assert_array_equal(normalize_interactions(np.zeros((3, 3))), np.zeros((3, 3)))


def test_ema_combine() -> None:
    a1 = np.array([[0.5, 0.0], [0.25, 0.25]])
    a2 = np.array([[0.0, 0.5], [0.5, 0.0]])
    np.testing.assert_array_equal(ema_combine(a1, None, 0.1), a1)
    np.testing.assert_allclose(ema_combine(a2, a1, 0.1), [[0.05, 0.45], [0.475, 0.025]])


def test_eg_update_numbers() -> None:
    a = np.array([[5.0, 1.0, 1.0], [0.0, 8.0, 0.0], [3.0, 3.0, 3.0]]) / 24.0  # column sums 1/3, 1/2, 1/6
    e = [math.exp(0.2 / 3), math.exp(0.1), math.exp(0.2 / 6)]
    np.testing.assert_allclose(eg_update(np.full(3, 1 / 3), a, 0.2), np.array(e) / sum(e))
    base = [0.5, 0.25, 0.25]
    num = [b * x for b, x in zip(base, e, strict=True)]
    np.testing.assert_allclose(eg_update(np.array(base), a, 0.2), np.array(num) / sum(num))
    # a zero weight stays zero; huge steps do not overflow
    p = eg_update(np.array([0.0, 0.5, 0.5]), a, 1e4)
    assert p[0] == 0.0 and np.isfinite(p).all() and p.sum() == pytest.approx(1.0)


def test_eg_update_weighs_domain_losses_by_importance() -> None:
    a = np.array([[5.0, 1.0, 1.0], [0.0, 8.0, 0.0], [3.0, 3.0, 3.0]]) / 24.0
    c = np.array([3.0, 0.0, 0.0])  # only domain 0's loss counts: gains are row 0 times 3
    e = [math.exp(0.2 * 3 * 5 / 24), math.exp(0.2 * 3 * 1 / 24), math.exp(0.2 * 3 * 1 / 24)]
    np.testing.assert_allclose(eg_update(np.full(3, 1 / 3), a, 0.2, c), np.array(e) / sum(e))
    np.testing.assert_allclose(eg_update(np.full(3, 1 / 3), a, 0.2, np.ones(3)), eg_update(np.full(3, 1 / 3), a, 0.2))


@pytest.mark.parametrize(
    ("metrics", "direction", "expected"),
    [
        ({"loss": 1.0}, "minimize", [1.0, 1.0, 1.0]),  # not a domain loss: the mean of the domain losses
        ({"val/a": 2.0, "b": 1.0}, "minimize", [2.0, 1.0, 0.0]),  # scaled to sum d = 3
        ({"a": 1.0, "val/a": 1.0, "c": 2.0}, "minimize", [1.5, 0.0, 1.5]),
        ({"a": 1.0, "target": 1.0}, "minimize", [1.0, 1.0, 1.0]),  # mixed with a metric reports lack
        ({"a": 1.0}, "maximize", [1.0, 1.0, 1.0]),
        ({"a": 1.0, "b": -1.0}, "minimize", [1.0, 1.0, 1.0]),
        ({"a": 0.0}, "minimize", [1.0, 1.0, 1.0]),
    ],
)
def test_domain_importance_from_objective(metrics: dict[str, float], direction: str, expected: list[float]) -> None:
    prob = problem(objective=Objective(metrics, direction))  # type: ignore[arg-type]
    np.testing.assert_allclose(domain_importance(prob), expected)


# -- whole sessions ---------------------------------------------------------------------------------


def test_directive_step_sequence_and_done() -> None:
    trace = drive(AioliMixer(problem(), small(ema=None), seed=0), 120)
    steps = [d.until_step for _, d in trace]
    round1 = [3, 6, 9, 12, 15, 18, 50]  # 2 sweeps x 3 domains x 3 steps, then train to the round end
    round2 = [53, 56, 59, 62, 65, 68, 100]
    round3 = [103, 106, 109, 112, 115, 118, 120]  # cut at total_steps
    assert steps == [0, *round1, *round2, *round3, 120]  # the last report is answered with done
    assert [d.done for _, d in trace] == [False] * 22 + [True]
    final_state, final = trace[-1]
    assert final_state["phase"] == "done"
    np.testing.assert_allclose(final.weights, trace[-2][1].weights)


def test_sweeps_are_permutations_of_smoothed_one_hots() -> None:
    trace = drive(AioliMixer(problem(), small(), seed=3), 120)
    w = smoothed_one_hots(3, 0.625)
    sweep_dirs = [d for s, d in trace[:7] if s["phase"] == "sweep"]
    assert len(sweep_dirs) == 6
    for k in range(2):
        chosen = [int(np.argmax(d.weights)) for d in sweep_dirs[3 * k : 3 * k + 3]]
        assert sorted(chosen) == [0, 1, 2]
        for j, d in zip(chosen, sweep_dirs[3 * k : 3 * k + 3], strict=True):
            np.testing.assert_allclose(d.weights, w[j])


def test_session_recovers_interactions_and_moves_toward_helpful_domain() -> None:
    trace = drive(AioliMixer(problem(), small(ema=None), seed=0), 300)
    states = exploit_states(trace)
    assert len(states) == 6
    for s in states:  # linear losses: the solve is exact, whatever the permutation
        np.testing.assert_allclose(s["a"], normalize_interactions(A_TRUE), atol=1e-9)
    pc = [s["p"][2] for s in states]
    assert all(x < y for x, y in itertools.pairwise(pc)) and pc[0] > 1 / 3
    # cumulative EG: after r rounds p is proportional to exp(r * eta * column sums of normalize(A_TRUE))
    col = normalize_interactions(A_TRUE).sum(axis=0)
    for r, s in enumerate(states, start=1):
        expected = np.exp(r * 0.2 * col)
        np.testing.assert_allclose(s["p"], expected / expected.sum(), rtol=1e-9)


def test_session_follows_an_objective_over_some_domains() -> None:
    """Only a's loss counts: b (which helps only itself) is dropped, a gains against the equal-weight session."""
    weighted = exploit_states(drive(AioliMixer(problem(objective=Objective({"val/a": 1.0})), small(ema=None), 0), 300))
    equal = exploit_states(drive(AioliMixer(problem(), small(ema=None), seed=0), 300))
    c = np.array([3.0, 0.0, 0.0])
    for r, s in enumerate(weighted, start=1):
        expected = np.exp(r * 0.2 * c @ normalize_interactions(A_TRUE))
        np.testing.assert_allclose(s["p"], expected / expected.sum(), rtol=1e-9)
    assert weighted[-1]["p"][0] > equal[-1]["p"][0] and weighted[-1]["p"][1] < equal[-1]["p"][1]


def test_ema_over_two_rounds() -> None:
    a2 = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])  # after step 50 domain a helps most
    mixer = AioliMixer(problem(), small(ema=0.1), seed=1)
    states = exploit_states(drive(mixer, 100, a_at=lambda step: A_TRUE if step < 50 else a2))
    assert len(states) == 2
    n1, n2 = normalize_interactions(A_TRUE), normalize_interactions(a2)
    np.testing.assert_allclose(states[0]["a_ema"], n1, atol=1e-9)
    np.testing.assert_allclose(states[1]["a_ema"], 0.9 * n2 + 0.1 * n1, atol=1e-9)
    for s, a in zip(states, (n1, 0.9 * n2 + 0.1 * n1), strict=True):  # from uniform each round
        e = np.exp(0.2 * a.sum(axis=0))
        np.testing.assert_allclose(s["p"], e / e.sum(), rtol=1e-9)
    assert np.argmax(states[0]["p"]) == 2 and np.argmax(states[1]["p"]) == 0


def test_ema_mode_restarts_from_initial_weights() -> None:
    p0 = np.array([0.5, 0.3, 0.2])
    states = exploit_states(drive(AioliMixer(problem(), small(), seed=0), 100, initial=p0))
    e = p0 * np.exp(0.2 * normalize_interactions(A_TRUE).sum(axis=0))
    np.testing.assert_allclose(states[-1]["p"], e / e.sum(), rtol=1e-9)


def test_truncated_last_round_trains_remainder_at_current_mixture() -> None:
    trace = drive(AioliMixer(problem(), small(), seed=0), 115)
    steps = [d.until_step for _, d in trace]
    # at 100 only 15 steps remain, fewer than the 18 sweep steps + 1: no sweeps, train to 115 at p
    assert steps[-3:] == [100, 115, 115]
    assert trace[-2][0]["phase"] == "tail"
    np.testing.assert_allclose(trace[-2][1].weights, trace[-3][0]["p"])
    assert trace[-1][1].done
    # 18 steps left: the sweeps would fit but leave no step at the learned mixture, so no sweeps either
    assert [d.until_step for _, d in drive(AioliMixer(problem(), small(), seed=0), 118)][-3:] == [100, 118, 118]
    # the exact fit: 100 + 18 + 1 = 119 steps still sweep
    assert [d.until_step for _, d in drive(AioliMixer(problem(), small(), seed=0), 119)][-3:] == [118, 119, 119]


def test_session_shorter_than_sweeps() -> None:
    trace = drive(AioliMixer(problem(), small(), seed=0), 10, initial=np.array([0.2, 0.3, 0.5]))
    assert [(d.until_step, d.done) for _, d in trace] == [(0, False), (10, False), (10, True)]
    for _, d in trace:
        np.testing.assert_allclose(d.weights, [0.2, 0.3, 0.5])


def test_prior_steps() -> None:
    p0 = np.array([0.6, 0.3, 0.1])
    trace = drive(AioliMixer(problem(), small(prior_steps=10), seed=0), 70, initial=p0)
    steps = [d.until_step for _, d in trace]
    assert steps == [0, 10, 13, 16, 19, 22, 25, 28, 60, 70, 70]
    np.testing.assert_allclose(trace[1][1].weights, p0)  # the prior stretch trains at the given mixture
    assert trace[1][0]["phase"] == "prior" and trace[1][0]["round"] == 0
    assert trace[2][0]["round"] == 1 and trace[2][0]["round_start"] == 10


def test_bounds_respected_and_projected_one_hots_used() -> None:
    prob = problem(lo={"a": 0.1}, hi={"c": 0.4})
    trace = drive(AioliMixer(prob, small(ema=None, eta=5.0), seed=0), 300)
    lo, hi = prob.bounds()
    for _, d in trace:
        assert d.weights.sum() == pytest.approx(1.0)
        assert np.all(d.weights >= lo - 1e-9) and np.all(d.weights <= hi + 1e-9)
    # the one-hot of c, [.1875, .1875, .625], violates max 0.4: projected to [.3, .3, .4]
    w = np.array(trace[1][0]["w"])
    np.testing.assert_allclose(w[2], [0.3, 0.3, 0.4], atol=1e-9)
    np.testing.assert_allclose(w[0], [0.625, 0.1875, 0.1875])
    # the solve uses the rows actually trained, so A is still exact; the mixture hits c's cap
    states = exploit_states(trace)
    np.testing.assert_allclose(states[0]["a"], normalize_interactions(A_TRUE), atol=1e-9)
    assert states[-1]["p"][2] == pytest.approx(0.4)


def test_single_domain() -> None:
    trace = drive(AioliMixer(problem("a"), small(), seed=0), 120, a_at=lambda step: np.ones((1, 1)))
    assert trace[-1][1].done
    for _, d in trace:
        np.testing.assert_allclose(d.weights, [1.0])


# -- state, reproducibility, rejections ------------------------------------------------------------


def test_state_is_json_and_round_trip_gives_same_answer() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    trace = drive(mixer, 120)
    for (state, directive), (_, nxt) in itertools.pairwise(trace):
        assert json.loads(json.dumps(state)) == state
        losses = np.linspace(5.0, 6.0, 3)
        s1, d1 = mixer.observe(state, Report(directive.until_step, losses))
        s2, d2 = mixer.observe(json.loads(json.dumps(state)), Report(directive.until_step, losses))
        assert s1 == s2 and d1.until_step == d2.until_step == nxt.until_step
        np.testing.assert_array_equal(d1.weights, d2.weights)


def test_observe_does_not_mutate_state() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    for state, directive in drive(mixer, 120)[:-1]:
        before = copy.deepcopy(state)
        mixer.observe(state, Report(directive.until_step, np.array([9.0, 8.0, 7.0])))
        assert state == before


def test_same_seed_same_session_and_seeds_differ() -> None:
    def run(seed: int | None) -> list[tuple[int, list[float]]]:
        return [(d.until_step, d.weights.tolist()) for _, d in drive(AioliMixer(problem(), small(), seed), 300)]

    assert run(7) == run(7)
    assert run(7) != run(8)  # different sweep orders


def test_replay_from_state_without_seed() -> None:
    """A seedless mixer draws a seed into the state; a fresh mixer continues identically from that state."""
    first = drive(AioliMixer(problem(), small(), seed=None), 300)
    state, directive = first[10]
    losses = np.array([7.0, 7.5, 8.0])
    other = AioliMixer(problem(), small(), seed=None)
    s1, d1 = AioliMixer(problem(), small(), seed=None).observe(state, Report(directive.until_step, losses))
    s2, d2 = other.observe(state, Report(directive.until_step, losses))
    assert s1 == s2
    np.testing.assert_array_equal(d1.weights, d2.weights)


def test_same_seed_in_another_process() -> None:
    code = (
        "import json, numpy as np\n"
        "from mixers.aioli import AioliMixer, AioliConfig\n"
        "from mixers.types import Problem, DomainSpec, Objective, Report\n"
        "p = Problem(tuple(DomainSpec(n) for n in 'abc'), Objective({'loss': 1.0}))\n"
        "m = AioliMixer(p, AioliConfig(lp_rounds=2, lp_steps=3, round_steps=50), seed=11)\n"
        "s, d = m.start(120)\n"
        "out = []\n"
        "while not d.done:\n"
        "    s, d = m.observe(s, Report(d.until_step, np.array([3.0, 2.0, 1.0]) - d.until_step / 100))\n"
        "    out.append(s['perm'])\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    mixer = AioliMixer(problem(), small(), seed=11)
    state, d = mixer.start(120)
    here = []
    while not d.done:
        state, d = mixer.observe(state, Report(d.until_step, np.array([3.0, 2.0, 1.0]) - d.until_step / 100))
        here.append(state["perm"])
    assert json.loads(res.stdout) == here


def test_report_rejections() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    state, d = mixer.start(120)
    state, d = mixer.observe(state, Report(0, np.ones(3)))
    assert d.until_step == 3
    for bad in (
        Report(4, np.ones(3)),  # not the step asked for
        Report(0, np.ones(3)),
        Report(3, np.array([1.0, np.nan, 1.0])),
        Report(3, np.array([1.0, np.inf, 1.0])),
        Report(3, np.ones(2)),
        Report(3, np.ones((3, 1))),
    ):
        with pytest.raises(MixerError):
            mixer.observe(state, bad)
    done_state, done = drive(mixer, 120)[-1]
    assert done.done
    with pytest.raises(MixerError, match="done"):
        mixer.observe(done_state, Report(120, np.ones(3)))
    with pytest.raises(MixerError, match="another config"):
        AioliMixer(problem(), small(eta=0.3), seed=0).observe(state, Report(3, np.ones(3)))
    with pytest.raises(MixerError):
        mixer.observe({"phase": "sweep"}, Report(3, np.ones(3)))


def test_start_rejections_and_config_total_steps() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    with pytest.raises(MixerError, match="total_steps"):
        mixer.start()
    for bad in (np.array([0.5, 0.5]), np.array([0.5, np.nan, 0.5]), np.array([-0.1, 0.6, 0.5]), np.zeros(3)):
        with pytest.raises(MixerError, match="initial_weights"):
            mixer.start(100, bad)
    state, d = AioliMixer(problem(), small(total_steps=90), seed=0).start()
    assert state["total_steps"] == 90 and d.until_step == 0
    np.testing.assert_allclose(d.weights, np.full(3, 1 / 3))
    with pytest.raises(MixerError, match="infeasible"):
        AioliMixer(problem(lo={"a": 0.6, "b": 0.6}), small(), seed=0).start(100)


def test_sweeps_must_fit_in_round_for_this_many_domains() -> None:
    cfg = AioliConfig(round_steps=48)  # 4 * 4 = 16 < 48 passes the config check
    with pytest.raises(MixerError, match="do not fit"):
        AioliMixer(problem(), cfg, seed=0).start(1000)  # 4 * 3 * 4 = 48 >= 48
    AioliMixer(problem(), AioliConfig(round_steps=49), seed=0).start(1000)


@pytest.mark.parametrize(
    "bad",
    [
        {"lp_rounds": 0},
        {"lp_steps": 0},
        {"eta": 0.0},
        {"eta": float("inf")},
        {"one_hot_factor": 0.0},
        {"one_hot_factor": 1.5},
        {"ema": 1.0},
        {"ema": -0.1},
        {"prior_steps": -1},
        {"total_steps": 0},
        {"lp_rounds": 5, "lp_steps": 10, "round_steps": 50},  # sweeps over even one domain fill the round
        {"learning_rate": 0.1},  # unknown field
    ],
)
def test_config_rejections(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_config("aioli", bad)


def test_registered_with_defaults() -> None:
    assert get_mixer_class("aioli") is AioliMixer and AioliMixer.kind == "online"
    cfg = AioliConfig()
    got = (cfg.lp_rounds, cfg.lp_steps, cfg.eta, cfg.one_hot_factor, cfg.ema, cfg.round_steps)
    assert got == (4, 4, 0.2, 0.625, 0.1, 250)
    assert cfg.prior_steps == 0 and cfg.total_steps is None
    assert AioliConfig(ema=None).ema is None


def test_summary() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    trace = drive(mixer, 120)
    state, directive = trace[3]
    summ = mixer.summary(state)
    json.dumps(summ)
    assert summ["phase"] == "sweep" and summ["round"] == 1 and summ["next_step"] == directive.until_step == 9
    assert summ["sweep_domain"] == "abc"[int(np.argmax(directive.weights))]
    assert list(summ["weights"]) == ["a", "b", "c"]
    np.testing.assert_allclose(list(summ["weights"].values()), directive.weights)
    last = mixer.summary(trace[-1][0])
    assert last["phase"] == "done" and last["mixture"]["c"] == max(last["mixture"].values())
    assert last["mean_loss"] == pytest.approx(np.mean(list(last["last_losses"].values())))


# -- a target objective that is not a training domain -------------------------------------------------

# The held-out target's loss falls most when domain b is trained (the domain rows, A_TRUE, favour c).
TARGET_ROW = np.array([0.2, 1.5, 0.3])


def drive_target(
    mixer: AioliMixer, total: int, carry: Callable[[int], bool] = lambda step: True, rate: float = 0.01
) -> list[tuple[dict[str, Any], Directive]]:
    """Like :func:`drive`, with a ``val/target`` metric reported whenever ``carry(step)``."""
    state, directive = mixer.start(total)
    out = [(state, directive)]
    losses, target, step = np.full(mixer.problem.d, 10.0), 10.0, 0
    while not directive.done:
        n = directive.until_step - step
        losses = losses - n * rate * A_TRUE @ directive.weights
        target -= n * rate * float(TARGET_ROW @ directive.weights)
        step = directive.until_step
        metrics = {"val/target": target} if carry(step) else {}
        state, directive = mixer.observe(json.loads(json.dumps(state)), Report(step, losses, metrics))
        out.append((state, directive))
    return out


def test_target_metric_rows_move_the_mixture_towards_the_domain_that_helps_the_target() -> None:
    prob = problem(objective=Objective({"val/target": 1.0}))
    states = exploit_states(drive_target(AioliMixer(prob, small(ema=None), seed=0), 300))
    assert len(states) == 6 and states[0]["targets"] == ["val/target"]
    row = normalize_interactions(TARGET_ROW[None, :])
    for s in states:  # linear target loss: the solve recovers its row of A exactly
        np.testing.assert_allclose(s["a"], row, atol=1e-9)
    for r, s in enumerate(states, start=1):
        expected = np.exp(r * 0.2 * row[0])
        np.testing.assert_allclose(s["p"], expected / expected.sum(), rtol=1e-9)
    pb = [s["p"][1] for s in states]
    assert all(x < y for x, y in itertools.pairwise(pb)) and pb[-1] == max(states[-1]["p"])
    # the same session without the target in its reports falls back to the domain losses, which favour c
    fallback = exploit_states(drive_target(AioliMixer(prob, small(ema=None), seed=0), 300, carry=lambda s: False))
    assert fallback[-1]["targets"] is None and int(np.argmax(fallback[-1]["p"])) == 2
    summ = AioliMixer(prob, small(ema=None), seed=0).summary(states[-1])
    assert summ["rows"] == "objective" and list(summ["last_targets"]) == ["val/target"]


def test_target_rows_mix_objective_metrics_and_domain_losses_and_maximize_flips_the_sign() -> None:
    # objective = target + a's loss: rows [target, a], both from the report (a from the domain losses)
    prob = problem(objective=Objective({"val/target": 1.0, "val/a": 1.0}))
    states = exploit_states(drive_target(AioliMixer(prob, small(ema=None), seed=0), 120))
    rows = normalize_interactions(np.vstack([TARGET_ROW, A_TRUE[0]]))
    np.testing.assert_allclose(states[0]["a"], rows, atol=1e-9)
    expected = np.exp(0.2 * rows.sum(axis=0))
    np.testing.assert_allclose(states[0]["p"], expected / expected.sum(), rtol=1e-9)
    # maximizing the metric (say, an accuracy that falls as b is trained) moves away from b
    maxi = problem(objective=Objective({"val/target": 1.0}, "maximize"))
    p = exploit_states(drive_target(AioliMixer(maxi, small(ema=None), seed=0), 300))[-1]["p"]
    assert int(np.argmin(p)) == 1


def test_target_session_rejects_a_later_report_without_the_target() -> None:
    prob = problem(objective=Objective({"val/target": 1.0}))
    mixer = AioliMixer(prob, small(), seed=0)
    with pytest.raises(MixerError, match="val/target"):
        drive_target(mixer, 120, carry=lambda step: step < 9)
    bad = drive_target(mixer, 120)[1][0]  # a state after the step-0 report
    with pytest.raises(MixerError, match="finite"):
        mixer.observe(bad, Report(3, np.full(3, 9.0), {"val/target": float("nan")}))


def test_version_1_state_still_loads() -> None:
    mixer = AioliMixer(problem(), small(), seed=0)
    state = drive(mixer, 120)[2][0]
    old = {k: v for k, v in state.items() if k not in ("targets", "last_targets")} | {"version": 1}
    _, directive = mixer.observe(old, Report(state["next_step"], np.full(3, 9.0)))
    _, expected = mixer.observe(state, Report(state["next_step"], np.full(3, 9.0)))
    np.testing.assert_allclose(directive.weights, expected.weights)
