"""Family-aware features (``mixers.features``): shapes, family totals, epochs and the repetition waste, gradients
through the map, and ``auto`` choosing a family-aware set where family totals drive the objective."""

from __future__ import annotations

import numpy as np
import pytest

from mixers import MixerError
from mixers.auto import AutoMixer, choose_features
from mixers.families import build_families
from mixers.features import FeatureMap, available_feature_sets, effective_epochs
from mixers.mixing_law import MixingLawConfig, MixingLawMixer
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.training import safe_spearman
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem

FID = {"params": 1e6, "tokens": 1e8}
N_FAM, PER = 6, 4
FAM_OPT = np.array([0.35, 0.25, 0.15, 0.1, 0.1, 0.05])


def family_problem(tokens: bool = True, families: bool = True) -> Problem:
    names = [f"f{f}/d{i}" if families else f"f{f}_d{i}" for f in range(N_FAM) for i in range(PER)]
    domains = tuple(DomainSpec(n, tokens=1e9 * (1 + (i % 3)) if tokens else None) for i, n in enumerate(names))
    return Problem(
        domains,
        Objective({"loss": 1.0}),
        target_fidelity={"params": 1e8, "tokens": 2e10},
        families=build_families(names),
    )


def family_loss(x: FloatArray, rng: np.random.Generator) -> FloatArray:
    """A loss of the family totals alone (members of a family are interchangeable), with a little noise."""
    totals = x.reshape(len(x), N_FAM, PER).sum(axis=2)
    return 2.0 + 4.0 * np.sum((totals - FAM_OPT) ** 2, axis=1) + rng.normal(0, 1e-3, size=len(x))


def family_runs(n: int, seed: int) -> list[Observation]:
    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.full(N_FAM * PER, 0.5), size=n)
    y = family_loss(x, rng)
    return [Observation(weights=w, fidelity=dict(FID), metrics={"loss": float(v)}) for w, v in zip(x, y, strict=True)]


def test_feature_sets_available_by_what_the_project_knows() -> None:
    assert available_feature_sets(family_problem()) == ("weights", "families", "families+epochs")
    assert available_feature_sets(family_problem(tokens=False)) == ("weights", "families")
    assert available_feature_sets(family_problem(families=False)) == ("weights",)
    with pytest.raises(MixerError, match="families"):
        RegMixMixer(family_problem(families=False), RegMixConfig(features="families"))
    with pytest.raises(MixerError, match="tokens"):
        MixingLawMixer(family_problem(tokens=False), MixingLawConfig(features="families+epochs"))


def test_family_totals_and_repetition_waste() -> None:
    problem = family_problem()
    x = np.random.default_rng(0).dirichlet(np.ones(problem.d), size=5)
    plain = FeatureMap.build(problem, "weights")
    assert plain(x) is not None and np.array_equal(plain(x), x)
    fam = FeatureMap.build(problem, "families")
    phi = fam(x)
    assert phi.shape == (5, problem.d + N_FAM)
    np.testing.assert_allclose(phi[:, problem.d :], x.reshape(5, N_FAM, PER).sum(axis=2))
    assert fam.names[problem.d :] == tuple(f"family:f{f}" for f in range(N_FAM))
    full = FeatureMap.build(problem, "families+epochs")
    assert full(x).shape == (5, problem.d + N_FAM + 1)
    tokens = np.array([d.tokens for d in problem.domains])
    np.testing.assert_allclose(full.epochs(x), x * 2e10 / tokens)
    # no repetition: no waste; one domain at 10 epochs: its weight x (1 - eff(10) / 10)
    w = np.full(problem.d, 0.0)
    w[0] = 0.5  # 0.5 * 2e10 / 1e9 = 10 epochs
    w[1:] = 0.5 / (problem.d - 1)  # each well under one epoch
    e10 = 1.0 + 15.4 * (1.0 - np.exp(-9.0 / 15.4))
    assert effective_epochs(np.array([10.0]))[0] == pytest.approx(e10)
    assert full.waste(w[None, :])[0] == pytest.approx(0.5 * (1.0 - e10 / 10.0))
    assert full.waste(np.full((1, problem.d), 1.0 / problem.d))[0] == 0.0


