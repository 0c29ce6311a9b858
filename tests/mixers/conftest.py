"""Fixtures for the mixer tests: every backend registered, a small constrained problem, synthetic runs.

The contract problem has 4 domains with a ``max_weight``, a ``min_weight`` and a ``max_epochs`` cap that all
bind at the optimum of the synthetic objective, small random embeddings for every domain and ``"target"``
(so the OT mixer can run on it too), and a two-metric objective. Observations come from a known smooth
function at two token fidelities.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixers
from mixers.simplex import project_to_bounds
from mixers.types import DomainSpec, FloatArray, Objective, Observation, PendingRun, Problem


def import_all_backends() -> None:
    """Import every module of the ``mixers`` package so that each backend registers itself."""
    for info in pkgutil.iter_modules(mixers.__path__):
        importlib.import_module(f"mixers.{info.name}")


import_all_backends()

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "app" / "demo" / "regmix"
PILE_CC = "metric/the_pile_pile_cc_val_loss"
DEMO_FIDELITY = {"params": 1e6, "tokens": 1e9}

LOW = {"params": 1e6, "tokens": 1e8}
HIGH = {"params": 1e6, "tokens": 1e9}
# Optima of the two synthetic metrics; their mean pulls towards [0.55, 0.05, 0.1, 0.3]: over domain 0's
# max_weight (0.5), under domain 1's min_weight (0.1) and over domain 3's epoch cap (0.1).
OPT_A = np.array([0.6, 0.0, 0.1, 0.3])
OPT_B = np.array([0.5, 0.1, 0.1, 0.3])


def contract_problem() -> Problem:
    rng = np.random.default_rng(1234)
    domains = (
        DomainSpec("web", tokens=4e9, max_weight=0.5),
        DomainSpec("code", tokens=2e9, min_weight=0.1),
        DomainSpec("books", tokens=1e9),
        DomainSpec("math", tokens=0.5e9, max_epochs=2.0),  # cap 2 * 0.5e9 / 1e10 = 0.1
    )
    emb = {d.name: rng.normal(i, 1.0, size=(12, 6)).astype(np.float32) for i, d in enumerate(domains)}
    emb["target"] = rng.normal(1.0, 1.0, size=(10, 6)).astype(np.float32)
    return Problem(
        domains=domains,
        objective=Objective({"loss_a": 0.5, "loss_b": 0.5}, "minimize"),
        target_fidelity={"params": 1e8, "tokens": 1e10},
        embeddings=emb,
    )


def synthetic_metrics(w: FloatArray, tokens: float) -> dict[str, float]:
    """A smooth loss surface that falls with tokens: a bowl around OPT_A / OPT_B."""
    scale = (tokens / 1e8) ** -0.15
    a = 2.0 + scale * (1.0 + 3.0 * float(np.sum((w - OPT_A) ** 2)))
    b = 2.5 + scale * (0.8 + 2.0 * float(np.sum((w - OPT_B) ** 2)))
    return {"loss_a": a, "loss_b": b}


def contract_observations(problem: Problem) -> list[Observation]:
    """30 runs at LOW and 16 at HIGH, within bounds, with one replicated mixture at LOW."""
    rng = np.random.default_rng(99)
    lo, hi = problem.bounds()
    out = []
    for fid, n in ((LOW, 30), (HIGH, 16)):
        w = project_to_bounds(rng.dirichlet(np.ones(problem.d), size=n), lo, hi)
        for row in w:
            out.append(Observation(weights=row, fidelity=dict(fid), metrics=synthetic_metrics(row, fid["tokens"])))
    first = out[0]
    noisy = {k: v + 0.01 for k, v in first.metrics.items()}
    out.append(Observation(weights=first.weights.copy(), fidelity=dict(LOW), metrics=noisy))
    return out


def contract_pending(problem: Problem) -> list[PendingRun]:
    lo, hi = problem.bounds()
    w = project_to_bounds(np.random.default_rng(5).dirichlet(np.ones(problem.d), size=2), lo, hi)
    return [PendingRun(weights=row, fidelity=dict(LOW)) for row in w]


@pytest.fixture
def problem() -> Problem:
    return contract_problem()


@pytest.fixture
def observations(problem: Problem) -> list[Observation]:
    return contract_observations(problem)


@pytest.fixture
def pending(problem: Problem) -> list[PendingRun]:
    return contract_pending(problem)


# -- the RegMix demo data -----------------------------------------------------------------------------------


def load_regmix(split: str) -> tuple[FloatArray, pd.DataFrame]:
    """Mixtures ``(n, 17)`` (rows renormalized) and the metrics table of ``split`` ("train" / "test")."""
    mix = pd.read_csv(DEMO / f"{split}_mixture_1m.csv")
    loss = pd.read_csv(DEMO / f"{split}_pile_loss_1m.csv")
    df = mix.merge(loss, on="index")
    w = df[[c for c in mix.columns if c != "index"]].to_numpy(dtype=np.float64)
    return w / w.sum(axis=1, keepdims=True), df[[c for c in loss.columns if c != "index"]]


def regmix_problem(metrics: dict[str, float] | None = None, direction: str = "minimize") -> Problem:
    shares = pd.read_csv(DEMO / "domains.csv")
    return Problem(
        domains=tuple(
            DomainSpec(str(name), tokens=float(share))
            for name, share in zip(shares["domain"], shares["token_share"], strict=True)
        ),
        objective=Objective(metrics or {PILE_CC: 1.0}, direction),  # type: ignore[arg-type]
        target_fidelity={"params": 1e9, "tokens": 2.5e10},
    )


def regmix_observations(
    w: FloatArray, metrics: pd.DataFrame, fidelity: dict[str, float] | None = None, rows: Sequence[int] | None = None
) -> list[Observation]:
    idx = range(len(w)) if rows is None else rows
    records: list[dict[str, float]] = [{str(k): float(v) for k, v in row.items()} for row in metrics.to_dict("records")]
    return [Observation(weights=w[i], fidelity=dict(fidelity or DEMO_FIDELITY), metrics=records[i]) for i in idx]


@pytest.fixture(scope="session")
def regmix_train() -> tuple[FloatArray, pd.DataFrame]:
    return load_regmix("train")


@pytest.fixture(scope="session")
def regmix_test() -> tuple[FloatArray, pd.DataFrame]:
    return load_regmix("test")
