"""The parts of the ``mfbo`` package on their own: fidelity keys and features, the transfer measure and gate,
the screening batch's climb rule, and the model's queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixers.base import MixerError
from mixers.mfbo.batches import screens
from mixers.mfbo.batches.screen import climb
from mixers.mfbo.config import MFBOConfig, acquisition_kind
from mixers.mfbo.features import FidelityFeatures, FidelityKeys, largest_fidelity
from mixers.mfbo.model import fit_model
from mixers.mfbo.transfer import gate, measure_transfer, range_corrected_correlation, transfer_closed
from mixers.types import Observation, fidelity_key
from tests.mixers.test_mfbo_transfer import FAST, HI, LO, paired_runs, problem


def run(fid: dict[str, float]) -> Observation:
    return Observation(weights=np.full(4, 0.25), fidelity=fid, metrics={"loss": 1.0})


def test_fidelity_keys_split_varying_from_constant_and_complete_a_fidelity() -> None:
    keys = FidelityKeys.of([run({"params": 1e6, "tokens": 1e9}), run({"params": 1e7, "tokens": 1e9})])
    assert keys.varying == ("params",) and keys.constant == {"tokens": 1e9} and keys.all == ("params", "tokens")
    # A constant key the fidelity omits is taken at the runs' value; a key no run names is dropped.
    assert keys.effective({"params": 3e6, "epochs": 2}) == {"params": 3e6, "tokens": 1e9}
    with pytest.raises(MixerError, match="does not name"):
        keys.effective({"tokens": 1e9})
    notes = keys.notes({"params": 3e6, "tokens": 2e9, "epochs": 2}, "the target")
    assert any("epochs" in n for n in notes) and any("assumed" in n for n in notes)
    assert keys.unvaried_shift({"params": 3e6, "tokens": 2e9}) == ["tokens"]
    with pytest.raises(MixerError, match="same keys"):
        FidelityKeys.of([run({"params": 1e6}), run({"tokens": 1e9})])


def test_fidelity_features_put_the_target_at_zero() -> None:
    feats = FidelityFeatures.spanning(("tokens",), [{"tokens": 1e8}, {"tokens": 1e9}], {"tokens": 1e10})
    assert feats({"tokens": 1e10}) == pytest.approx([0.0])
    assert feats({"tokens": 1e8}) == pytest.approx([-1.0])  # the range of log values spans 1e8 .. 1e10
    with pytest.raises(MixerError, match="positive"):
        feats({"tokens": 0.0})
    assert FidelityFeatures.none()({"tokens": 1e9}).shape == (0,)
    assert largest_fidelity([run({"tokens": 1e8}), run({"tokens": 1e9})]) == {"tokens": 1e9}


def test_range_correction_undoes_the_selection_on_the_low_fidelity() -> None:
    rng = np.random.default_rng(0)
    low = rng.normal(size=4000)
    high = 0.8 * low + 0.6 * rng.normal(size=4000)  # correlation 0.8 over the whole population
    best = np.argsort(low)[:400]
    raw = float(np.corrcoef(low[best], high[best])[0, 1])
    corrected = range_corrected_correlation(low[best], high[best], float(np.std(low)))
    assert raw < 0.6 and corrected == pytest.approx(0.8, abs=0.05)
    # No restriction: the plain correlation; none or a negative one: 0.
    assert range_corrected_correlation(low, high, float(np.std(low))) == pytest.approx(np.corrcoef(low, high)[0, 1])
    assert range_corrected_correlation(low, -high, 1.0) == 0.0
    assert range_corrected_correlation(np.ones(5), high[:5], 1.0) == 0.0


def test_climb_takes_the_best_screened_mixture_only_when_it_beats_the_target_runs() -> None:
    w = np.eye(3)
    at_target = w[:1]
    assert climb(w, np.array([1.0, 0.5, 0.7]), at_target, 1e-6) == pytest.approx(w[1])
    assert climb(w, np.array([0.4, 0.5, 0.7]), at_target, 1e-6) is None  # the target's own pick is better
    assert climb(w, np.array([1.0, 0.5, 0.7]), np.zeros((0, 3)), 1e-6) is None  # nothing at the target yet
    assert climb(w, np.array([1.0, 0.5, 0.7]), w, 1e-6) is None  # every screened mixture is at the target


def test_the_gate_calibrates_then_keeps_or_drops_the_cheap_fidelity() -> None:
    config = MFBOConfig(**FAST)
    few = fit_model(problem(), config, 0, paired_runs(2, 10))
    decision = gate(few, measure_transfer(few), [LO, HI], [])
    assert decision.calibrating and decision.allowed == [HI] and "2 mixture(s)" in decision.note
    informs = fit_model(problem(), config, 0, paired_runs(6, 18))
    transfer = measure_transfer(informs)
    corr = transfer.correlations[fidelity_key(LO)]
    assert transfer.pairs == {fidelity_key(LO): 6} and corr is not None and corr > 0.9
    kept = gate(informs, transfer, [LO, HI], [])
    assert kept.allowed == [HI, LO] and not kept.calibrating and kept.note == ""
    assert not transfer_closed(informs, transfer, [LO, HI], kept)
    noise = fit_model(problem(), config, 0, paired_runs(8, 16, low_informs=False))
    transfer = measure_transfer(noise)
    dropped = gate(noise, transfer, [LO, HI], [])
    assert dropped.allowed == [HI] and "below min_correlation" in dropped.note
    assert transfer_closed(noise, transfer, [LO, HI], dropped)


def test_the_model_places_runs_and_prices_fidelities() -> None:
    model = fit_model(problem(), MFBOConfig(**FAST), 0, paired_runs(4, 8))
    assert model.gp is not None and len(model.used) == 16 and model.target == HI
    assert model.at_target(HI) and not model.at_target(LO)
    assert model.x(np.full((2, 4), 0.25), HI).shape == (2, 4 + 2)
    # The runs carry costs 0.1 and 1: the observed cost model prices the target at 10 cheap runs.
    assert model.costs([LO, HI]) == pytest.approx([1.0, 10.0], rel=1e-6)
    assert model.cheapest([HI, LO]) == LO
    assert screens(model, [LO, HI]) and not screens(model, [HI])
    single = fit_model(problem(), MFBOConfig(**FAST, multi_fidelity=False), 0, paired_runs(4, 8))
    assert len(single.used) == 4 and single.features.keys == ()
    assert acquisition_kind(single.config) == "ei" and not screens(single, [LO, HI])
    assert math.isfinite(single.require_gp().log_marginal_likelihood)
