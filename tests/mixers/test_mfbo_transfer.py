"""``mfbo`` learns how much a lower fidelity tells about the target, and stops proposing runs there when it
tells little; it answers with the fidelity its numbers are for."""

from __future__ import annotations

import numpy as np

from mixers.mfbo import MFBOConfig, MFBOMixer
from mixers.types import DomainSpec, Objective, Observation, PendingRun, Problem, fidelity_key

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


def paired_runs(n_pairs: int, n_lo: int, seed: int = 0, low_informs: bool = True) -> list[Observation]:
    """``n_pairs`` mixtures run at LO and at HI, then ``n_lo`` more at LO only. ``low_informs``: LO is the
    target shifted up; otherwise independent noise of the target's spread."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(D), n_pairs + n_lo)
    spread = float(target_loss(w).std())
    lo_loss = target_loss(w) + 0.5 if low_informs else 2.5 + spread * rng.normal(size=len(w))
    lo = [Observation(weights=x, fidelity=dict(LO), metrics={"loss": float(v)}, cost=0.1)
          for x, v in zip(w, lo_loss, strict=True)]
    hi = [Observation(weights=x, fidelity=dict(HI), metrics={"loss": float(target_loss(x))}, cost=1.0)
          for x in w[:n_pairs]]
    return lo + hi


def test_noise_at_the_low_fidelity_gives_a_low_correlation_and_single_fidelity_proposals() -> None:
    obs = paired_runs(8, 16, low_informs=False)
    m = mixer().fit(obs)
    assert corr_at(m, LO) < 0.5
    assert corr_at(m, HI) == 1.0
    props = m.propose(4, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in props)
    # The gate closed: the proposals are the single-fidelity mode's, on the target runs alone.
    single = mixer(multi_fidelity=False).fit(obs).propose(4, fidelity=HI)
    assert [p.weights.tolist() for p in props] == [p.weights.tolist() for p in single]
    assert props.diagnostics["method"] == "single_fidelity"
    assert "below min_correlation" in props.diagnostics["gate_note"]
    assert props.diagnostics["transfer"][0]["pairs"] == 8
    diag = m.recommend().diagnostics
    assert {fidelity_key(c["fidelity"]) for c in diag["fidelity_correlations"]} == {fidelity_key(LO), fidelity_key(HI)}


def test_only_mixtures_run_at_both_fidelities_measure_the_transfer() -> None:
    # Runs that share no mixture across fidelities teach the model but measure no transfer.
    assert all(c["correlation"] is None or c["runs"] == 6 for c in
               mixer().fit(campaign_runs(24, 6, low_informs=True)).fidelity_correlations())
    m = mixer().fit(paired_runs(2, 10) + campaign_runs(0, 6, low_informs=True, seed=5))
    assert next(c for c in m.fidelity_correlations() if fidelity_key(c["fidelity"]) == fidelity_key(LO))[
        "correlation"] is None  # 2 pairs < MIN_TRANSFER_PAIRS


def test_pairs_at_the_best_cheap_mixtures_are_corrected_for_their_narrow_range() -> None:
    # The pairs sit at the 8 best of 40 cheap mixtures, where a noisy cheap fidelity ranks less well; over all
    # 40 it tracks the target. The raw correlation of the pairs understates that (it would close the gate at
    # 0.7); the corrected one does not.
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(D), 40)
    hi_all = target_loss(w)
    lo_all = hi_all + 0.5 + 0.3 * hi_all.std() * rng.normal(size=40)
    best = np.argsort(lo_all)[:8]
    obs = [Observation(weights=x, fidelity=dict(LO), metrics={"loss": float(v)}, cost=0.1)
           for x, v in zip(w, lo_all, strict=True)]
    obs += [Observation(weights=w[i], fidelity=dict(HI), metrics={"loss": float(hi_all[i])}, cost=1.0)
            for i in best]
    raw = float(np.corrcoef(lo_all[best], hi_all[best])[0, 1])
    full = float(np.corrcoef(lo_all, hi_all)[0, 1])
    got = corr_at(mixer().fit(obs), LO)
    assert raw < 0.7 < got and abs(got - full) < abs(raw - full) - 0.2


def test_a_low_fidelity_that_tracks_the_target_is_learned_and_used() -> None:
    m = mixer().fit(paired_runs(6, 18))
    assert corr_at(m, LO) > 0.9
    # Few cheap runs so far: the mixtures the target's EI points to are screened at the cheap fidelity first.
    few = mixer().fit(paired_runs(4, 0))
    assert corr_at(few, LO) > 0.9
    props = few.propose(4, fidelities=[LO, HI])
    assert any(fidelity_key(p.fidelity) == fidelity_key(LO) for p in props)  # cheap runs still pay
    # The knowledge gradient per unit cost also keeps buying them.
    kg = mixer(acquisition="kg").fit(paired_runs(6, 18)).propose(4, fidelities=[LO, HI])
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


def test_the_cheap_fidelity_is_screened_first_then_its_best_mixtures_are_paired() -> None:
    only_low = paired_runs(0, 6, seed=3)
    m = mixer().fit(only_low)
    assert all(c["correlation"] is None for c in m.fidelity_correlations())  # not learnable without target runs
    # 6 cheap runs, fewer than the default screening: the batch screens there. A target run costs 1000 cheap
    # ones by the cost model (the product of the fidelity values until target runs carry costs), so the default
    # is the cap, 20 per domain; with equal costs it is the BO initial design, 2 per domain.
    screening = m.propose(2, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(LO) for p in screening)
    assert screening.diagnostics["screen_runs"] == 20 * D
    equal = mixer(cost_exponents={}).fit(only_low).propose(2, fidelities=[LO, HI])
    assert equal.diagnostics["screen_runs"] == 2 * D
    assert screening.diagnostics["method"] == "calibration"
    assert [r["role"] for r in screening.diagnostics["runs"]] == ["screen", "screen"]
    assert "3 wanted" in m.gate_note
    # Enough screened: the two best cheap mixtures are run at the target (pairs that measure the transfer).
    best_two = sorted(only_low, key=lambda o: o.metrics["loss"])[:2]
    pairs = mixer(screen_runs=6).fit(only_low).propose(2, fidelities=[LO, HI])
    assert all(fidelity_key(p.fidelity) == fidelity_key(HI) for p in pairs)
    got = sorted(tuple(np.round(p.weights, 9)) for p in pairs)
    assert got == sorted(tuple(np.round(np.asarray(o.weights), 9)) for o in best_two)
    assert [r["role"] for r in pairs.diagnostics["runs"]] == ["pair", "pair"]
    # A third pair wanted, two slots: one pair, and the other slot screens.
    pending = [PendingRun(weights=np.asarray(o.weights), fidelity=dict(HI)) for o in best_two]
    third = mixer(screen_runs=6).fit(only_low).propose(2, fidelities=[LO, HI], pending=pending)
    assert sorted(fidelity_key(p.fidelity) for p in third) == sorted([fidelity_key(HI), fidelity_key(LO)])
    # Without calibration, cheap runs are trusted at once.
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
