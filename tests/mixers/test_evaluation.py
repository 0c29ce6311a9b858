"""``mixers.evaluation``: the runs, folds and scores behind ``POST .../evaluations``."""

from __future__ import annotations

import numpy as np
import pytest

from mixers import MixerError
from mixers.evaluation import cross_validate, make_folds, score
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.training import choose_train_fidelity
from mixers.types import DomainSpec, Objective, Observation, Problem

OBJ = Objective(metrics={"loss": 1.0}, direction="minimize")


def runs_at(fid: dict[str, float], n: int, seed: int) -> list[Observation]:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), size=n)
    return [Observation(weights=x, fidelity=fid, metrics={"loss": float(x @ [1.0, 2.0, 3.0])}) for x in w]


def test_folds_use_the_train_fidelity_choice_even_on_ties() -> None:
    small, big = {"tokens": 1e6}, {"tokens": 1e9}
    obs = runs_at(small, 6, 0) + runs_at(big, 6, 1) + [Observation(np.full(3, 1 / 3), small, {"other": 1.0})]
    folds = make_folds(obs, OBJ, 3, seed=0)
    chosen, _ = choose_train_fidelity([o for o in obs if "loss" in o.metrics], None)
    assert folds.fidelity == chosen == big  # a tie in counts goes to the larger fidelity
    assert folds.index == list(range(6, 12))
    assert sorted(np.bincount(folds.fold_of).tolist()) == [2, 2, 2]
    assert np.array_equal(folds.fold_of, make_folds(obs, OBJ, 3, seed=0).fold_of)  # seeded
    with pytest.raises(MixerError, match="need at least 7"):
        make_folds(obs, OBJ, 7, seed=0)


def test_score_spearman_mae_and_regret() -> None:
    actual = np.array([3.0, 1.0, 2.0, 4.0])
    perfect = score(actual + 0.5, actual, sign=1.0)
    assert perfect.spearman == pytest.approx(1.0) and perfect.mae == pytest.approx(0.5) and perfect.regret == 0.0
    wrong_pick = score(np.array([1.0, 3.0, 2.0, 4.0]), actual, sign=1.0)  # ranks run 0 (true 3.0) best
    assert wrong_pick.regret == pytest.approx(2.0)
    assert score(np.full(4, np.nan), actual, 1.0).spearman is None


def test_cross_validate_a_mixer_out_of_fold() -> None:
    problem = Problem(domains=tuple(DomainSpec(n) for n in "abc"), objective=OBJ)
    obs = runs_at({}, 40, 2)
    folds = make_folds(obs, OBJ, 4, seed=1)
    result = cross_validate(RegMixMixer(problem, RegMixConfig(model="linear"), 0), folds)
    assert np.all(np.isfinite(result.predicted)) and result.spearman is not None and result.spearman > 0.99
