"""Domain importance and partial dependence (mixers.importance) on an objective that only domain 0 drives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mixers
from mixers.base import OfflineMixer
from mixers.importance import (
    domain_importance,
    normalised,
    partial_dependence,
    pd_grid,
    permutation_importance,
    with_domain_weight,
)
from mixers.types import DomainSpec, Objective, Observation, Problem

FID = {"params": 1e6, "tokens": 1e9}
D = 4


def loss(w: np.ndarray) -> float:
    """Falls as domain 0's weight grows; the other domains do not matter."""
    return float(2.0 + np.exp(1.0 - 2.5 * w[0]))


def problem() -> Problem:
    rng = np.random.default_rng(5)
    names = ("web", "code", "books", "math")
    emb = {n: rng.normal(i, 1.0, size=(10, 5)).astype(np.float32) for i, n in enumerate(names)}
    emb["target"] = rng.normal(0.0, 1.0, size=(10, 5)).astype(np.float32)
    return Problem(
        domains=tuple(DomainSpec(n, tokens=1e9) for n in names),
        objective=Objective({"loss": 1.0}, "minimize"),
        target_fidelity=dict(FID),
        embeddings=emb,
    )


def observations(n: int = 64) -> list[Observation]:
    rng = np.random.default_rng(11)
    w = rng.dirichlet(np.ones(D), size=n)
    return [Observation(weights=row, fidelity=dict(FID), metrics={"loss": loss(row)}) for row in w]


def fitted(name: str, config: dict[str, Any] | None = None) -> OfflineMixer:
    cls = mixers.get_mixer_class(name)
    mixer = cls(problem(), cls.Config.model_validate(config or {}), seed=0)
    assert isinstance(mixer, OfflineMixer)
    return mixer.fit(observations())


OFFLINE = [n for n, c in mixers.available().items() if c.kind == "offline"]
CASES = [
    *[(n, None) for n in OFFLINE],
    ("regmix", {"model": "lightgbm"}),
    ("regmix", {"model": "ridge"}),
    ("mfbo", {"ard": False}),
]


@pytest.mark.parametrize(("name", "config"), CASES)
def test_domain_0_ranks_first_and_its_partial_dependence_falls(name: str, config: dict[str, Any] | None) -> None:
    mixer = fitted(name, config)
    x = np.vstack([o.weights for o in observations()])
    imp = domain_importance(mixer, x, np.random.default_rng(0))
    assert imp.values.shape == (D,)
    assert np.all(imp.values >= 0) and imp.values.sum() == pytest.approx(1.0)
    assert int(np.argmax(imp.values)) == 0, (imp.method, imp.values)
    assert imp.values[0] > 2 * np.max(imp.values[1:]), (imp.method, imp.values)
    assert imp.method and imp.detail

    grid = pd_grid(x, 0, 0.0, 1.0)
    pd = partial_dependence(mixer, x, 0, grid)
    assert pd.mean.shape == grid.shape
    # the loss falls as domain 0 grows: the curve goes down (trees in steps, so overall and nearly everywhere)
    true_drop = np.exp(1.0 - 2.5 * grid[0]) - np.exp(1.0 - 2.5 * grid[-1])
    assert pd.mean[0] - pd.mean[-1] > 0.3 * true_drop, pd.mean
    rises = np.diff(pd.mean) > 1e-3 * np.ptp(pd.mean)
    assert rises.sum() <= 2, pd.mean
    flat = partial_dependence(mixer, x, 1, pd_grid(x, 1, 0.0, 1.0))
    assert np.ptp(flat.mean) < 0.5 * np.ptp(pd.mean)


def test_each_mixer_names_its_own_method() -> None:
    x = np.vstack([o.weights for o in observations()])
    rng = np.random.default_rng(0)
    assert domain_importance(fitted("regmix", {"model": "lightgbm"}), x, rng).method == "lightgbm_shap"
    assert domain_importance(fitted("regmix", {"model": "ridge"}), x, rng).method == "linear_coefficients"
    assert domain_importance(fitted("mixing_law"), x, rng).method == "law_slope"
    assert domain_importance(fitted("mfbo", {"ard": True}), x, rng).method == "gp_inverse_lengthscale"
    # one shared lengthscale ranks nothing: the GP's mean is measured by permutation instead
    assert domain_importance(fitted("mfbo", {"ard": False}), x, rng).method == "permutation"


def test_the_gp_gives_a_std_to_its_partial_dependence_and_the_trees_none() -> None:
    x = np.vstack([o.weights for o in observations()])
    grid = pd_grid(x, 0, 0.0, 1.0)
    gp = partial_dependence(fitted("mfbo"), x, 0, grid)
    assert gp.std is not None and gp.std.shape == grid.shape and np.all(gp.std > 0)
    trees = partial_dependence(fitted("regmix", {"model": "lightgbm"}), x, 0, grid)
    if trees.std is not None:  # when regmix gives an uncertainty it must be aligned with the grid
        assert trees.std.shape == grid.shape


def test_changing_one_weight_keeps_the_others_ratios_and_the_sum() -> None:
    x = np.array([[0.2, 0.4, 0.4, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.25, 0.25]])
    out = with_domain_weight(x, 0, np.array([0.6, 0.4, 0.5]))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[:, 0], [0.6, 0.4, 0.5])
    np.testing.assert_allclose(out[0, 1:], [0.2, 0.2, 0.0])  # 0.4 : 0.4 : 0 kept
    np.testing.assert_allclose(out[1, 1:], [0.2, 0.2, 0.2])  # all domain 0 before: the rest spread equally
    np.testing.assert_allclose(out[2, 1:], [0.25, 0.125, 0.125])


def test_the_grid_spans_the_observed_weights_within_the_bounds() -> None:
    x = np.array([[0.1, 0.9], [0.3, 0.7], [0.2, 0.8]])
    grid = pd_grid(x, 0, 0.0, 0.25)
    assert grid[0] == pytest.approx(0.1) and grid[-1] == pytest.approx(0.25)
    same = pd_grid(np.array([[0.5, 0.5], [0.5, 0.5]]), 0, 0.0, 1.0)
    assert same[0] == 0.0 and same[-1] == 1.0


def test_normalised_is_non_negative_and_sums_to_one() -> None:
    np.testing.assert_allclose(normalised(np.array([3.0, -1.0, 1.0, np.nan])), [0.75, 0.0, 0.25, 0.0])
    np.testing.assert_allclose(normalised(np.zeros(4)), 0.25)


def test_permutation_importance_is_zero_for_a_model_that_ignores_the_domains() -> None:
    class Constant(OfflineMixer):
        name = "constant_test"
        description = ""
        Config = mixers.get_mixer_class("regmix").Config

        def fit(self, observations: Any) -> Constant:
            return self

        def predict(self, mixtures: Any, fidelity: Any = None) -> Any:
            from mixers.types import Predictions

            return Predictions(mean=np.full(len(mixtures), 3.0), std=None)

        def recommend(self, fidelity: Any = None) -> Any:
            raise NotImplementedError

        def propose(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    x = np.vstack([o.weights for o in observations(16)])
    raw = permutation_importance(Constant(problem()), x, np.random.default_rng(0))
    np.testing.assert_allclose(raw, 0.0)
