"""Tests of the ``ot`` mixer and its OT distance: against POT, gradients against finite differences, a known
answer on synthetic clusters, a known log-linear scaling trend, bounds, determinism and pickling."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import ot
import pytest
from pydantic import ValidationError

from mixers.base import MixerError
from mixers.ot import OTConfig, OTMixer
from mixers.ot_distance import (
    OTDistance,
    exact_ot,
    sinkhorn_kernel,
    sinkhorn_ot,
    source_masses,
    sq_euclidean_cost,
)
from mixers.ot_model import projected_gradient, scheffe_features
from mixers.registry import get_mixer_class, parse_config
from mixers.types import DomainSpec, Objective, Observation, PendingRun, Problem

REPO = Path(__file__).resolve().parents[2]


def point_sets(
    sizes: tuple[int, ...] = (7, 11, 13), n_t: int = 17, dim: int = 4, seed: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """Overlapping Gaussian domains and a target between them (generic: the exact OT is non-degenerate)."""
    rng = np.random.default_rng(seed)
    src = [rng.normal(2.0 * i, 1.0, (n, dim)).astype(np.float32) for i, n in enumerate(sizes)]
    return src, rng.normal(1.5, 1.2, (n_t, dim)).astype(np.float32)


def clusters(
    true: list[float],
    n_dom: int = 60,
    n_t: int = 200,
    dim: int = 8,
    sep: float = 6.0,
    seed: int = 0,
    objective: Objective | None = None,
    **dom: dict[str, float],
) -> Problem:
    """Well-separated Gaussian clusters, one per domain; the target draws ``round(true_i * n_t)`` points from
    cluster ``i`` (a sample of the mixture ``true``)."""
    rng = np.random.default_rng(seed)
    d = len(true)
    centers = rng.normal(0, 1, (d, dim))
    centers *= sep / np.linalg.norm(centers, axis=1, keepdims=True)
    emb = {f"d{i}": (centers[i] + rng.normal(0, 1, (n_dom, dim))).astype(np.float32) for i in range(d)}
    counts = np.round(np.asarray(true) * n_t).astype(int)
    emb["target"] = np.vstack([centers[i] + rng.normal(0, 1, (c, dim)) for i, c in enumerate(counts)]).astype(
        np.float32
    )
    lo, hi = dom.get("lo", {}), dom.get("hi", {})
    domains = tuple(DomainSpec(f"d{i}", min_weight=lo.get(f"d{i}"), max_weight=hi.get(f"d{i}")) for i in range(d))
    return Problem(
        domains=domains,
        objective=objective or Objective({"loss": 1.0}),
        target_fidelity={"tokens": 1e10},
        embeddings=emb,
    )


def small(true: list[float], **kw: Any) -> Problem:
    """A smaller cluster problem (fast exact OT) for the tests that solve many OT problems."""
    return clusters(true, n_dom=20, n_t=60, **kw)


def tangent(rng: np.random.Generator, d: int) -> np.ndarray:
    e = rng.normal(size=d)
    return e - e.mean()


# -- the distance --------------------------------------------------------------------------------------------


def test_cost_matches_ot_dist() -> None:
    src, tgt = point_sets()
    xs = np.vstack(src)
    np.testing.assert_allclose(
        sq_euclidean_cost(xs, tgt),
        ot.dist(xs.astype(np.float64), tgt.astype(np.float64)),
        rtol=1e-5,
        atol=1e-4,
    )


def test_exact_matches_emd2() -> None:
    src, tgt = point_sets()
    sizes = tuple(len(s) for s in src)
    cost = ot.dist(np.vstack(src).astype(np.float64), tgt.astype(np.float64))
    p = np.array([[0.37, 0.41, 0.22], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    res = exact_ot(cost, p, sizes)
    for r in range(len(p)):
        a = source_masses(p[r], sizes)[0]
        assert res.values[r] == pytest.approx(ot.emd2(a, np.full(len(tgt), 1 / len(tgt)), cost), rel=1e-9)
    assert res.converged.all()


def test_sinkhorn_matches_pot_dual() -> None:
    """Value = <f, a> + <g, b> with the potentials of POT's own Sinkhorn (same regularization)."""
    src, tgt = point_sets()
    sizes = tuple(len(s) for s in src)
    cost = ot.dist(np.vstack(src).astype(np.float64), tgt.astype(np.float64))
    eps = 0.5
    p = np.array([0.37, 0.41, 0.22])
    res = sinkhorn_ot(sinkhorn_kernel(cost, eps), p, sizes, tol=1e-13, max_iter=100_000)
    a, b = source_masses(p, sizes)[0], np.full(len(tgt), 1 / len(tgt))
    _, log = ot.sinkhorn(a, b, cost, eps, log=True, stopThr=1e-14, numItermax=100_000)
    f, g = eps * np.log(log["u"] / a), eps * np.log(log["v"] / b)
    assert res.converged.all()
    assert res.values[0] == pytest.approx(f @ a + g @ b, rel=1e-9)
    # The entropic value lies above the exact one.
    assert res.values[0] > ot.emd2(a, b, cost)


