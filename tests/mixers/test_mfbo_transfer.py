"""``mfbo`` learns how much a lower fidelity tells about the target, and stops proposing runs there when it
tells little (issue 14); it answers with the fidelity its numbers are for."""

from __future__ import annotations

import numpy as np

from mixers.mfbo import MFBOConfig, MFBOMixer
from mixers.types import DomainSpec, Objective, Observation, Problem, fidelity_key

D = 4
LO = {"params": 1e6, "tokens": 1e9}
HI = {"params": 1e8, "tokens": 1e10}
OPT = np.array([0.4, 0.3, 0.2, 0.1])
FAST = {"n_candidates": 256, "restarts": 2, "refine_top": 1, "kg_set_size": 32}


def target_loss(w: np.ndarray) -> np.ndarray:
    return np.asarray(2.0 + 3.0 * ((w - OPT) ** 2).sum(axis=-1))


def problem() -> Problem:
    return Problem(domains=tuple(DomainSpec(f"d{i}") for i in range(D)), objective=Objective({"loss": 1.0}),
                   target_fidelity=dict(HI))


def campaign_runs(n_lo: int, n_hi: int, low_informs: bool, seed: int = 0) -> list[Observation]:
    """Runs at LO (cost 0.1) and HI (cost 1). ``low_informs``: LO is the target shifted up with a little noise;
    otherwise LO is independent noise of the same spread as the target's values."""
    rng = np.random.default_rng(seed)
    out = []
    spread = float(target_loss(rng.dirichlet(np.ones(D), 200)).std())
    for i in range(n_lo + n_hi):
        w = rng.dirichlet(np.ones(D))
        if i >= n_lo:
            fid, loss, cost = HI, float(target_loss(w)) + 0.002 * rng.normal(), 1.0
        elif low_informs:
            fid, loss, cost = LO, float(target_loss(w)) + 0.5 + 0.002 * rng.normal(), 0.1
        else:
            fid, loss, cost = LO, 2.5 + spread * rng.normal(), 0.1
        out.append(Observation(weights=w, fidelity=dict(fid), metrics={"loss": loss}, cost=cost))
    return out


def mixer(**cfg: object) -> MFBOMixer:
    return MFBOMixer(problem(), MFBOConfig(**{**FAST, **cfg}), seed=0)


def corr_at(m: MFBOMixer, fid: dict[str, float]) -> float:
    row = next(c for c in m.fidelity_correlations() if fidelity_key(c["fidelity"]) == fidelity_key(fid))
    assert row["correlation"] is not None
    return float(row["correlation"])


def test_noise_at_the_low_fidelity_gives_a_low_correlation_and_target_proposals() -> None:
    m = mixer().fit(campaign_runs(24, 10, low_informs=False))
    assert corr_at(m, LO) < 0.5
    assert corr_at(m, HI) == 1.0
    props = m.propose(4, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in props)
    diag = m.recommend().diagnostics
    assert {fidelity_key(c["fidelity"]) for c in diag["fidelity_correlations"]} == {fidelity_key(LO), fidelity_key(HI)}


def paired_runs(n_pairs: int, n_lo: int, seed: int = 0) -> list[Observation]:
    """``n_pairs`` mixtures run at LO (the target shifted up) and at HI, then ``n_lo`` more at LO only."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(D), n_pairs + n_lo)
    lo = [Observation(weights=x, fidelity=dict(LO), metrics={"loss": float(target_loss(x)) + 0.5}, cost=0.1)
          for x in w]
    hi = [Observation(weights=x, fidelity=dict(HI), metrics={"loss": float(target_loss(x))}, cost=1.0)
          for x in w[:n_pairs]]
    return lo + hi


def test_a_low_fidelity_that_tracks_the_target_is_learned_and_used() -> None:
    m = mixer().fit(campaign_runs(24, 6, low_informs=True))
    assert corr_at(m, LO) > 0.9
    # Few cheap runs so far: the mixtures the target's EI points to are screened at the cheap fidelity first.
    few = mixer().fit(paired_runs(4, 0))
    assert corr_at(few, LO) > 0.9
    props = few.propose(4, fidelities=[LO, HI])
    assert any(fidelity_key(p.fidelity) == fidelity_key(LO) for p in props)  # cheap runs still pay
    # The knowledge gradient per unit cost also keeps buying them.
    kg = mixer(acquisition="kg").fit(campaign_runs(24, 6, low_informs=True)).propose(4, fidelities=[LO, HI])
    assert any(fidelity_key(p.fidelity) == fidelity_key(LO) for p in kg)


def test_a_screened_mixture_that_beats_the_target_runs_is_climbed_to_the_target() -> None:
    obs = paired_runs(4, 0)
    best_hi = min(o.metrics["loss"] for o in obs if o.fidelity == HI)
    # A cheap run at a mixture near the optimum: its cheap loss beats that of every mixture run at the target.
    good = OPT + np.array([0.01, -0.01, 0.0, 0.0])
    obs.append(Observation(weights=good, fidelity=dict(LO), metrics={"loss": float(target_loss(good)) + 0.5},
                           cost=0.1))
    assert float(target_loss(good)) < best_hi
    first = mixer().fit(obs).propose(2, fidelities=[LO, HI])[0]
    assert fidelity_key(first.fidelity) == fidelity_key(HI) and np.allclose(first.weights, good)


def test_calibration_runs_pair_the_best_cheap_mixtures_with_target_runs() -> None:
    obs = paired_runs(0, 6, seed=3)
    best_two = sorted(obs, key=lambda o: o.metrics["loss"])[:2]
    props = mixer().fit(obs).propose(2, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in props)
    got = sorted(tuple(np.round(p.weights, 9)) for p in props)
    assert got == sorted(tuple(np.round(np.asarray(o.weights), 9)) for o in best_two)


def test_the_target_is_calibrated_before_cheap_runs_are_trusted() -> None:
    only_low = campaign_runs(6, 0, low_informs=True)
    m = mixer().fit(only_low)
    assert all(c["correlation"] is None for c in m.fidelity_correlations())  # not learnable without target runs
    props = m.propose(2, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in props)
    free = mixer(calibration_runs=0).fit(only_low).propose(2, fidelities=[LO, HI])
    assert any(fidelity_key(p.fidelity) == fidelity_key(LO) for p in free)


def test_fidelity_answer_says_observed_or_extrapolated() -> None:
    m = mixer().fit(campaign_runs(12, 0, low_informs=True) + campaign_runs(0, 4, low_informs=True, seed=1))
    assert m.fidelity_answer(LO).transfer == "observed"
    assert m.fidelity_answer().transfer == "observed" and m.fidelity_answer().fidelity == HI
    mid = {"params": 1e7, "tokens": 3e9}
    assert m.fidelity_answer(mid).transfer == "extrapolated"
    # A key only the request names is dropped; the answer is for the keys the runs use.
    ans = m.fidelity_answer({**mid, "epochs": 2.0})
    assert ans.fidelity == mid and "epochs" in ans.note
