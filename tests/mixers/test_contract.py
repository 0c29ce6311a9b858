"""The mixer contract, run over every registered mixer (DESIGN 4).

Offline mixers: outputs on the simplex and within ``Problem.bounds()`` (max_weight, min_weight and an epoch
cap that bind); predictions finite; proposals distinct and never equal to an observed or pending run at the
same fidelity; a candidate pool is respected; the same seed gives the same answers, in this process and in
another one; a pickled fitted mixer answers identically; an empty history works for ``propose``, while
``recommend``/``predict`` answer validly when the mixer declares ``answers_without_runs`` and raise
``MixerError`` otherwise; ``propose(n=1)`` gives one run.
Online mixers: states are JSON, ``observe`` does not mutate its input, a JSON round trip of the state gives the
same next directive, directives stay in bounds, and a session replays identically in another process.
Every mixer: the default config is valid and a bad one raises ``pydantic.ValidationError``.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import mixers
from mixers import MixerError
from mixers.simplex import project_to_bounds
from mixers.types import FloatArray, Observation, PendingRun, Problem, Report, fidelity_key
from tests.mixers.conftest import HIGH, LOW, REPO, contract_observations, contract_pending, contract_problem

ALL = sorted(mixers.available())
OFFLINE = [n for n in ALL if mixers.get_mixer_class(n).kind == "offline"]
ONLINE = [n for n in ALL if mixers.get_mixer_class(n).kind == "online"]
TOL = 1e-6


def assert_valid_mixture(w: FloatArray, problem: Problem) -> None:
    w = np.asarray(w, dtype=np.float64)
    lo, hi = problem.bounds()
    assert w.shape == (problem.d,)
    assert np.all(np.isfinite(w))
    assert abs(w.sum() - 1.0) < TOL, w
    assert np.all(w >= lo - TOL), (w, lo)
    assert np.all(w <= hi + TOL), (w, hi)


def probe_mixtures(problem: Problem) -> FloatArray:
    lo, hi = problem.bounds()
    return project_to_bounds(np.random.default_rng(3).dirichlet(np.ones(problem.d), size=6), lo, hi)


def fresh_pool(problem: Problem) -> FloatArray:
    """Feasible mixtures that no observation or pending run uses."""
    lo, hi = problem.bounds()
    return project_to_bounds(np.random.default_rng(77).dirichlet(np.full(problem.d, 2.0), size=6), lo, hi)


def make(name: str, problem: Problem, seed: int | None = 0) -> Any:
    cls = mixers.get_mixer_class(name)
    return cls(problem, cls.Config(), seed)


def known_at(fid: dict[str, float], observations: list[Observation], pending: list[PendingRun]) -> FloatArray:
    runs: list[Observation | PendingRun] = [*observations, *pending]
    rows = [o.weights for o in runs if fidelity_key(o.fidelity) == fidelity_key(fid)]
    return np.vstack(rows)


# -- scenarios (also run in a subprocess, so plain functions of picklable inputs) -------------------------


def offline_scenario(
    name: str, seed: int, problem: Problem, observations: list[Observation], pending: list[PendingRun]
) -> dict[str, Any]:
    """Everything an offline mixer answers, as plain arrays (or the error message)."""
    mixer = make(name, problem, seed).fit(observations)
    out: dict[str, Any] = {}
    try:
        out["predict"] = np.asarray(mixer.predict(probe_mixtures(problem), LOW).mean)
    except MixerError as exc:
        out["predict"] = f"MixerError: {exc}"
    try:
        rec = mixer.recommend()
        out["recommend"] = (np.asarray(rec.weights), float(rec.predicted))
    except MixerError as exc:
        out["recommend"] = f"MixerError: {exc}"
    runs = mixer.propose(3, LOW, pending)
    out["propose"] = [(np.asarray(r.weights), fidelity_key(r.fidelity)) for r in runs]
    pool = mixer.propose(2, LOW, pending, candidates=fresh_pool(problem))
    out["propose_pool"] = [np.asarray(r.weights) for r in pool]
    return out


def fake_losses(exposure: FloatArray) -> FloatArray:
    """Per-domain validation loss after ``exposure`` ``(d,)`` steps of each domain (with some transfer)."""
    return np.asarray(2.0 + 3.0 / (1.0 + 0.01 * exposure + 0.003 * exposure.sum()), dtype=np.float64)


def online_scenario(
    name: str, seed: int, problem: Problem, total_steps: int = 1000, max_reports: int = 2000
) -> list[tuple[int, bool, list[float], str]]:
    """Drive a session with the fake trainer; each entry: until_step, done, weights, state JSON."""
    mixer = make(name, problem, seed)
    state, directive = mixer.start(total_steps)
    exposure = np.zeros(problem.d)
    step = 0
    trace = [(directive.until_step, directive.done, np.asarray(directive.weights).tolist(), json.dumps(state))]
    for _ in range(max_reports):
        if directive.done:
            break
        exposure = exposure + np.asarray(directive.weights) * (directive.until_step - step)
        step = directive.until_step
        state, directive = mixer.observe(state, Report(step=step, losses=fake_losses(exposure)))
        trace.append((directive.until_step, directive.done, np.asarray(directive.weights).tolist(), json.dumps(state)))
    return trace


def same(a: Any, b: Any) -> bool:
    """Exact equality of nested tuples/lists/dicts of arrays, floats and strings."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    return bool(a == b)


