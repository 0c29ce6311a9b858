"""The ``mfbo`` mixer: GP surrogate (mixers.gp), acquisition (mixers.acquisition), the mixer (mixers.mfbo)."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import check_grad
from scipy.stats import norm

from mixers import get_mixer_class
from mixers.acquisition import (
    augmented_ei,
    expected_improvement,
    expected_min_of_lines,
    fit_cost_model,
    kg_from_moments,
    knowledge_gradient,
)
from mixers.base import MixerError
from mixers.gp import ExactGP, GPParams, _Layout
from mixers.mfbo import MFBOConfig, MFBOMixer
from mixers.types import DomainSpec, Objective, Observation, PendingRun, Problem, ProposedRun, fidelity_key

D = 4
LO = {"params": 1e6, "tokens": 1e9}
HI = {"params": 1e8, "tokens": 1e10}
OPT = np.array([0.4, 0.3, 0.2, 0.1])
FAST = {"n_candidates": 256, "restarts": 2, "refine_top": 2, "kg_set_size": 32}


def truth(w: np.ndarray, fid: dict[str, float]) -> np.ndarray:
    """A loss that falls with scale; the low fidelity is a tilted, shifted copy of the target."""
    gap = 1.0 - math.log(fid["params"]) / math.log(HI["params"])
    return np.asarray(2.0 + 3.0 * ((w - OPT) ** 2).sum(axis=-1) + gap * (0.8 + 0.3 * w[..., 0]))


def problem(objective: Objective | None = None, domains: tuple[DomainSpec, ...] | None = None) -> Problem:
    doms = domains or tuple(DomainSpec(f"d{i}") for i in range(D))
    return Problem(domains=doms, objective=objective or Objective({"loss": 1.0}), target_fidelity=dict(HI))


def runs(n_lo: int, n_hi: int, seed: int = 0, noise: float = 0.005, cost: bool = True) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_lo + n_hi):
        fid = LO if i < n_lo else HI
        w = rng.dirichlet(np.ones(D))
        loss = float(truth(w, fid) + noise * rng.normal())
        c = fid["params"] * fid["tokens"] * 1e-15 if cost else None
        out.append(Observation(weights=w, fidelity=dict(fid), metrics={"loss": loss}, cost=c))
    return out


def mixer(seed: int = 0, prob: Problem | None = None, **cfg: object) -> MFBOMixer:
    return MFBOMixer(prob or problem(), MFBOConfig(**{**FAST, **cfg}), seed=seed)


def same_run(a: tuple[np.ndarray, str], b: tuple[np.ndarray, str], tol: float = 1e-9) -> bool:
    return a[1] == b[1] and float(np.abs(a[0] - b[0]).max()) <= tol


# -- the GP ---------------------------------------------------------------------------------------------


def _matern52(r: float) -> float:
    return (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)


def _kernel_by_hand(p: GPParams, a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """The documented kernel written out entry by entry."""
    k = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        for j in range(len(b)):
            r = math.sqrt(sum(((a[i, q] - b[j, q]) / p.lengthscales[q]) ** 2 for q in range(d)))
            dz2 = sum(((a[i, d + q] - b[j, d + q]) / p.fidelity_lengthscales[q]) ** 2 for q in range(a.shape[1] - d))
            fid = p.rho + (1 - p.rho) * math.exp(-0.5 * dz2)
            k[i, j] = p.signal_var * _matern52(r) * fid + p.bias_var * (1 + float(a[i, d:] @ b[j, d:]))
    return k


def test_gp_posterior_matches_closed_form() -> None:
    rng = np.random.default_rng(1)
    d = 3
    x = np.hstack([rng.dirichlet(np.ones(d), 7), rng.choice([-1.0, 0.0], size=(7, 1))])
    y = rng.normal(size=7)
    xs = np.hstack([rng.dirichlet(np.ones(d), 4), np.array([[0.0], [-1.0], [0.0], [-0.5]])])
    p = GPParams(1.3, np.array([0.4, 0.7, 0.5]), 0.6, np.array([0.8]), 0.5, 0.05)
    gp = ExactGP(d, standardize=False).fit(x, y, params=p)
    k = _kernel_by_hand(p, x, x, d) + p.noise_var * np.eye(7)
    ks = _kernel_by_hand(p, x, xs, d)
    mean = ks.T @ np.linalg.solve(k, y)
    cov = _kernel_by_hand(p, xs, xs, d) - ks.T @ np.linalg.solve(k, ks)
    got_mean, got_cov = gp.predict(xs, full_cov=True)
    np.testing.assert_allclose(got_mean, mean, atol=1e-6)
    np.testing.assert_allclose(got_cov, cov, atol=1e-6)
    a, b = gp.posterior(xs), gp.posterior(xs[::-1])
    np.testing.assert_allclose(gp.covariance_pairs(a, b), np.diag(cov[:, ::-1]), atol=1e-6)
    lml = -0.5 * y @ np.linalg.solve(k, y) - 0.5 * np.linalg.slogdet(k)[1] - 3.5 * math.log(2 * math.pi)
    assert gp.log_marginal_likelihood == pytest.approx(lml, abs=1e-5)


def test_gp_interpolates_noise_free_data() -> None:
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(D), 25)
    x = np.hstack([w, np.zeros((25, 1))])
    y = np.sin(4 * w[:, 0]) + w[:, 1] ** 2
    gp = ExactGP(D, fixed_noise=1e-8, restarts=2).fit(x, y)
    mean, var = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=1e-3)
    assert np.sqrt(var).max() < 1e-2 * y.std()


def test_gp_likelihood_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = np.hstack([rng.dirichlet(np.ones(D), 30), rng.choice([-1.0, 0.0], size=(30, 2))])
    y = rng.normal(size=30)
    for kernel in ("matern52", "rbf"):
        for ard in (True, False):
            gp = ExactGP(D, kernel=kernel, ard=ard)
            base = gp._initial(x, 2)
            layout = _Layout(len(base.lengthscales), np.array([True, True]), True, True)
            theta = layout.pack(base) + rng.normal(scale=0.3, size=layout.size)
            err = check_grad(
                lambda t, g, *a: g._nll(t, *a)[0],
                lambda t, g, *a: g._nll(t, *a)[1],
                theta,
                gp,
                layout,
                base,
                x,
                y,
                epsilon=1e-6,
            )
            assert err < 1e-3 * max(1.0, float(np.abs(gp._nll(theta, layout, base, x, y)[1]).max())), (kernel, ard)


def test_gp_fit_improves_marginal_likelihood_over_defaults() -> None:
    rng = np.random.default_rng(4)
    w = rng.dirichlet(np.ones(D), 40)
    x = np.hstack([w, np.zeros((40, 1))])
    y = 5 * w[:, 0] + 0.01 * rng.normal(size=40)
    fitted = ExactGP(D).fit(x, y)
    default = ExactGP(D)
    default.fit(x, y, params=default._initial(x, 1))
    assert fitted.log_marginal_likelihood > default.log_marginal_likelihood + 1.0


def test_condition_on_equals_refit_with_same_hyperparameters() -> None:
    rng = np.random.default_rng(5)
    x = np.hstack([rng.dirichlet(np.ones(D), 12), rng.choice([-1.0, 0.0], size=(12, 1))])
    y = rng.normal(size=12)
    p = GPParams(1.0, np.full(D, 0.5), 0.7, np.array([1.0]), 0.3, 0.01)
    gp = ExactGP(D, standardize=False).fit(x[:9], y[:9], params=p)
    cond = gp.condition_on(x[9:], y[9:])
    full = ExactGP(D, standardize=False).fit(x, y, params=p)
    xs = np.hstack([rng.dirichlet(np.ones(D), 5), np.zeros((5, 1))])
    for a, b in zip(cond.predict(xs, full_cov=True), full.predict(xs, full_cov=True), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    assert gp.n_train == 9  # the original is untouched


def test_low_fidelity_runs_shrink_target_uncertainty_nearby() -> None:
    rng = np.random.default_rng(6)
    p = GPParams(1.0, np.full(D, 0.3), 0.8, np.array([1.0]), 0.1, 1e-3)
    w_hi = rng.dirichlet(np.ones(D), 5)
    x_hi = np.hstack([w_hi, np.zeros((5, 1))])
    probe = np.array([0.7, 0.1, 0.1, 0.1])
    near = np.array([[0.68, 0.12, 0.1, 0.1], [0.72, 0.08, 0.1, 0.1]])
    x_lo = np.hstack([near, -np.ones((2, 1))])
    y_hi, y_lo = rng.normal(size=5), rng.normal(size=2)
    target_only = ExactGP(D, standardize=False).fit(x_hi, y_hi, params=p)
    both = ExactGP(D, standardize=False).fit(np.vstack([x_hi, x_lo]), np.concatenate([y_hi, y_lo]), params=p)
    x_probe = np.append(probe, 0.0)[None, :]
    sd_before = math.sqrt(target_only.predict(x_probe)[1][0])
    sd_after = math.sqrt(both.predict(x_probe)[1][0])
    assert sd_after < 0.7 * sd_before
    # Far from the low-fidelity runs the target uncertainty barely moves.
    x_far = np.array([[0.05, 0.05, 0.1, 0.8, 0.0]])
    assert math.sqrt(both.predict(x_far)[1][0]) > 0.9 * math.sqrt(target_only.predict(x_far)[1][0])


def test_mixer_low_fidelity_runs_shrink_target_std() -> None:
    hi = runs(0, 12, seed=7)
    rng = np.random.default_rng(8)
    probe = np.array([[0.55, 0.25, 0.15, 0.05]])
    lo = [
        Observation(
            weights=project_row(probe[0] + 0.02 * rng.normal(size=D)),
            fidelity=dict(LO),
            metrics={"loss": float(truth(probe[0], LO))},
        )
        for _ in range(6)
    ]
    sd_hi = mixer().fit(hi).predict(probe).std
    sd_both = mixer().fit(hi + lo).predict(probe).std
    assert sd_hi is not None and sd_both is not None
    assert sd_both[0] < 0.8 * sd_hi[0]


def project_row(w: np.ndarray) -> np.ndarray:
    w = np.clip(w, 1e-3, None)
    return np.asarray(w / w.sum())


def test_replicates_inform_the_noise_estimate() -> None:
    rng = np.random.default_rng(9)
    obs = []
    for _ in range(15):
        w = rng.dirichlet(np.ones(D))
        for _ in range(4):
            obs.append(
                Observation(weights=w, fidelity=dict(HI), metrics={"loss": float(truth(w, HI) + 0.05 * rng.normal())})
            )
    diag = mixer(multi_fidelity=False).fit(obs).recommend().diagnostics
    assert 0.03 < diag["noise_std"] < 0.08


# -- the acquisition ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StubPosterior:
    idx: np.ndarray
    mean: np.ndarray
    var: np.ndarray


class StubModel:
    """A surrogate whose joint posterior over a few named points is set by hand."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, noise: float) -> None:
        self.mu, self.cov, self._noise = mean, cov, noise

    @property
    def noise_var(self) -> float:
        return self._noise

    def at(self, *idx: int) -> StubPosterior:
        i = np.array(idx)
        return StubPosterior(i, self.mu[i], np.diag(self.cov)[i])

    def covariance(self, a: StubPosterior, b: StubPosterior) -> np.ndarray:
        return np.asarray(self.cov[np.ix_(a.idx, b.idx)])

    def covariance_pairs(self, a: StubPosterior, b: StubPosterior) -> np.ndarray:
        return np.asarray(self.cov[a.idx, b.idx])


