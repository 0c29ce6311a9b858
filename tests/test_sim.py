"""The proxy-run simulator (bench/sim) behaves like real proxy runs, deterministically."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.stats import spearmanr

from bench.sim import (
    NOISE,
    PRESETS,
    Job,
    Trainer,
    fidelity,
    make_world,
    n_params,
    preset_world,
    rank_for_params,
    run,
    run_many,
)
from bench.sim.__main__ import main as cli_main
from bench.sim.domains import WorldSpec, build_world


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return preset_world(6)


def test_presets_build_worlds_with_a_token_prior_and_a_target_unlike_any_domain() -> None:
    with_noise = 0
    for n, spec in PRESETS.items():
        w = preset_world(n)
        assert w.n == n == len(set(w.names))
        with_noise += NOISE in w.names
        assert np.allclose(w.transitions.sum(axis=2), 1.0) and np.allclose(w.target_transition.sum(axis=1), 1.0)
        assert (w.tokens > 0).all() and np.isclose(w.prior().sum(), 1.0)
        assert np.isclose(w.relevance.sum(), 1.0) and (w.relevance > 0).sum() >= 2
        if spec.noisy_domain:
            assert w.relevance[w.names.index(NOISE)] == 0
        gaps = np.abs(w.transitions - w.target_transition[None]).max(axis=(1, 2))
        assert gaps.min() > 0.05  # the target is no single domain
        ent = w.entropy()
        assert all(0 < ent[k] < np.log(w.vocab) for k in ent)
    assert with_noise >= 1
    assert not PRESETS[2].noisy_domain and PRESETS[6].noisy_domain


def test_world_pickles_as_its_spec_and_is_rebuilt_identically() -> None:
    w = make_world(3, seed=11, token_scale=0.05)
    blob = pickle.dumps(w)
    assert len(blob) < 2000
    assert pickle.loads(blob) is w  # rebuilt from the per-process cache
    fresh = build_world.__wrapped__(WorldSpec(3, seed=11, token_scale=0.05))
    assert np.array_equal(fresh.docs, w.docs) and np.array_equal(fresh.val_counts, w.val_counts)
    other = build_world.__wrapped__(WorldSpec(3, seed=12, token_scale=0.05))
    assert not np.array_equal(other.transitions, w.transitions)


def test_mixture_parsing_and_validation(world) -> None:  # type: ignore[no-untyped-def]
    assert np.allclose(world.mixture("uniform"), 1 / world.n)
    w = world.mixture({"d0": 2.0, "d1": 2.0})
    assert w[0] == w[1] == 0.5 and w[2:].sum() == 0
    for bad in ({"nope": 1.0}, [1.0, 2.0], [-1.0, 1, 1, 1, 1, 1], [0.0] * 6, "best"):
        with pytest.raises(ValueError):
            world.mixture(bad)
    with pytest.raises(ValueError):
        Trainer(world, {"params": 1000.0})


def test_fidelity_maps_params_to_rank_and_cost_is_params_times_tokens(world) -> None:  # type: ignore[no-untyped-def]
    for r in (1, 4, 32):
        assert rank_for_params(world.vocab, n_params(world.vocab, r)) == r
    small, target = fidelity(world, "small"), fidelity(world, "target")
    assert small["params"] < target["params"] and small["tokens"] < target["tokens"]
    res = run(world, "uniform", small, seed=0)
    assert res.cost == small["params"] * small["tokens"]
    assert set(res.metrics) == {f"val/{n}" for n in world.names} | {"target"}
    assert [p["step"] for p in res.trajectory] == sorted(p["step"] for p in res.trajectory)
    assert res.trajectory[-1]["tokens"] == small["tokens"]
    assert all(res.trajectory[-1][k] == v for k, v in res.metrics.items())


def test_runs_are_seeded_also_across_processes(world) -> None:  # type: ignore[no-untyped-def]
    mixes = [world.mixture("uniform"), world.mixture("relevance")]
    here = [run(world, m, "small", seed=3).metrics for m in mixes]
    again = [run(world, m, "small", seed=3).metrics for m in mixes]
    pooled = [r.metrics for r in run_many([Job(world, m, "small", 3) for m in mixes], processes=2)]
    assert here == again == pooled
    assert run(world, mixes[0], "small", seed=4).metrics != here[0]


def test_trainer_is_stepwise_deterministic_and_the_mixture_can_change_mid_run(world) -> None:  # type: ignore[no-untyped-def]
    one = Trainer(world, "small", seed=1)
    one.train("uniform", 16)
    two = Trainer(world, "small", seed=1)
    two.train("uniform", 10)
    copy = two.clone()
    two.train("uniform", 6)
    assert one.evaluate() == two.evaluate() and one.target_loss() == two.target_loss()
    copy.train({"d0": 1.0}, 6)  # the clone diverges without touching the original
    assert copy.evaluate() != two.evaluate() and two.evaluate() == one.evaluate()
    assert one.step == 16 and one.tokens_seen == 16 * one.batch_tokens
    assert one.metrics()["target"] == one.target_loss()


def test_training_on_a_domain_lowers_its_own_loss_most(world) -> None:  # type: ignore[no-untyped-def]
    base = Trainer(world, "small", seed=0)
    base.train("uniform", 32)
    start = base.evaluate()
    for j, name in enumerate(world.names[:-1]):
        t = base.clone()
        t.train(np.eye(world.n)[j], 16)
        drop = {k: start[k] - v for k, v in t.evaluate().items()}
        assert max(drop, key=drop.__getitem__) == name
        assert np.array_equal(t.domain_tokens - base.domain_tokens, np.eye(world.n)[j] * 16 * t.batch_tokens)


def test_more_tokens_and_more_params_lower_the_loss(world) -> None:  # type: ignore[no-untyped-def]
    for mix in ("uniform", "relevance"):
        by_tokens = [
            run(world, mix, {"params": n_params(128, 12), "tokens": 2.0**k}).metrics["target"] for k in (16, 18, 20)
        ]
        assert by_tokens[0] > by_tokens[1] > by_tokens[2]
    by_rank = [
        run(world, "relevance", {"params": n_params(128, r), "tokens": 2.0**20}).metrics["target"] for r in (2, 8, 32)
    ]
    assert by_rank[0] > by_rank[1] > by_rank[2]


def test_the_noisy_domain_hurts(world) -> None:  # type: ignore[no-untyped-def]
    noise = np.eye(world.n)[world.names.index(NOISE)]
    for base in ("relevance", "uniform"):
        p = world.mixture(base)
        for fid in ("small", "medium"):
            losses = [run(world, (1 - e) * p + e * noise, fid).metrics["target"] for e in (0.0, 0.15, 0.3)]
            assert losses[0] < losses[1] < losses[2], (base, fid, losses)


def test_the_best_mixture_is_neither_uniform_nor_a_single_domain(world) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    mixes = np.vstack([np.full(world.n, 1 / world.n), np.eye(world.n), rng.dirichlet(np.ones(world.n), 48)])
    losses = np.array([r.metrics["target"] for r in run_many([Job(world, m, "small") for m in mixes])])
    best = int(np.argmin(losses))
    assert best > world.n  # not uniform (0), not a one-hot (1..n)
    assert losses[best] < losses[0] - 0.05 and losses[best] < losses[1 : world.n + 1].min() - 0.3
    assert (mixes[best] >= 0.1).sum() >= 2


@pytest.mark.slow
def test_small_runs_rank_mixtures_like_target_runs_but_not_perfectly(world) -> None:  # type: ignore[no-untyped-def]
    mixes = np.random.default_rng(123).dirichlet(np.ones(world.n), 64)
    out = {
        fid: np.array([r.metrics["target"] for r in run_many([Job(world, m, fid) for m in mixes])])
        for fid in ("small", "target")
    }
    rho = spearmanr(out["small"], out["target"])[0]
    assert 0.8 < rho < 0.99
    assert out["small"].mean() > out["target"].mean() + 0.3


def test_cli_prints_losses(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli_main(["--domains", "3", "--weights", "uniform", "--fidelity", "small"]) == 0
    out = capsys.readouterr().out
    assert "target" in out and "noise" in out
    assert cli_main(["--domains", "3", "--weights", "zzz=1"]) == 2