def run_in_subprocess(tmp_path: Path, call: str, args: tuple[Any, ...]) -> Any:
    """Run ``tests.mixers.test_contract.<call>(*args)`` in a fresh interpreter; return its result."""
    inp, out = tmp_path / "in.pkl", tmp_path / "out.pkl"
    inp.write_bytes(pickle.dumps(args))
    script = (
        "import pickle, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from tests.mixers import test_contract as t\n"
        f"args = pickle.loads(open({str(inp)!r}, 'rb').read())\n"
        f"res = t.{call}(*args)\n"
        f"open({str(out)!r}, 'wb').write(pickle.dumps(res))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pickle.loads(out.read_bytes())


# -- every mixer ----------------------------------------------------------------------------------------------


def test_registry_is_not_empty() -> None:
    assert {"regmix", "mixing_law"} <= set(ALL)


def _violations(schema: dict[str, Any]) -> list[Any]:
    """Values that break a numeric constraint of one JSON-schema property (looking inside anyOf)."""
    out: list[Any] = []
    for sub in [schema, *schema.get("anyOf", [])]:
        if "minimum" in sub:
            out.append(sub["minimum"] - 1)
        if "exclusiveMinimum" in sub:
            out.append(sub["exclusiveMinimum"])
        if "maximum" in sub:
            out.append(sub["maximum"] + 1)
        if "exclusiveMaximum" in sub:
            out.append(sub["exclusiveMaximum"])
    return out


@pytest.mark.parametrize("name", ALL)
def test_config_defaults_valid_and_bad_config_rejected(name: str) -> None:
    cfg_cls = mixers.get_mixer_class(name).Config
    cfg_cls.model_validate({})
    schema = cfg_cls.model_json_schema()
    with pytest.raises(ValidationError):
        cfg_cls.model_validate({"no_such_option": 1})
    checked = 0
    for field, prop in schema.get("properties", {}).items():
        for bad in _violations(prop):
            with pytest.raises(ValidationError):
                cfg_cls.model_validate({field: bad})
            checked += 1
        types = {prop.get("type"), *(s.get("type") for s in prop.get("anyOf", []))}
        if types & {"number", "integer", "boolean"}:
            with pytest.raises(ValidationError):
                cfg_cls.model_validate({field: "not-a-number"})
            checked += 1
        if "$ref" in prop or any("$ref" in s for s in prop.get("anyOf", [])):  # a nested config (reuse)
            for bad in ("not-an-object", {"no_such_option": 1}):
                with pytest.raises(ValidationError):
                    cfg_cls.model_validate({field: bad})
            checked += 1
    assert checked > 0 or not schema.get("properties"), "no constrained field was exercised"


# -- offline mixers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OFFLINE)
def test_recommend_and_predict_in_bounds(name: str, problem: Problem, observations: list[Observation]) -> None:
    mixer = make(name, problem).fit(observations)
    rec = mixer.recommend()
    assert_valid_mixture(rec.weights, problem)
    assert isinstance(rec.predicted, float) and np.isfinite(rec.predicted)
    assert rec.std is None or (np.isfinite(rec.std) and rec.std >= 0)
    pred = mixer.predict(probe_mixtures(problem), LOW)
    assert pred.mean.shape == (6,) and np.all(np.isfinite(pred.mean))
    assert pred.std is None or (pred.std.shape == (6,) and np.all(pred.std >= 0))


@pytest.mark.parametrize("name", OFFLINE)
def test_std_has_a_stated_meaning_and_held_out_std_aligns(
    name: str, problem: Problem, observations: list[Observation]
) -> None:
    """Every offline mixer says what its std is (or why it has none), and its cross-validated predictions carry a
    std aligned with the held-out runs whenever its own predictions do."""
    mixer = make(name, problem).fit(observations)
    meaning = mixer.std_meaning()
    assert isinstance(meaning, str) and meaning
    has_std = mixer.predict(probe_mixtures(problem), LOW).std is not None
    assert ("no std" in meaning) != has_std
    usable = [o for o in observations if o.fidelity == observations[0].fidelity]
    folds = [(usable[0::2], usable[1::2]), (usable[1::2], usable[0::2])]
    for (_, test), part in zip(folds, make(name, problem).cross_val_predictions(folds), strict=True):
        assert part.mean.shape == (len(test),)
        assert part.std is None or (part.std.shape == (len(test),) and np.all(part.std > 0))


@pytest.mark.parametrize("name", OFFLINE)
def test_propose_in_bounds_distinct_and_new(
    name: str, problem: Problem, observations: list[Observation], pending: list[PendingRun]
) -> None:
    mixer = make(name, problem).fit(observations)
    runs = mixer.propose(5, LOW, pending)
    assert len(runs) == 5
    w = np.vstack([r.weights for r in runs])
    for r in runs:
        assert_valid_mixture(r.weights, problem)
        assert fidelity_key(r.fidelity) == fidelity_key(LOW)
    gaps = np.abs(w[:, None, :] - w[None, :, :]).max(axis=2) + np.eye(5)
    assert gaps.min() > 1e-9, "a batch repeats a mixture"
    known = known_at(LOW, observations, pending)
    assert np.abs(w[:, None, :] - known[None, :, :]).max(axis=2).min() > 1e-9, "repeats an observed/pending run"


@pytest.mark.parametrize("name", OFFLINE)
def test_propose_one_and_fidelity_choice(name: str, problem: Problem, observations: list[Observation]) -> None:
    mixer = make(name, problem).fit(observations)
    one = mixer.propose(1, HIGH)
    assert len(one) == 1
    assert_valid_mixture(one[0].weights, problem)
    assert fidelity_key(one[0].fidelity) == fidelity_key(HIGH)
    choices = mixer.propose(2, None, (), None, [LOW, HIGH])
    assert len(choices) == 2
    assert {fidelity_key(r.fidelity) for r in choices} <= {fidelity_key(LOW), fidelity_key(HIGH)}


@pytest.mark.parametrize("name", OFFLINE)
def test_candidate_pool_respected(
    name: str, problem: Problem, observations: list[Observation], pending: list[PendingRun]
) -> None:
    fresh = fresh_pool(problem)
    known = [o.weights for o in observations if fidelity_key(o.fidelity) == fidelity_key(LOW)][:5]
    pool = np.vstack([*known, *(p.weights for p in pending), fresh])
    mixer = make(name, problem).fit(observations)
    runs = mixer.propose(4, LOW, pending, candidates=pool)
    assert 1 <= len(runs) <= 4
    picked = [int(np.flatnonzero(np.all(np.abs(pool - r.weights) <= 1e-12, axis=1))[0]) for r in runs]
    assert all(i >= len(pool) - len(fresh) for i in picked), f"picked an observed/pending row: {picked}"
    assert len(set(picked)) == len(picked)
    assert len(runs) == 4, "the pool had 6 eligible rows"


@pytest.mark.parametrize("name", OFFLINE)
def test_empty_history(name: str, problem: Problem) -> None:
    """Proposals always work; recommend/predict answer exactly when the mixer declares a prior model."""
    mixer = make(name, problem).fit([])
    runs = mixer.propose(3, LOW)
    assert len(runs) == 3
    for r in runs:
        assert_valid_mixture(r.weights, problem)
    if mixers.get_mixer_class(name).answers_without_runs:
        rec = mixer.recommend()
        assert_valid_mixture(rec.weights, problem)
        assert np.isfinite(rec.predicted)
        assert np.all(np.isfinite(mixer.predict(probe_mixtures(problem)).mean))
    else:
        with pytest.raises(MixerError, match="runs"):
            mixer.recommend()
        with pytest.raises(MixerError, match="runs"):
            mixer.predict(probe_mixtures(problem))


@pytest.mark.parametrize("name", OFFLINE)
def test_pickle_round_trip(name: str, problem: Problem, observations: list[Observation]) -> None:
    mixer = make(name, problem, seed=3).fit(observations)
    clone = pickle.loads(pickle.dumps(mixer))
    probe = probe_mixtures(problem)
    a, b = mixer.predict(probe), clone.predict(probe)
    assert np.array_equal(a.mean, b.mean)
    assert (a.std is None and b.std is None) or np.array_equal(a.std, b.std)
    assert np.array_equal(mixer.recommend().weights, clone.recommend().weights)


@pytest.mark.parametrize("name", OFFLINE)
def test_inputs_not_mutated(
    name: str, problem: Problem, observations: list[Observation], pending: list[PendingRun]
) -> None:
    before = [o.weights.copy() for o in observations] + [p.weights.copy() for p in pending]
    pool = fresh_pool(problem)
    pool_before = pool.copy()
    mixer = make(name, problem).fit(observations)
    mixer.propose(2, LOW, pending, candidates=pool)
    mixer.propose(2, LOW, pending)
    after = [o.weights for o in observations] + [p.weights for p in pending]
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))
    assert np.array_equal(pool, pool_before)