@pytest.mark.parametrize("solver", ["exact", "sinkhorn"])
def test_gradient_matches_finite_differences(solver: str) -> None:
    src, tgt = point_sets()
    dist = OTDistance(
        src,
        tgt,
        solver=solver,
        tol=1e-13,
        max_iter=100_000,
        precision="double",  # type: ignore[arg-type]
    )
    rng = np.random.default_rng(3)
    p = np.array([0.37, 0.41, 0.22])
    res = dist(p)
    assert res.grads.sum() == pytest.approx(0.0, abs=1e-9)  # projected onto the tangent space
    h = 1e-6 if solver == "exact" else 1e-5
    for _ in range(4):
        e = tangent(rng, 3)
        fd = (dist(p + h * e).values[0] - dist(p - h * e).values[0]) / (2 * h)
        assert res.grads[0] @ e == pytest.approx(fd, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("solver", ["exact", "sinkhorn"])
def test_gradient_at_a_zero_weight_is_one_sided_derivative(solver: str) -> None:
    """Zero-mass domains get the (soft) c-transform potential: the derivative of giving them mass."""
    src, tgt = point_sets()
    dist = OTDistance(
        src,
        tgt,
        solver=solver,
        tol=1e-13,
        max_iter=100_000,
        precision="double",  # type: ignore[arg-type]
    )
    p = np.array([0.0, 0.6, 0.4])
    e = np.array([1.0, -0.5, -0.5])
    h = 1e-7
    fd = (dist(p + h * e).values[0] - dist(p).values[0]) / h
    assert dist(p).grads[0] @ e == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_batch_and_warm_start_agree_with_single_calls() -> None:
    src, tgt = point_sets((30, 40, 50), 60)
    dist = OTDistance(src, tgt, solver="sinkhorn", tol=1e-10, max_iter=20_000)
    p = np.random.default_rng(0).dirichlet(np.ones(3), 5)
    batch = dist(p)
    single = np.array([dist(row).values[0] for row in p])
    np.testing.assert_allclose(batch.values, single, rtol=1e-8)
    warm = dist(p, init=batch.target_potentials)
    np.testing.assert_allclose(warm.values, batch.values, rtol=1e-8)
    assert warm.iterations < batch.iterations


def test_auto_solver_and_precision_by_size() -> None:
    src, tgt = point_sets()
    assert OTDistance(src, tgt).solver == "exact"
    assert OTDistance(src, tgt, auto_exact_max=10).solver == "sinkhorn"
    big = OTDistance([np.zeros((1000, 2), np.float32)] * 2, np.zeros((600, 2), np.float32))
    assert (big.solver, big.precision) == ("sinkhorn", "single")


def test_single_precision_close_to_double() -> None:
    src, tgt = point_sets((300, 200, 250), 400, dim=16)
    p = np.random.default_rng(2).dirichlet(np.ones(3), 3)
    d64 = OTDistance(src, tgt, solver="sinkhorn", precision="double")(p)
    d32 = OTDistance(src, tgt, solver="sinkhorn", precision="single")(p)
    np.testing.assert_allclose(d32.values, d64.values, rtol=1e-5)
    np.testing.assert_allclose(d32.grads, d64.grads, atol=1e-3 * np.abs(d64.grads).max())


# -- the mixer without runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("true", "solver"),
    [
        ([0.5, 0.3, 0.2], "exact"),
        ([0.5, 0.3, 0.2], "sinkhorn"),
        ([0.4, 0.3, 0.2, 0.1], "exact"),
        ([0.4, 0.3, 0.2, 0.1], "sinkhorn"),
    ],
)
def test_recovers_the_target_mixture(true: list[float], solver: str) -> None:
    mixer = OTMixer(clusters(true), OTConfig(solver=solver), seed=0).fit([])
    rec = mixer.recommend()
    assert np.abs(rec.weights - true).sum() < 0.1  # measured: 0.0004 to 0.008
    assert rec.diagnostics["mode"] == "ot_distance"
    assert rec.diagnostics["solver"] == solver
    # It is the closest mixture: no perturbation within the simplex is closer.
    others = np.random.default_rng(0).dirichlet(np.ones(len(true)), 20)
    assert rec.predicted <= mixer.predict(others).mean.min()