def test_knowledge_gradient_matches_closed_form_for_two_points() -> None:
    # Points: 0 = a (discretization set, target), 1 = candidate at the target, 2 = candidate at low fidelity.
    mean = np.array([0.0, 0.3, 1.1])
    cov = np.array([[1.0, 0.4, 0.3], [0.4, 0.8, 0.6], [0.3, 0.6, 0.9]])
    noise = 0.1
    model = StubModel(mean, cov, noise)
    kg = knowledge_gradient(model, model.at(2), model.at(1), model.at(0))[0]
    # Observing point 2 moves mu_a by s_a Z and mu_1 by s_1 Z; E[min] of two lines in closed form.
    sd = math.sqrt(cov[2, 2] + noise)
    s_a, s_1 = cov[0, 2] / sd, cov[1, 2] / sd
    delta, s = mean[0] - mean[1], abs(s_a - s_1)
    e_min = mean[0] - (delta * norm.cdf(delta / s) + s * norm.pdf(delta / s))
    assert kg == pytest.approx(min(mean[0], mean[1]) - e_min, abs=1e-12)
    # An observation that says nothing about the target is worth nothing.
    blind = StubModel(mean, np.diag(np.diag(cov)), noise)
    assert knowledge_gradient(blind, blind.at(2), blind.at(1), blind.at(0))[0] == pytest.approx(0.0, abs=1e-12)
    # A noisier observation is worth less.
    noisy = StubModel(mean, cov, 10.0)
    assert knowledge_gradient(noisy, noisy.at(2), noisy.at(1), noisy.at(0))[0] < kg