@pytest.mark.parametrize("name", OFFLINE)
def test_same_seed_same_answer_in_process(
    name: str, problem: Problem, observations: list[Observation], pending: list[PendingRun]
) -> None:
    a = offline_scenario(name, 11, problem, observations, pending)
    b = offline_scenario(name, 11, problem, observations, pending)
    assert same(a, b)
    # A fitted mixer answers a repeated request identically (the service caches fitted mixers).
    mixer = make(name, problem, 11).fit(observations)
    first = [r.weights for r in mixer.propose(2, LOW, pending)]
    mixer.predict(probe_mixtures(problem))
    assert same(first, [r.weights for r in mixer.propose(2, LOW, pending)])


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFLINE)
def test_same_seed_same_answer_in_subprocess(name: str, tmp_path: Path) -> None:
    problem = contract_problem()
    args = (name, 11, problem, contract_observations(problem), contract_pending(problem))
    here = offline_scenario(*args)
    there = run_in_subprocess(tmp_path, "offline_scenario", args)
    assert same(here, there)


# -- online mixers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ONLINE)
def test_session_in_bounds_and_json_state(name: str, problem: Problem) -> None:
    trace = online_scenario(name, 5, problem)
    assert trace[-1][1], "the session did not finish"
    steps = [t[0] for t in trace]
    assert steps == sorted(steps) and steps[-1] == 1000
    for _, _, w, state in trace:
        assert_valid_mixture(np.array(w), problem)
        json.loads(state)