def test_bounds_respected_and_active() -> None:
    prob = clusters([0.5, 0.3, 0.2], hi={"d0": 0.35}, lo={"d2": 0.4})  # the optimum sits on both bounds
    rec = OTMixer(prob, seed=0).fit([]).recommend()
    lo, hi = prob.bounds()
    assert rec.weights.sum() == pytest.approx(1.0)
    assert np.all(rec.weights >= lo - 1e-9) and np.all(rec.weights <= hi + 1e-9)
    np.testing.assert_allclose(rec.weights, [0.35, 0.25, 0.4], atol=0.01)


def test_repetition_cap_is_a_bound() -> None:
    prob = small([0.5, 0.3, 0.2])
    doms = (
        DomainSpec("d0", tokens=1e9, max_epochs=2.0),
        DomainSpec("d1", tokens=5e9),
        DomainSpec("d2", tokens=5e9),
    )
    prob = Problem(doms, prob.objective, {"tokens": 1e10}, prob.embeddings)  # d0 capped at 0.2
    rec = OTMixer(prob, seed=0).fit([]).recommend()
    assert rec.weights[0] <= 0.2 + 1e-9


def test_predict_without_runs_is_the_distance_signed_by_direction() -> None:
    prob = small([0.5, 0.3, 0.2])
    x = np.array([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]])
    dist = OTMixer(prob, seed=0).fit([]).predict(x)
    assert dist.std is None and dist.mean[0] < dist.mean[1]
    src = [prob.embeddings[n] for n in prob.names]
    np.testing.assert_allclose(dist.mean, OTDistance(src, prob.embeddings["target"])(x).values)
    maxi = Problem(prob.domains, Objective({"acc": 1.0}, "maximize"), prob.target_fidelity, prob.embeddings)
    mixer = OTMixer(maxi, seed=0).fit([])
    np.testing.assert_allclose(mixer.predict(x).mean, -dist.mean)
    rec = mixer.recommend()
    assert rec.predicted >= mixer.predict(x).mean.max() * (1 + 1e-3)  # exact OT: the search stops near the kink


def test_kl_to_prior_pulls_towards_the_prior() -> None:
    prob = small([0.7, 0.2, 0.1])
    free = OTMixer(prob, seed=0).fit([]).recommend().weights
    tied = OTMixer(prob, OTConfig(kl_to_prior=50.0), seed=0).fit([]).recommend().weights
    uniform = np.full(3, 1 / 3)
    assert np.abs(tied - uniform).sum() < np.abs(free - uniform).sum() - 0.1


def test_missing_and_mismatched_embeddings() -> None:
    prob = clusters([0.5, 0.3, 0.2])
    emb = {k: v for k, v in prob.embeddings.items() if k not in ("d1", "target")}
    with pytest.raises(MixerError, match="d1, target"):
        OTMixer(Problem(prob.domains, prob.objective, None, emb)).fit([])
    emb = dict(prob.embeddings, d2=np.zeros((5, 3), np.float32))
    with pytest.raises(MixerError, match="dimension"):
        OTMixer(Problem(prob.domains, prob.objective, None, emb)).fit([])
    with pytest.raises(MixerError, match="not fitted"):
        OTMixer(prob).predict(np.full((1, 3), 1 / 3))


