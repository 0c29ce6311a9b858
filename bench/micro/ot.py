"""``ot`` distance and recommendation on 17 domains x 1000 vectors x 384 dims against 1000 target vectors.

Random float32 data: domain ``i`` is N(mu_i, I) with mu_i ~ N(0, 0.1^2 I), the target a fresh sample of a
Dirichlet-drawn mixture of the domains. Measured with the default ``auto`` config (here: Sinkhorn, single
precision, eps = 0.05 x median cost):

- one distance from scratch (cost matrix + kernel + solve) and one more distance on the cached kernel;
- 64 mixtures in one batched call;
- a recommendation: ``OTMixer.fit([])`` (builds the cost) then ``recommend()``;
- baselines in the same run: ``ot.dist`` + ``ot.emd2`` (exact) and ``ot.dist`` + ``ot.sinkhorn2`` (POT's
  Sinkhorn at the same eps) on the full cost matrix.

Targets (DESIGN 8): one distance under 1 s; a recommendation under 10 s. Run: ``python -m bench.micro.ot``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import ot

from bench.common import write_json
from mixers.ot import OTMixer
from mixers.ot_distance import OTDistance, source_masses
from mixers.types import DomainSpec, Objective, Problem

D, N, DIM, N_TARGET = 17, 1000, 384, 1000
REPEATS = 5
STEPS = 9 + 2 * REPEATS


def make_problem(seed: int = 0) -> tuple[Problem, np.ndarray]:
    """The benchmark problem and the mixture the target was drawn from."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 0.1, (D, DIM))
    emb = {f"d{i:02d}": (mu[i] + rng.standard_normal((N, DIM))).astype(np.float32) for i in range(D)}
    true = rng.dirichlet(np.full(D, 0.5))
    which = rng.choice(D, size=N_TARGET, p=true)
    emb["target"] = (mu[which] + rng.standard_normal((N_TARGET, DIM))).astype(np.float32)
    domains = tuple(DomainSpec(f"d{i:02d}") for i in range(D))
    return Problem(domains=domains, objective=Objective({"loss": 1.0}), embeddings=emb), true


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(progress: Any = None) -> dict[str, Any]:
    task = progress.add_task("ot", total=STEPS) if progress is not None else None

    def step(n: int = 1) -> None:
        if progress is not None:
            progress.advance(task, n)

    prob, _ = make_problem()
    sources = [prob.embeddings[n] for n in prob.names]
    target = prob.embeddings["target"]
    rng = np.random.default_rng(1)
    mixtures = rng.dirichlet(np.ones(D), REPEATS + 1)

    # Ours, default auto config.
    cold: list[float] = []
    warm: list[float] = []
    dist: OTDistance | None = None
    for r in range(REPEATS):
        t, dist = _timed(lambda: OTDistance(sources, target))
        t2, _ = _timed(lambda: dist(mixtures[r]))  # noqa: B023
        cold.append(t + t2)
        step()
    assert dist is not None
    for r in range(REPEATS):
        t, _ = _timed(lambda: dist(mixtures[r + 1]))  # noqa: B023
        warm.append(t)
        step()
    ours_value = float(dist(mixtures[0]).values[0])
    batch = rng.dirichlet(np.ones(D), 64)
    t_batch, _ = _timed(lambda: dist(batch))
    step()
    t_fit, mixer = _timed(lambda: OTMixer(prob, seed=0).fit([]))
    t_rec, rec = _timed(mixer.recommend)
    step(2)

    # Baselines on the full cost matrix from ot.dist.
    a = source_masses(mixtures[0], dist.sizes)[0]
    b = np.full(N_TARGET, 1.0 / N_TARGET)
    xs = np.vstack(sources)
    t_cost, cost = _timed(lambda: ot.dist(xs, target).astype(np.float64))
    step()
    t_emd, emd_value = _timed(lambda: float(ot.emd2(a, b, cost, numItermax=10**8)))
    step(3)
    assert dist.eps is not None
    eps = dist.eps
    t_sk, sk_value = _timed(lambda: float(ot.sinkhorn2(a, b, cost, eps, stopThr=1e-6, numItermax=1000)))
    step(2)

    cold_med, warm_med = float(np.median(cold)), float(np.median(warm))
    payload: dict[str, Any] = {
        "benchmark": "ot",
        "shape": {"domains": D, "points_per_domain": N, "dim": DIM, "target_points": N_TARGET},
        "config": {"solver": dist.solver, "precision": dist.precision, "eps": eps, "reg_relative": dist.reg},
        "repeats": REPEATS,
        "distance_cold_s": cold_med,
        "distance_cold_all_s": cold,
        "distance_cached_s": warm_med,
        "distance_cached_all_s": warm,
        "batch64_s": t_batch,
        "batch64_per_mixture_s": t_batch / 64,
        "recommend_fit_s": t_fit,
        "recommend_s": t_rec,
        "recommend_total_s": t_fit + t_rec,
        "recommend_search": rec.diagnostics["search"],
        "baseline_ot_dist_s": t_cost,
        "baseline_emd2_s": t_emd,
        "baseline_emd2_total_s": t_cost + t_emd,
        "baseline_sinkhorn2_s": t_sk,
        "baseline_sinkhorn2_total_s": t_cost + t_sk,
        "ratio_emd2_total_to_ours_cold": (t_cost + t_emd) / cold_med,
        "ratio_emd2_total_to_ours_cached": (t_cost + t_emd) / warm_med,
        "ratio_sinkhorn2_total_to_ours_cold": (t_cost + t_sk) / cold_med,
        "values": {
            "ours_entropic_dual": ours_value,
            "pot_emd2_exact": emd_value,
            "pot_sinkhorn2_transport": sk_value,
        },
        "targets": {"distance_s": 1.0, "recommend_s": 10.0},
        "meets_targets": {
            "distance_cold": cold_med < 1.0,
            "distance_cached": warm_med < 1.0,
            "recommend_total": t_fit + t_rec < 10.0,
        },
    }
    write_json("ot", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    p = payload
    return [
        {
            "benchmark": "ot distance, from scratch",
            "value": f"{p['distance_cold_s']:.3f} s",
            "baseline": f"{p['baseline_emd2_total_s']:.2f} s (ot.dist + ot.emd2)",
            "ratio": f"{p['ratio_emd2_total_to_ours_cold']:.1f}x",
            "target": "< 1 s",
            "ok": p["meets_targets"]["distance_cold"],
        },
        {
            "benchmark": "ot distance, cached kernel",
            "value": f"{p['distance_cached_s']:.3f} s",
            "baseline": f"{p['baseline_emd2_total_s']:.2f} s (ot.dist + ot.emd2)",
            "ratio": f"{p['ratio_emd2_total_to_ours_cached']:.1f}x",
            "target": "< 1 s",
            "ok": p["meets_targets"]["distance_cached"],
        },
        {
            "benchmark": "ot distance vs POT sinkhorn2",
            "value": f"{p['distance_cold_s']:.3f} s",
            "baseline": f"{p['baseline_sinkhorn2_total_s']:.2f} s (ot.dist + ot.sinkhorn2)",
            "ratio": f"{p['ratio_sinkhorn2_total_to_ours_cold']:.1f}x",
            "target": "",
            "ok": True,
        },
        {
            "benchmark": "ot 64 distances, batched",
            "value": f"{p['batch64_s']:.2f} s",
            "baseline": "",
            "ratio": "",
            "target": "",
            "ok": True,
        },
        {
            "benchmark": "ot recommendation (fit + recommend)",
            "value": f"{p['recommend_total_s']:.2f} s",
            "baseline": "",
            "ratio": "",
            "target": "< 10 s",
            "ok": p["meets_targets"]["recommend_total"],
        },
    ]


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    from bench.common import progress as make_progress

    with make_progress() as bar:
        result = run(bar)
    rows = table(result)
    out = Table(title="ot: 17 x 1000 x 384 vs 1000 (bench/results/ot.json)")
    for col in rows[0]:
        out.add_column(col)
    for row in rows:
        out.add_row(*(str(v) for v in row.values()))
    Console().print(out)