def test_expected_min_of_lines_matches_monte_carlo() -> None:
    rng = np.random.default_rng(10)
    a = rng.normal(size=(3, 9))
    b = rng.normal(size=(3, 9))
    b[0, 3] = b[0, 5]  # parallel lines
    a[1, 2], b[1, 2] = a[1, 7], b[1, 7]  # a duplicated line
    z = rng.normal(size=400_000)
    for r in range(3):
        mc = np.min(a[r][:, None] + b[r][:, None] * z[None, :], axis=0)
        assert expected_min_of_lines(a[r : r + 1], b[r : r + 1])[0] == pytest.approx(
            mc.mean(), abs=5 * mc.std() / math.sqrt(len(z))
        )


def test_kg_is_nonnegative_and_zero_without_slopes() -> None:
    rng = np.random.default_rng(11)
    mu = rng.normal(size=20)
    s = rng.normal(size=(20, 50)) * 0.3
    kg = kg_from_moments(mu, s, rng.normal(size=50), rng.normal(size=50) * 0.3)
    assert (kg >= 0).all() and (kg > 0).any()
    assert np.allclose(kg_from_moments(mu, np.zeros((20, 5)), np.ones(5), np.zeros(5)), 0.0)


def test_expected_improvement_closed_forms() -> None:
    ei = expected_improvement(np.array([1.0, 1.0, 0.0, 3.0]), np.array([0.5, 0.0, 0.0, 1e-3]), best=1.0)
    assert ei[0] == pytest.approx(0.5 / math.sqrt(2 * math.pi))
    assert ei[1] == 0.0
    assert ei[2] == pytest.approx(1.0)
    assert ei[3] == pytest.approx(0.0, abs=1e-12)