def test_gradient_through_the_feature_map() -> None:
    problem = family_problem()
    fmap = FeatureMap.build(problem, "families+epochs")
    p = np.random.default_rng(1).dirichlet(np.ones(problem.d))
    p[0] += 0.3
    p /= p.sum()
    g = np.random.default_rng(2).normal(size=fmap.n_features)
    eye = np.eye(problem.d) * 1e-6
    num = np.array([(fmap(p + eye[i])[0] - fmap(p - eye[i])[0]) @ g / 2e-6 for i in range(problem.d)])
    np.testing.assert_allclose(fmap.vjp(p, g), num, atol=1e-6)


def test_family_features_predict_a_family_driven_loss_better() -> None:
    problem = family_problem()
    train, test = family_runs(80, 0), family_runs(200, 1)
    x_test = np.vstack([o.weights for o in test])
    y_test = np.array([o.metrics["loss"] for o in test])
    rho: dict[str, float] = {}
    for fs in ("weights", "families"):
        mixer = RegMixMixer(problem, RegMixConfig(features=fs), 0).fit(train)
        r = safe_spearman(mixer.predict(x_test).mean, y_test)
        assert r is not None
        rho[fs] = r
    assert rho["families"] > rho["weights"] + 0.05, rho


def test_auto_picks_a_family_aware_set_where_family_totals_matter() -> None:
    problem = family_problem()
    train, test = family_runs(80, 0), family_runs(200, 1)
    features, scores = choose_features(problem, train, RegMixMixer, 0)
    assert scores is not None and set(scores) == {"weights", "families", "families+epochs"}
    assert features != "weights"
    auto = AutoMixer(problem, seed=0).fit(train)
    assert auto.recommend().diagnostics["auto"]["features"] == features
    x_test = np.vstack([o.weights for o in test])
    y_test = np.array([o.metrics["loss"] for o in test])
    plain = RegMixMixer(problem, None, 0).fit(train)
    got, base = safe_spearman(auto.predict(x_test).mean, y_test), safe_spearman(plain.predict(x_test).mean, y_test)
    assert got is not None and base is not None and got > base


def test_auto_without_families_is_unchanged() -> None:
    problem = family_problem(families=False)
    train = family_runs(40, 0)
    features, scores = choose_features(problem, train, RegMixMixer, 0)
    assert features == "weights" and scores is None
    got = AutoMixer(problem, seed=0).fit(train).recommend()
    assert "features" not in got.diagnostics["auto"]
    np.testing.assert_array_equal(got.weights, RegMixMixer(problem, None, 0).fit(train).recommend().weights)


def test_mixing_law_with_the_repetition_feature_avoids_over_repetition() -> None:
    """The loss rewards domain 0 but charges for repeating it: the epoch-aware law's optimum repeats less."""
    problem = family_problem()
    fmap = FeatureMap.build(problem, "families+epochs")
    rng = np.random.default_rng(3)
    x = rng.dirichlet(np.full(problem.d, 0.7), size=120)
    y = 3.0 - 0.8 * x[:, 0] - 0.3 * x[:, 5] + 6.0 * fmap.waste(x) + rng.normal(0, 1e-3, size=len(x))
    runs = [Observation(weights=w, fidelity=dict(FID), metrics={"loss": float(v)}) for w, v in zip(x, y, strict=True)]
    cfg = {"trust_region": False, "kl_to_prior": 0.02}
    recs = {
        fs: MixingLawMixer(problem, MixingLawMixer.Config.model_validate({**cfg, "features": fs}), 0)
        .fit(runs)
        .recommend()
        .weights
        for fs in ("weights", "families+epochs")
    }
    true = {fs: 3.0 - 0.8 * w[0] - 0.3 * w[5] + 6.0 * fmap.waste(w[None, :])[0] for fs, w in recs.items()}
    assert true["families+epochs"] < true["weights"], (true, recs)