def test_subsampling_is_seeded() -> None:
    prob = clusters([0.5, 0.3, 0.2], n_dom=80, n_t=150)
    cfg = OTConfig(max_points_per_domain=25, max_target_points=40)
    a, b, c = (OTMixer(prob, cfg, seed=s).fit([]) for s in (1, 1, 2))
    assert a.dist is not None and b.dist is not None and c.dist is not None
    assert a.dist.sizes == (25, 25, 25) and a.dist.n_target == 40
    np.testing.assert_array_equal(a.dist.target, b.dist.target)
    assert not np.array_equal(a.dist.target, c.dist.target)


# -- the performance predictor across data sizes -------------------------------------------------------------

SIZES = (1e8, 3e8, 1e9)


def scaling_runs(
    prob: Problem,
    n: int = 20,
    seed: int = 0,
    sizes: tuple[float, ...] = SIZES,
    metric: str = "loss",
    flip: bool = False,
) -> tuple[list[Observation], Any]:
    """Runs whose loss is exactly ``A(p) - B(p) log N``, ``A = 3 + 0.8 OT(p) / OT(uniform) + 0.2 p0``,
    ``B = 0.05 + 0.02 p1``: log-linear in N and inside the predictor's class at each size."""
    src = [prob.embeddings[nm] for nm in prob.names]
    dist = OTDistance(src, prob.embeddings["target"])
    ref = dist(np.full(prob.d, 1 / prob.d)).values[0]

    def truth(p: np.ndarray, tokens: float) -> np.ndarray:
        p = np.atleast_2d(p)
        a = 3.0 + 0.8 * dist(p).values / ref + 0.2 * p[:, 0]
        return np.asarray(a - (0.05 + 0.02 * p[:, 1]) * np.log(tokens))

    rng = np.random.default_rng(seed)
    obs = []
    for tokens in sizes:
        w = rng.dirichlet(np.ones(prob.d), n)
        for p, y in zip(w, truth(w, tokens), strict=True):
            obs.append(
                Observation(
                    weights=p,
                    fidelity={"params": 1e6, "tokens": tokens},
                    metrics={metric: float(-y if flip else y)},
                )
            )
    return obs, truth


def test_extrapolates_a_log_linear_trend() -> None:
    prob = small([0.5, 0.3, 0.2])
    obs, truth = scaling_runs(prob)
    mixer = OTMixer(prob, seed=0).fit(obs[::-1])  # any input order
    assert [f.tokens for f in mixer.fits] == list(SIZES)
    assert all(f.method == "least squares" for f in mixer.fits)
    x = np.random.default_rng(9).dirichlet(np.ones(3), 30)
    for tokens in (1e10, 3e11, 2e8):  # beyond, far beyond, inside the observed range
        pred = mixer.predict(x, {"tokens": tokens}).mean
        np.testing.assert_allclose(pred, truth(x, tokens), rtol=0, atol=1e-6)
    rec = mixer.recommend()  # target fidelity: 1e10 tokens
    assert "extrapolated from the two largest sizes" in rec.diagnostics["fidelity_note"]
    assert rec.diagnostics["mode"] == "ot_performance_predictor"
    assert rec.predicted == pytest.approx(float(truth(rec.weights, 1e10)[0]), abs=1e-6)
    grid = np.random.default_rng(1).dirichlet(np.ones(3), 300)
    assert rec.predicted <= truth(grid, 1e10).min() + 1e-6