@pytest.mark.parametrize("name", ONLINE)
def test_observe_pure_and_state_round_trips(name: str, problem: Problem) -> None:
    mixer = make(name, problem, seed=2)
    state, directive = mixer.start(1000)
    exposure = np.zeros(problem.d)
    step = 0
    for _ in range(40):
        if directive.done:
            break
        exposure = exposure + np.asarray(directive.weights) * (directive.until_step - step)
        step = directive.until_step
        report = Report(step=step, losses=fake_losses(exposure))
        frozen = copy.deepcopy(state)
        text = json.dumps(state)
        new_state, new_directive = mixer.observe(state, report)
        assert json.dumps(state) == text and same(state, frozen), "observe mutated its input state"
        again_state, again_directive = mixer.observe(json.loads(text), report)
        assert json.dumps(again_state) == json.dumps(new_state)
        assert np.array_equal(again_directive.weights, new_directive.weights)
        assert again_directive.until_step == new_directive.until_step
        state, directive = new_state, new_directive


@pytest.mark.slow
@pytest.mark.parametrize("name", ONLINE)
def test_session_replays_in_subprocess(name: str, tmp_path: Path) -> None:
    args = (name, 9, contract_problem())
    assert same(online_scenario(*args), run_in_subprocess(tmp_path, "online_scenario", args))
