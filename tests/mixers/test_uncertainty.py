"""Calibration of the mixers' predictive sd on a synthetic problem whose truth is known: fitted on noisy runs, the
68% and 95% intervals must cover fresh noisy runs at about those rates. And the pieces: the scale calibration, the
residual model, the cross-validated coverage and folds, the winner rule."""

from __future__ import annotations

import numpy as np
import pytest

from mixers.auto import AutoMixer
from mixers.evaluation import cross_validate, make_folds
from mixers.mfbo import MFBOMixer
from mixers.mixing_law import MixingLawMixer
from mixers.ot import OTMixer
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem
from mixers.uncertainty import ResidualModel, calibrate_scale, coverage

FID = {"params": 1e6, "tokens": 1e9}
NOISE = 0.05


def truth(w: np.ndarray) -> np.ndarray:
    """The noise-free objective ``(n,)`` of mixtures ``(n, 4)``."""
    return np.asarray(3.0 + np.exp(0.2 - 1.2 * w[:, 0] + 0.6 * w[:, 1] - 0.4 * w[:, 2] + 0.3 * w[:, 3] ** 2))


def problem() -> Problem:
    return Problem(tuple(DomainSpec(n) for n in "abcd"), Objective({"loss": 1.0}), FID)


def draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(4), size=n)
    return w, truth(w) + rng.normal(0, NOISE, size=n)


def observations(w: np.ndarray, y: np.ndarray) -> list[Observation]:
    return [Observation(weights=x, fidelity=FID, metrics={"loss": float(v)}) for x, v in zip(w, y, strict=True)]


@pytest.mark.parametrize("make", [
    lambda p: RegMixMixer(p, RegMixConfig(model="lightgbm", n_estimators=300), seed=0),
    lambda p: RegMixMixer(p, RegMixConfig(n_estimators=300), seed=0),
    lambda p: MixingLawMixer(p, seed=0),
    lambda p: MFBOMixer(p, seed=0),
], ids=["regmix-lightgbm", "regmix-auto", "mixing_law", "mfbo"])
def test_intervals_cover_fresh_runs_at_their_nominal_rate(make) -> None:  # type: ignore[no-untyped-def]
    p = problem()
    mixer = make(p).fit(observations(*draw(300, 1)))
    w, y = draw(1000, 2)
    pred = mixer.predict(w)
    assert pred.std is not None and np.all(pred.std > 0)
    cov = coverage(y, pred.mean, pred.std)
    assert cov["68"] is not None and 0.58 <= cov["68"] <= 0.80, cov
    assert cov["95"] is not None and 0.88 <= cov["95"] <= 0.99, cov
    assert "1 sd of the predictive distribution" in mixer.std_meaning()
    rec = mixer.recommend()
    assert rec.std is not None and rec.std > 0


def test_calibrate_scale_recovers_the_spread_of_z_scores() -> None:
    z = np.random.default_rng(0).normal(size=20_000)
    assert calibrate_scale(z) == pytest.approx(1.0, abs=0.05)
    assert calibrate_scale(2.0 * z) == pytest.approx(2.0, rel=0.05)
    # heavy tails: the 68% interval is matched by a scale below the RMS (which over-covers at 68%)
    t = np.random.default_rng(1).standard_t(2, size=20_000)
    c = calibrate_scale(t / np.sqrt(np.mean(t**2)))
    assert c < 0.8
    assert calibrate_scale(np.array([])) == 1.0


def test_residual_model_grows_with_distance_when_errors_do() -> None:
    rng = np.random.default_rng(0)
    dist = rng.uniform(0, 1, size=2000)
    resid = rng.normal(size=2000) * 0.1 * np.sqrt(1 + 9 * dist**2)
    model = ResidualModel.fit(resid, dist)
    assert model is not None
    near, far = model.std(np.array([0.0, 1.0]))
    assert far / near == pytest.approx(np.sqrt(10), rel=0.25)
    assert ResidualModel.fit(resid[:3], dist[:3]) is None


def test_cross_validate_reports_std_coverage_folds_and_standard_errors() -> None:
    p = problem()
    obs = observations(*draw(80, 3))
    folds = make_folds(obs, p.objective, 4, seed=0)
    for mixer in (MixingLawMixer(p, seed=0), MFBOMixer(p, seed=0), AutoMixer(p, seed=0)):
        scores = cross_validate(mixer, folds)
        assert scores.std is not None and scores.std.shape == (80,) and np.all(scores.std > 0)
        assert [f.fold for f in scores.folds] == [0, 1, 2, 3] and sum(f.n for f in scores.folds) == 80
        for level in ("68", "95"):
            value = scores.coverage[level]
            assert value is not None and 0 <= value <= 1
        assert scores.spearman_se is not None and scores.spearman_se >= 0
        assert scores.mae_se is not None and scores.mae_se >= 0


def test_ot_gives_no_std_and_says_why() -> None:
    assert "no std" in OTMixer(problem()).std_meaning()


def test_mfbo_recommendation_beyond_every_run_reports_at_least_the_gap() -> None:
    p = problem()
    w, y = draw(40, 4)
    mixer = MFBOMixer(p, seed=0).fit(observations(w, y))
    rec = mixer.recommend()
    best = float(y.min())
    if rec.predicted < best:
        assert rec.std is not None and rec.std >= best - rec.predicted - 1e-12
        assert rec.diagnostics["std_floor"]["beyond_best_observed"] == pytest.approx(best - rec.predicted)
    else:
        assert "std_floor" not in rec.diagnostics


@pytest.mark.parametrize("cls", [RegMixMixer, MixingLawMixer])
def test_sd_at_another_fidelity_comes_from_the_runs_there(cls) -> None:  # type: ignore[no-untyped-def]
    """Fitted on small runs, answers at the target are carried over unchanged; with runs at the target the sd
    covers the change of scale, without them it cannot (and says so)."""
    p = problem()
    small = {"params": 1e5, "tokens": 1e8}

    def shifted(w: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(y - 0.4 + 0.3 * w[:, 0])

    ws, ys = draw(200, 5)
    wm, ym = draw(40, 6)
    at_small = [Observation(weights=x, fidelity=small, metrics={"loss": float(v)}) for x, v in zip(ws, ys, strict=True)]
    both = cls(p, seed=0).fit(at_small + observations(wm, shifted(wm, ym)))
    assert both.ts.fidelity == small and both.fidelity_answer(FID).transfer == "assumed"
    wt, yt = draw(400, 7)
    yt = shifted(wt, yt)
    pred = both.predict(wt, FID)
    cov = coverage(yt, pred.mean, pred.std)
    assert cov["95"] is not None and cov["95"] >= 0.85, cov
    assert "at another fidelity with completed runs" in both.std_meaning()
    alone = cls(p, seed=0).fit(at_small).predict(wt, FID)
    blind = coverage(yt, alone.mean, alone.std)
    assert blind["95"] is not None and blind["95"] < 0.5, blind