def test_predictor_gradient_matches_finite_differences() -> None:
    prob = small([0.5, 0.3, 0.2])
    obs, _ = scaling_runs(prob)
    cfg = OTConfig(
        kl_to_prior=0.3, solver="sinkhorn", precision="double", sinkhorn_tol=1e-13, sinkhorn_max_iter=100_000
    )  # smooth: the exact OT has kinks on these equal-mass clusters
    mixer = OTMixer(prob, cfg, seed=0).fit(obs)
    model, _ = mixer.model_for({"tokens": 1e10})
    fun = mixer._search_objective(model)
    p = np.array([[0.31, 0.44, 0.25]])
    _, g, _ = fun(p, None)
    rng = np.random.default_rng(4)
    for _ in range(3):
        e = tangent(rng, 3)
        h = 1e-6
        fd = (fun(p + h * e, None)[0][0] - fun(p - h * e, None)[0][0]) / (2 * h)
        assert g[0] @ e == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_one_size_and_maximize() -> None:
    prob = small([0.5, 0.3, 0.2])
    obs, truth = scaling_runs(prob, sizes=(1e9,))
    mixer = OTMixer(prob, seed=0).fit(obs)
    rec = mixer.recommend()
    assert "one data size only" in rec.diagnostics["fidelity_note"]
    assert rec.predicted == pytest.approx(float(truth(rec.weights, 1e9)[0]), abs=1e-6)
    # The same runs as a score to maximize give the same mixture and the negated value.
    flipped, _ = scaling_runs(prob, sizes=(1e9,), metric="score", flip=True)
    maxi = Problem(prob.domains, Objective({"score": 1.0}, "maximize"), prob.target_fidelity, prob.embeddings)
    rec2 = OTMixer(maxi, seed=0).fit(flipped).recommend()
    np.testing.assert_allclose(rec2.weights, rec.weights, atol=1e-6)
    assert rec2.predicted == pytest.approx(-rec.predicted, abs=1e-9)


def test_ridge_when_features_outnumber_runs() -> None:
    prob = small([0.4, 0.3, 0.2, 0.1])  # degree 2: 2 x 10 features
    obs, truth = scaling_runs(prob, n=12)
    mixer = OTMixer(prob, seed=0).fit(obs)
    assert all(f.method.startswith("ridge") for f in mixer.fits)
    x = np.random.default_rng(2).dirichlet(np.ones(4), 50)
    pred = mixer.predict(x, {"tokens": 1e9}).mean
    assert np.all(np.isfinite(pred))
    assert np.corrcoef(pred, truth(x, 1e9))[0, 1] > 0.8
    assert mixer.recommend().diagnostics["cv_spearman"] is not None


def test_sizes_with_too_few_runs_are_ignored_and_noted() -> None:
    prob = small([0.5, 0.3, 0.2])
    obs, _ = scaling_runs(prob, n=2)
    rec = OTMixer(prob, seed=0).fit(obs).recommend()
    assert rec.diagnostics["mode"] == "ot_distance"
    assert any("too few distinct mixtures" in note for note in rec.diagnostics["notes"])


def test_scheffe_features_shape() -> None:
    p = np.array([[0.2, 0.3, 0.5]])
    assert scheffe_features(p, 1).shape == (1, 3)
    np.testing.assert_allclose(scheffe_features(p, 2), [[0.2, 0.3, 0.5, 0.06, 0.1, 0.15]])


