"""``auto``: mixopt's default answer is exactly the answer of the mixer it chooses: with runs at several
fidelities, the candidate that best ranks the largest fidelity's held-out runs; otherwise regmix."""

from __future__ import annotations

import numpy as np

from mixers import auto
from mixers.auto import AutoMixer, choose
from mixers.mfbo import MFBOMixer
from mixers.regmix import RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

SMALL = {"params": 1e6, "tokens": 1e8}
MEDIUM = {"params": 4e6, "tokens": 2e8}
TARGET = {"params": 1.6e7, "tokens": 8e8}


def problem() -> Problem:
    return Problem(tuple(DomainSpec(f"d{i}", tokens=float(i + 1)) for i in range(4)), Objective({"loss": 1.0}),
                   target_fidelity=TARGET)


def runs(counts: dict[str, int], flip: bool = False) -> list[Observation]:
    """Runs at SMALL and MEDIUM; with ``flip`` the best domain changes between the two (d0 small, d3 medium)."""
    rng = np.random.default_rng(0)
    out = []
    for k, (name, fid) in enumerate((("small", SMALL), ("medium", MEDIUM))):
        x = rng.dirichlet(np.ones(4), size=counts[name])
        best = 3 if (flip and k == 1) else 0
        y = 3.0 - 0.2 * k + (x[:, best] - 0.6) ** 2 + 0.3 * x[:, 2] + rng.normal(0, 1e-3, size=len(x))
        out += [Observation(weights=w, fidelity=fid, metrics={"loss": float(v)}) for w, v in zip(x, y, strict=True)]
    return out


def test_one_fidelity_answers_as_regmix() -> None:
    obs = runs({"small": 16, "medium": 0})
    rec = AutoMixer(problem(), seed=3).fit(obs).recommend()
    np.testing.assert_array_equal(rec.weights, RegMixMixer(problem(), seed=3).fit(obs).recommend().weights)
    assert rec.diagnostics["auto"]["mixer"] == "regmix" and "one fidelity" in rec.diagnostics["auto"]["reason"]


def test_too_few_runs_at_the_largest_fidelity_to_compare_answers_as_regmix() -> None:
    cls, why, scores = choose(problem(), runs({"small": 16, "medium": auto.MIN_TOP_RUNS - 1}))
    assert cls is RegMixMixer and scores is None and f"fewer than {auto.MIN_TOP_RUNS}" in why


def test_several_fidelities_answer_as_the_best_ranked_candidate() -> None:
    obs = runs({"small": 24, "medium": 12}, flip=True)
    mixer = AutoMixer(problem(), seed=3).fit(obs)
    scores = mixer.scores
    assert scores is not None and set(scores) == {"regmix", "mixing_law", "mfbo"}
    best = max((v, k) for k, v in scores.items() if v is not None)[1]
    rec = mixer.recommend()
    assert rec.diagnostics["auto"]["mixer"] == best and rec.diagnostics["auto"]["spearman_one_rung_up"] == scores
    # where the best domain changes with scale, only the model across fidelities ranks the medium runs
    assert best == "mfbo" and scores["mfbo"] > 0.5 > (scores["regmix"] or 0.0)
    ref = MFBOMixer(problem(), seed=3).fit(obs)
    np.testing.assert_array_equal(rec.weights, ref.recommend().weights)
    assert mixer.fidelity_answer().transfer == ref.fidelity_answer().transfer
    batch = mixer.propose(3, fidelities=[SMALL, MEDIUM])
    assert len(batch) == 3 and batch.diagnostics["auto"]["mixer"] == "mfbo"


def test_where_the_ranking_holds_across_scale_a_single_fidelity_model_can_win() -> None:
    _, _, scores = choose(problem(), runs({"small": 24, "medium": 12}), seed=3)
    assert scores is not None and scores["regmix"] is not None
    assert scores["regmix"] > 0.8  # the small runs' ranking carries over, and the held-out check sees it


def test_no_runs_proposes_like_regmix() -> None:
    got = AutoMixer(problem(), seed=1).fit([]).propose(4, SMALL)
    want = RegMixMixer(problem(), seed=1).fit([]).propose(4, SMALL)
    np.testing.assert_array_equal(np.vstack([r.weights for r in got]), np.vstack([r.weights for r in want]))