def test_augmented_ei_reduces_to_ei_for_a_perfect_noiseless_proxy() -> None:
    mean = np.array([0.2, 0.2])
    cov = np.array([[0.5, 0.5], [0.5, 0.5]])
    best = 0.4
    exact = StubModel(mean, cov, 1e-30)
    ei = expected_improvement(mean[:1], np.sqrt(cov[:1, 0]), best)[0]
    assert augmented_ei(exact, exact.at(1), exact.at(0), best)[0] == pytest.approx(ei, rel=1e-9)
    noisy = StubModel(mean, cov, 0.5)
    shrink = 1 - math.sqrt(0.5) / math.sqrt(1.0)
    assert augmented_ei(noisy, noisy.at(1), noisy.at(0), best)[0] == pytest.approx(ei * shrink, rel=1e-9)


def test_cost_model_fit() -> None:
    rng = np.random.default_rng(12)
    fids = [
        {"params": float(p), "tokens": float(t)}
        for p, t in zip(10 ** rng.uniform(6, 9, 10), 10 ** rng.uniform(8, 11, 10), strict=True)
    ]
    costs: list[float | None] = [3.0 * f["params"] * f["tokens"] ** 0.5 for f in fids]
    cm = fit_cost_model(("params", "tokens"), fids, costs)
    assert cm.source == "observed"
    np.testing.assert_allclose(cm.exponents, [1.0, 0.5], atol=1e-6)
    assert cm.log_scale == pytest.approx(math.log(3.0), abs=1e-5)
    # One cost: not enough to fit; the product of the fidelity values.
    one = fit_cost_model(("params", "tokens"), fids, [costs[0]] + [None] * 9)
    assert one.source == "product" and one.cost({"params": 2.0, "tokens": 5.0}) == pytest.approx(10.0)
    # All costed runs share the tokens value: that exponent is not identified and stays at the product's 1.
    same_t = [{"params": f["params"], "tokens": 1e9} for f in fids]
    part = fit_cost_model(("params", "tokens"), same_t, [2.0 * f["params"] ** 0.7 for f in same_t])
    np.testing.assert_allclose(part.exponents, [0.7, 1.0], atol=1e-4)
    manual = fit_cost_model(("params", "tokens"), fids, costs, exponents={"params": 2.0})
    assert manual.cost({"params": 3.0, "tokens": 100.0}) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="cost_exponents"):
        fit_cost_model(("params",), fids, costs, exponents={"flops": 1.0})


