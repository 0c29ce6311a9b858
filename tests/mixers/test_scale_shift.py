"""The scale shift: a model of how the objective's dependence on the mixture moves with log-compute, fitted on
runs at a second fidelity and used by ``regmix`` and ``mixing_law`` to answer at a larger one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixers.mixing_law import MixingLawConfig, MixingLawMixer
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.scale_shift import features, fit_scale_shift, log_compute_gap
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem

SMALL = {"params": 1e6, "tokens": 1e9}
MEDIUM = {"params": 4e6, "tokens": 2e9}  # log-compute gap log(8) from SMALL
LARGE = {"params": 3.2e7, "tokens": 8e9}  # log-compute gap log(256)
D = 4


def problem(target: dict[str, float] | None = LARGE) -> Problem:
    domains = tuple(DomainSpec(f"d{i}", tokens=1.0) for i in range(D))
    return Problem(domains, Objective({"loss": 1.0}), target_fidelity=target)


def world(x: FloatArray, fid: dict[str, float]) -> FloatArray:
    """A loss whose optimum moves with scale: at the small scale d0 is best; every unit of log-compute makes d3
    more useful (its slope is steeper) and broad mixtures gain a little more than narrow ones."""
    gap = log_compute_gap(fid, SMALL) or 0.0
    small = 3.0 + 0.8 * (x[:, 0] - 0.6) ** 2 + 0.4 * np.sum(x[:, 1:] ** 2, axis=1)
    h = features(x)[:, -1]
    return np.asarray(small - gap * (0.05 + 0.06 * x[:, 3] + 0.01 * h), dtype=np.float64)


def observations(n_small: int, n_medium: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for fid, n in ((SMALL, n_small), (MEDIUM, n_medium)):
        x = rng.dirichlet(np.ones(D), size=n)
        y = world(x, fid) + rng.normal(0, 1e-3, size=n)
        out += [Observation(weights=w, fidelity=fid, metrics={"loss": float(v)}) for w, v in zip(x, y, strict=True)]
    return out


def test_log_compute_gap_sums_the_shared_keys() -> None:
    assert log_compute_gap(MEDIUM, SMALL) == pytest.approx(math.log(8))
    assert log_compute_gap({"tokens": 2e9}, SMALL) == pytest.approx(math.log(2))
    assert log_compute_gap({"steps": 10}, SMALL) is None


def test_fit_recovers_the_shift_of_a_known_world() -> None:
    rng = np.random.default_rng(1)
    x = rng.dirichlet(np.ones(D), size=30)
    gap = math.log(8)
    resid = world(x, MEDIUM) - world(x, SMALL)
    shift = fit_scale_shift(x, np.full(30, gap), resid)
    assert shift is not None and shift.rmse_after < 0.05 * shift.rmse_before
    probe = rng.dirichlet(np.ones(D), size=200)
    far = math.log(256)
    np.testing.assert_allclose(shift(probe, far), world(probe, LARGE) - world(probe, SMALL), atol=2e-3)
    # the gradient is the derivative of the shift
    p, e = probe[0], np.array([1e-6, -1e-6, 0.0, 0.0])
    numeric = (shift(p + e, far) - shift(p - e, far))[0] / 2
    assert shift.grad(p, far) @ e == pytest.approx(numeric, rel=1e-3)


def test_the_default_carries_the_fit_over_unchanged() -> None:
    mixer = RegMixMixer(problem(), RegMixConfig(model="ridge"), seed=0).fit(observations(60, 12))
    assert mixer.fidelity_answer().transfer == "assumed" and mixer.shift is None
    assert "assume" in mixer.recommend().diagnostics["scale_shift"]["note"]


def test_mixture_terms_the_runs_do_not_support_are_dropped() -> None:
    rng = np.random.default_rng(4)
    x = rng.dirichlet(np.ones(D), size=12)
    gaps = np.full(12, math.log(8))
    shift = fit_scale_shift(x, gaps, -0.1 * gaps + rng.normal(0, 0.01, size=12))  # a common slope and noise
    assert shift is not None and not shift.supported and not shift.moves_optimum
    assert shift.slope == pytest.approx(-0.1, abs=0.01)


def test_too_few_runs_at_other_fidelities_fit_nothing() -> None:
    x = np.random.default_rng(2).dirichlet(np.ones(D), size=D + 1)
    assert fit_scale_shift(x, np.ones(D + 1), np.zeros(D + 1)) is None


@pytest.mark.parametrize("mixer_cls, config", [
    (RegMixMixer, RegMixConfig(model="ridge", scale_transfer="shift")),
    (RegMixMixer, RegMixConfig(scale_transfer="shift")),
    (MixingLawMixer, MixingLawConfig(trust_region=False, scale_transfer="shift")),
])
def test_the_answer_at_the_target_moves_with_scale(mixer_cls: type, config: object) -> None:
    obs = observations(60, 12)
    shifted = mixer_cls(problem(), config, seed=0).fit(obs)
    assumed = mixer_cls(problem(), config.model_copy(update={"scale_transfer": "assume"}), seed=0).fit(obs)
    assert shifted.fidelity_answer().transfer == "extrapolated"
    assert assumed.fidelity_answer().transfer == "assumed"
    rec, old = shifted.recommend(), assumed.recommend()
    assert rec.diagnostics["scale_shift"]["used"] and rec.diagnostics["scale_shift"]["runs"] == 12
    # d3 gains from scale: the target answer puts more on it, and it is truly better at the target
    assert rec.weights[3] > old.weights[3] + 0.05
    true_new, true_old = world(rec.weights[None, :], LARGE)[0], world(old.weights[None, :], LARGE)[0]
    assert true_new < true_old
    # at the train fidelity the shift changes nothing
    probe = np.random.default_rng(3).dirichlet(np.ones(D), size=20)
    np.testing.assert_allclose(shifted.predict(probe, SMALL).mean, assumed.predict(probe, SMALL).mean)
    # and at the target it predicts the larger scale's values much better than the small fit carried over
    err_new = np.abs(shifted.predict(probe, LARGE).mean - world(probe, LARGE)).mean()
    err_old = np.abs(assumed.predict(probe, LARGE).mean - world(probe, LARGE)).mean()
    assert err_new < 0.3 * err_old


def test_without_runs_at_a_second_fidelity_the_answer_is_assumed() -> None:
    mixer = RegMixMixer(problem(), RegMixConfig(model="ridge", scale_transfer="shift"), seed=0).fit(
        observations(40, D + 1))
    assert mixer.fidelity_answer().transfer == "assumed"
    diag = mixer.recommend().diagnostics["scale_shift"]
    assert not diag["used"] and f"needs {D + 2}" in diag["note"]
