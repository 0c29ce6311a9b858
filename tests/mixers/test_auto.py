"""``auto``: mixopt's default answer is exactly mfbo's when the runs span several fidelities, regmix's otherwise."""

from __future__ import annotations

import numpy as np

from mixers.auto import AutoMixer
from mixers.mfbo import MFBOMixer
from mixers.regmix import RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

SMALL = {"params": 1e6, "tokens": 1e8}
MEDIUM = {"params": 4e6, "tokens": 2e8}
TARGET = {"params": 1.6e7, "tokens": 8e8}


def problem() -> Problem:
    return Problem(tuple(DomainSpec(f"d{i}", tokens=float(i + 1)) for i in range(4)), Objective({"loss": 1.0}),
                   target_fidelity=TARGET)


def runs(fidelities: list[dict[str, float]], n: int = 16) -> list[Observation]:
    rng = np.random.default_rng(0)
    out = []
    for k, fid in enumerate(fidelities):
        x = rng.dirichlet(np.ones(4), size=n)
        y = 3.0 - 0.2 * k + (x[:, 0] - 0.5) ** 2 + 0.3 * x[:, 2] + rng.normal(0, 1e-3, size=n)
        out += [Observation(weights=w, fidelity=fid, metrics={"loss": float(v)}) for w, v in zip(x, y, strict=True)]
    return out


def test_one_fidelity_answers_as_regmix() -> None:
    obs = runs([SMALL])
    auto = AutoMixer(problem(), seed=3).fit(obs)
    rec, ref = auto.recommend(), RegMixMixer(problem(), seed=3).fit(obs).recommend()
    np.testing.assert_array_equal(rec.weights, ref.weights)
    assert rec.diagnostics["auto"]["mixer"] == "regmix" and "one fidelity" in rec.diagnostics["auto"]["reason"]
    assert auto.fidelity_answer().transfer == "assumed"


def test_several_fidelities_answer_as_mfbo() -> None:
    obs = runs([SMALL, MEDIUM], n=10)
    auto = AutoMixer(problem(), seed=3).fit(obs)
    rec, ref = auto.recommend(), MFBOMixer(problem(), seed=3).fit(obs).recommend()
    np.testing.assert_array_equal(rec.weights, ref.weights)
    assert rec.predicted == ref.predicted and rec.std == ref.std
    assert rec.diagnostics["auto"]["mixer"] == "mfbo" and "2 fidelities" in rec.diagnostics["auto"]["reason"]
    assert auto.fidelity_answer().transfer == MFBOMixer(problem(), seed=3).fit(obs).fidelity_answer().transfer
    batch = auto.propose(3, fidelities=[SMALL, MEDIUM])
    assert len(batch) == 3 and batch.diagnostics["auto"]["mixer"] == "mfbo"


def test_no_runs_proposes_like_regmix() -> None:
    auto = AutoMixer(problem(), seed=1).fit([])
    ref = RegMixMixer(problem(), seed=1).fit([])
    got, want = auto.propose(4, SMALL), ref.propose(4, SMALL)
    np.testing.assert_array_equal(np.vstack([r.weights for r in got]), np.vstack([r.weights for r in want]))