# -- the mixer ------------------------------------------------------------------------------------------


def test_registered_and_bad_config_rejected() -> None:
    assert get_mixer_class("mfbo") is MFBOMixer
    for bad in (
        {"restarts": 0},
        {"typo": 1},
        {"cost_exponents": {"params": -1.0}},
        {"cost_model": "oracle"},
        {"n_candidates": 0},
    ):
        with pytest.raises(ValidationError):
            MFBOConfig.model_validate(bad)


def test_empty_history_space_fills_at_the_cheapest_fidelity() -> None:
    m = mixer().fit([])
    props = m.propose(6, fidelities=[HI, LO])
    assert len(props) == 6
    assert all(fidelity_key(p.fidelity) == fidelity_key(LO) for p in props)
    w = np.array([p.weights for p in props])
    assert np.allclose(w.sum(axis=1), 1.0) and (w >= 0).all()
    gaps = np.abs(w[:, None, :] - w[None, :, :]).max(axis=2) + np.eye(6)
    assert gaps.min() > 1e-3
    with pytest.raises(MixerError):
        m.recommend()
    with pytest.raises(MixerError):
        m.predict(w)


def test_batch_is_distinct_and_avoids_observed_and_pending_runs() -> None:
    obs = runs(20, 6)
    pending = [PendingRun(weights=obs[0].weights, fidelity=dict(HI)), PendingRun(weights=OPT.copy(), fidelity=dict(LO))]
    props = mixer(seed=3).fit(obs).propose(8, pending=pending, fidelities=[LO, HI])
    got = [(p.weights, fidelity_key(p.fidelity)) for p in props]
    taken = [(o.weights, fidelity_key(o.fidelity)) for o in obs] + [
        (p.weights, fidelity_key(p.fidelity)) for p in pending
    ]
    assert len(got) == 8
    for i, a in enumerate(got):
        assert not any(same_run(a, b, 1e-3) for b in taken)
        assert not any(same_run(a, b, 1e-3) for b in got[:i])
        assert fidelity_key(props[i].fidelity) in {fidelity_key(LO), fidelity_key(HI)}


def test_candidate_pool_per_fidelity_exclusion() -> None:
    obs = runs(15, 5)
    rng = np.random.default_rng(13)
    pool = rng.dirichlet(np.ones(D), 5)
    pending = [PendingRun(weights=pool[0], fidelity=dict(LO)), PendingRun(weights=pool[1], fidelity=dict(HI))]
    # The KG batch builder (no calibration phase): it may fill every allowed pair.
    m = mixer(seed=1, acquisition="kg", calibration_runs=0).fit(obs)
    props = m.propose(20, pending=pending, candidates=pool, fidelities=[LO, HI])
    got = {(int(np.argmin(np.abs(pool - p.weights).max(axis=1))), fidelity_key(p.fidelity)) for p in props}
    for p in props:
        assert np.abs(pool - p.weights).max(axis=1).min() == 0.0  # rows of the pool, unchanged
    # Every (pool row, fidelity) pair except the two pending ones, each once; the same mixture at the other
    # fidelity stays allowed.
    expected = {(i, fidelity_key(f)) for i in range(5) for f in (LO, HI)} - {
        (0, fidelity_key(LO)),
        (1, fidelity_key(HI)),
    }
    assert len(props) == len(got) == 8 and got == expected
    with pytest.raises(MixerError):
        m.propose(1, pending=[PendingRun(weights=w, fidelity=dict(HI)) for w in pool], candidates=pool)