def test_projected_gradient_on_a_quadratic() -> None:
    target = np.array([0.6, 0.5, -0.1])  # outside the simplex: the answer is its projection

    def fun(p: np.ndarray, warm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return ((p - target) ** 2).sum(axis=1), 2 * (p - target), np.zeros((len(p), 1))

    res = projected_gradient(fun, np.array([[1 / 3] * 3, [0.0, 0.0, 1.0]]), np.zeros(3), np.ones(3), 200)
    np.testing.assert_allclose(res.p, [[0.55, 0.45, 0.0]] * 2, atol=1e-5)


# -- the contract: determinism, pickling, proposals, config --------------------------------------------------


def test_same_seed_same_answer_and_pickle_round_trip() -> None:
    prob = small([0.5, 0.3, 0.2])
    obs, _ = scaling_runs(prob)
    a = OTMixer(prob, seed=5).fit(obs)
    b = OTMixer(prob, seed=5).fit(obs)
    np.testing.assert_array_equal(a.recommend().weights, b.recommend().weights)
    x = np.random.default_rng(0).dirichlet(np.ones(3), 10)
    clone = pickle.loads(pickle.dumps(a))
    assert clone.dist is not None and clone.dist._cost is None  # the cost matrix is rebuilt, not pickled
    np.testing.assert_array_equal(clone.predict(x).mean, a.predict(x).mean)
    fresh = pickle.loads(pickle.dumps(OTMixer(prob, seed=5).fit(obs)))
    np.testing.assert_array_equal(fresh.recommend().weights, a.recommend().weights)


def test_same_answer_in_another_process() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests/mixers'); from test_ot import small;"
        "from mixers.ot import OTMixer, OTConfig;"
        "r = OTMixer(small([0.5, 0.3, 0.2]), OTConfig(solver='sinkhorn'), seed=3).fit([]).propose(3);"
        "print(repr([x.weights.tolist() for x in r]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    here = OTMixer(small([0.5, 0.3, 0.2]), OTConfig(solver="sinkhorn"), seed=3).fit([]).propose(3)
    assert eval(out.stdout.strip()) == [x.weights.tolist() for x in here]


def test_propose_new_diverse_feasible_runs() -> None:
    prob = small([0.5, 0.3, 0.2], hi={"d0": 0.45})
    obs, _ = scaling_runs(prob, n=6)
    mixer = OTMixer(prob, seed=0).fit(obs)
    pending = [PendingRun(weights=np.array([0.45, 0.35, 0.2]), fidelity={"tokens": 1e8})]
    runs = mixer.propose(5, pending=pending, fidelities=[{"tokens": 1e8}, {"tokens": 1e9}])
    w = np.vstack([r.weights for r in runs])
    assert len(runs) == 5 and all(r.fidelity == {"tokens": 1e8} for r in runs)
    assert runs.diagnostics["method"] == "diverse_top" and runs.diagnostics["candidates_scored"] >= 5
    assert np.all(prob.feasible(w)) and np.allclose(w.sum(axis=1), 1)
    seen = np.vstack([*(o.weights for o in obs), pending[0].weights])
    assert np.abs(w[:, None, :] - seen[None]).max(axis=2).min() > 1e-3
    assert np.abs(w[:, None, :] - w[None]).max(axis=2)[~np.eye(5, dtype=bool)].min() > 1e-3
    # Near the optimum first: the best proposal is about as close to the target as the recommendation.
    assert mixer.predict(w[:1], {"tokens": 1e8}).mean[0] <= np.median(mixer.predict(w, {"tokens": 1e8}).mean)
    one = OTMixer(prob, seed=0).fit([]).propose(1)
    assert len(one) == 1 and one[0].fidelity == {"tokens": 1e10}


def test_propose_from_candidates() -> None:
    prob = small([0.5, 0.3, 0.2])
    pool = np.random.default_rng(0).dirichlet(np.ones(3), 12)
    pool[0] = [0.5, 0.3, 0.2]
    mixer = OTMixer(prob, seed=0).fit([])
    runs = mixer.propose(3, fidelity={"tokens": 1e9}, candidates=pool)
    w = np.vstack([r.weights for r in runs])
    assert all(np.abs(pool - row).max(axis=1).min() < 1e-12 for row in w)
    np.testing.assert_allclose(w[0], pool[0])  # the best-scoring candidate comes first
    # The batch says how it was chosen: the pool's best-predicted candidate has rank 1, the others follow.
    diag = runs.diagnostics
    assert diag["method"] == "pool_diverse_top" and diag["candidates_scored"] == 12
    ranks = [r["score_rank"] for r in diag["runs"]]
    assert ranks[0] == 1 and len(set(ranks)) == 3
    assert [r["predicted"] for r in diag["runs"]] == pytest.approx(list(mixer.predict(w).mean))
    with pytest.raises(MixerError):
        mixer.propose(
            1,
            fidelity={"tokens": 1e9},
            candidates=pool[:1],
            pending=[PendingRun(weights=pool[0], fidelity={"tokens": 1e9})],
        )


def test_registered_and_config_validated() -> None:
    assert get_mixer_class("ot") is OTMixer
    assert OTMixer.needs_embeddings
    for bad in ({"reg": 0}, {"solver": "lp"}, {"n_starts": 0}, {"unknown": 1}, {"degree": 3}):
        with pytest.raises(ValidationError):
            parse_config("ot", bad)
    assert parse_config("ot", {"solver": "exact"}).solver == "exact"  # type: ignore[attr-defined]