def test_cost_awareness_picks_cheap_fidelity_only_when_it_pays() -> None:
    obs = runs(30, 8)

    def n_low(props: list[ProposedRun]) -> int:
        return sum(fidelity_key(p.fidelity) == fidelity_key(LO) for p in props)

    # The knowledge gradient per unit cost (the screen acquisition picks fidelities by rule, not by cost), with
    # no calibration phase (these runs share no mixture across fidelities, so no transfer is measured).
    cheap_low = mixer(seed=2, acquisition="kg", calibration_runs=0).fit(obs).propose(6, fidelities=[LO, HI])
    equal = mixer(seed=2, cost_exponents={}, acquisition="kg", calibration_runs=0).fit(obs).propose(
        6, fidelities=[LO, HI])  # LO is 1000x cheaper in cheap_low, of equal cost (1) in equal
    assert fidelity_key(cheap_low[0].fidelity) == fidelity_key(LO)
    assert n_low(equal) <= 2 < n_low(cheap_low)


def test_recommend_finds_the_target_optimum_with_diagnostics() -> None:
    obs = runs(40, 15)
    rec = mixer().fit(obs).recommend()
    best_seen = min(float(truth(o.weights, HI)) for o in obs)
    assert float(truth(rec.weights, HI)) < best_seen
    assert rec.std is not None and rec.std > 0
    assert rec.predicted == pytest.approx(float(truth(rec.weights, HI)), abs=0.05)
    diag = rec.diagnostics
    assert diag["runs_used"] == 55 and diag["fidelity_keys"] == ["params", "tokens"]
    assert {fidelity_key(f["fidelity"]): f["runs"] for f in diag["fidelities_seen"]} == {
        fidelity_key(LO): 40,
        fidelity_key(HI): 15,
    }
    assert math.isfinite(diag["log_marginal_likelihood"]) and "lengthscales" in diag["kernel"]
    assert diag["cost_model"]["source"] == "observed"
    # The same mixer answers at the low fidelity with a higher loss (falls with scale).
    assert mixer().fit(obs).recommend(LO).predicted > rec.predicted


def test_ard_turns_on_with_enough_runs_per_domain() -> None:
    few, many = runs(6, 4), runs(12, 8)  # 10 < 4 * D <= 20
    assert mixer().fit(few).recommend().diagnostics["kernel"]["ard"] is False
    gp = mixer().fit(few).gp
    assert gp is not None and gp.params is not None and len(gp.params.lengthscales) == 1
    assert mixer().fit(many).recommend().diagnostics["kernel"]["ard"] is True
    assert mixer(ard=False).fit(many).recommend().diagnostics["kernel"]["ard"] is False


def test_direction_maximize_mirrors_minimize() -> None:
    obs = runs(20, 8)
    flipped = [
        Observation(weights=o.weights, fidelity=o.fidelity, metrics={"score": -o.metrics["loss"]}, cost=o.cost)
        for o in obs
    ]
    lo_m = mixer(seed=4).fit(obs)
    hi_m = mixer(seed=4, prob=problem(Objective({"score": 1.0}, "maximize"))).fit(flipped)
    a, b = lo_m.recommend(), hi_m.recommend()
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-6)
    assert b.predicted == pytest.approx(-a.predicted, rel=1e-6)
    x, fid = obs[0].weights[None, :], obs[0].fidelity
    pa, pb = lo_m.predict(x, fid), hi_m.predict(x, fid)
    assert pb.mean[0] == pytest.approx(-pa.mean[0], rel=1e-6)
    assert obs[0].metrics["loss"] == pytest.approx(pa.mean[0], abs=0.05)
    assert [fidelity_key(p.fidelity) for p in lo_m.propose(3, fidelities=[LO, HI])] == [
        fidelity_key(p.fidelity) for p in hi_m.propose(3, fidelities=[LO, HI])
    ]


def test_outputs_within_bounds() -> None:
    doms = (
        DomainSpec("a", min_weight=0.1),
        DomainSpec("b", max_weight=0.2),
        DomainSpec("c"),
        DomainSpec("d", tokens=1e9, max_epochs=2.0),
    )
    prob = problem(domains=doms)  # d's cap: 2 * 1e9 / 1e10 = 0.2
    lo, hi = prob.bounds()
    obs = runs(20, 8)
    for m in (mixer(prob=prob).fit(obs), mixer(prob=prob).fit([])):
        props = m.propose(5, fidelities=[LO, HI])
        rows = [p.weights for p in props]
        if m.gp is not None:
            rows.append(m.recommend().weights)
        for w in rows:
            assert abs(w.sum() - 1) < 1e-9 and (w >= lo - 1e-9).all() and (w <= hi + 1e-9).all()


def test_same_seed_same_answers_and_pickle_round_trip() -> None:
    obs = runs(20, 6)
    a = mixer(seed=5).fit(obs)
    b = mixer(seed=5).fit(obs)
    pa = a.propose(3, fidelities=[LO, HI])
    pb = b.propose(3, fidelities=[LO, HI])
    assert [fidelity_key(p.fidelity) for p in pa] == [fidelity_key(p.fidelity) for p in pb]
    np.testing.assert_array_equal(np.array([p.weights for p in pa]), np.array([p.weights for p in pb]))
    np.testing.assert_array_equal(a.recommend().weights, b.recommend().weights)
    # Answers do not depend on earlier calls to the same fitted mixer.
    np.testing.assert_array_equal(
        np.array([p.weights for p in a.propose(3, fidelities=[LO, HI])]), np.array([p.weights for p in pa])
    )
    c = pickle.loads(pickle.dumps(a))
    x = np.random.default_rng(0).dirichlet(np.ones(D), 6)
    for fid in (LO, HI):
        pa_, pc_ = a.predict(x, fid), c.predict(x, fid)
        np.testing.assert_array_equal(pa_.mean, pc_.mean)
        assert pa_.std is not None and pc_.std is not None
        np.testing.assert_array_equal(pa_.std, pc_.std)
    np.testing.assert_array_equal(
        np.array([p.weights for p in c.propose(3, fidelities=[LO, HI])]), np.array([p.weights for p in pa])
    )


def test_single_fidelity_mode_is_plain_bo_at_the_target() -> None:
    hi_runs = runs(0, 10, seed=14)
    lo_runs = runs(25, 0, seed=15)
    sf = mixer(multi_fidelity=False).fit(hi_runs + lo_runs)
    sf_hi = mixer(multi_fidelity=False).fit(hi_runs)
    x = np.random.default_rng(1).dirichlet(np.ones(D), 4)
    np.testing.assert_array_equal(sf.predict(x).mean, sf_hi.predict(x).mean)
    diag = sf.recommend().diagnostics
    assert diag["runs_used"] == 10 and diag["runs_ignored"] == 25 and diag["acquisition"] == "ei"
    props = sf.propose(4, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in props)
    with pytest.raises(MixerError, match="target"):
        sf.propose(1, fidelities=[LO])
    with pytest.raises(MixerError, match="target"):
        sf.predict(x, LO)
    # Only low-fidelity runs: nothing to model at the target yet, so it space-fills there.
    only_lo = mixer(multi_fidelity=False).fit(lo_runs)
    with pytest.raises(MixerError):
        only_lo.recommend()
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in only_lo.propose(2))


def test_fidelity_keys_must_agree() -> None:
    obs = runs(5, 5)
    odd = Observation(weights=OPT, fidelity={"params": 1e6}, metrics={"loss": 2.0})
    with pytest.raises(MixerError, match="tokens"):
        mixer().fit([*obs, odd])
    bad_target = Problem(domains=problem().domains, objective=Objective({"loss": 1.0}), target_fidelity={"params": 1e9})
    with pytest.raises(MixerError, match="target fidelity"):
        mixer(prob=bad_target).fit(obs)
    m = mixer().fit(obs)
    with pytest.raises(MixerError, match="keys"):
        m.propose(1, fidelities=[{"params": 1e7}])
    with pytest.raises(MixerError, match="cost_exponents"):
        mixer(cost_exponents={"flops": 1.0}).fit(obs).propose(1, fidelities=[LO, HI])


def test_runs_without_fidelity_are_taken_at_the_target() -> None:
    rng = np.random.default_rng(16)
    obs = [
        Observation(weights=w, fidelity={}, metrics={"loss": float(truth(w, HI))})
        for w in rng.dirichlet(np.ones(D), 12)
    ]
    m = mixer().fit(obs)
    assert m.recommend().diagnostics["runs_used"] == 12
    assert all(p.fidelity == HI for p in m.propose(2))
