"""``mfbo`` speed and model quality (DESIGN 8: a batch of 8 over 300 observations under 5 s on 2 cores).

Data: 17 domains, two fidelities (240 runs at ``params=1e6, tokens=1e9``, 60 at the target ``params=1e8,
tokens=1e10``), a synthetic loss whose low-fidelity copy is shifted and tilted, with costs proportional to
``params * tokens``. Measured, each the median of ``REPEATS`` runs:

- ``mfbo``: fit (GP hyperparameters by marginal likelihood, 3 restarts) + ``propose(8, fidelities=[low, target])``
  (the default acquisition; these runs share no mixture across fidelities, so it is calibrating: expected
  improvement at the cheap rung, kriging-believer batch);
- the baseline, in the same process and also on one BLAS thread: scikit-learn's ``GaussianProcessRegressor``
  (Matern 5/2 ARD over weights and log fidelity + white noise, 2 optimizer restarts) fitted on the same rows,
  then predicting 1024 random Dirichlet candidates at both fidelities and taking the 8 lowest means. It does
  much less (no acquisition, no batch fantasies), so the ratio is the price of the real BO loop over a bare GP.

Quality: Spearman of each model's target-fidelity predictions on 500 held-out mixtures against the true loss,
and the true target loss of ``mfbo``'s recommendation against the best of the 60 target runs. Also the GP on
the real RegMix data (fit on the 512 train runs, Spearman on the 256 test runs, Pile-CC loss).

Run: ``python -m bench.micro.mfbo`` (prints a table, writes ``bench/results/mfbo.json``).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress
from rich.table import Table
from scipy.stats import spearmanr
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits

from bench.common import DEMO_DATA, write_json
from bench.common import progress as make_progress
from mixers.mfbo import MFBOConfig, MFBOMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

D = 17
LOW = {"params": 1e6, "tokens": 1e9}
TARGET = {"params": 1e8, "tokens": 1e10}
N_LOW, N_TARGET, BATCH, REPEATS = 240, 60, 8, 3
REGMIX_METRIC = "metric/the_pile_pile_cc_val_loss"


def truth(w: np.ndarray, fid: dict[str, float], center: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """Loss ``(m,)`` of mixtures ``(m, d)``: a wavy bowl around ``center``, higher and tilted at low fidelity."""
    gap = 1.0 - math.log(fid["params"]) / math.log(TARGET["params"])
    bowl = 3.0 + 4.0 * ((w - center) ** 2).sum(axis=-1) + 0.2 * np.sin(3.0 * w @ tilt)
    return np.asarray(bowl + gap * (1.0 + w @ tilt))


def dataset(seed: int) -> tuple[Problem, list[Observation], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    center = rng.dirichlet(np.ones(D))
    tilt = rng.normal(scale=0.5, size=D)
    prob = Problem(
        domains=tuple(DomainSpec(f"d{i:02d}") for i in range(D)),
        objective=Objective({"loss": 1.0}),
        target_fidelity=dict(TARGET),
    )
    obs = []
    for i in range(N_LOW + N_TARGET):
        fid = LOW if i < N_LOW else TARGET
        w = rng.dirichlet(np.ones(D))
        loss = float(truth(w, fid, center, tilt)[()] + 0.01 * rng.normal())
        obs.append(
            Observation(
                weights=w, fidelity=dict(fid), metrics={"loss": loss}, cost=fid["params"] * fid["tokens"] * 1e-15
            )
        )
    return prob, obs, center, tilt


def _features(obs: list[Observation]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([np.concatenate([o.weights, np.log([o.fidelity["params"], o.fidelity["tokens"]])]) for o in obs])
    return x, np.array([o.metrics["loss"] for o in obs])


def _baseline(obs: list[Observation], seed: int) -> tuple[float, GaussianProcessRegressor]:
    """sklearn GPR fit + predict 1024 candidates at both fidelities + top 8; seconds and the model."""
    x, y = _features(obs)
    start = time.perf_counter()
    kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(D + 2), nu=2.5) + WhiteKernel(1e-2)
    gpr = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed).fit(x, y)
    cands = np.random.default_rng(seed).dirichlet(np.ones(D), 1024)
    for fid in (LOW, TARGET):
        z = np.tile(np.log([fid["params"], fid["tokens"]]), (len(cands), 1))
        mean = gpr.predict(np.hstack([cands, z]))
        np.argsort(mean)[:BATCH]
    return time.perf_counter() - start, gpr


def _regmix() -> dict[str, Any]:
    def load(split: str) -> pd.DataFrame:
        mix = pd.read_csv(DEMO_DATA / f"{split}_mixture_1m.csv")
        return mix.merge(pd.read_csv(DEMO_DATA / f"{split}_pile_loss_1m.csv"), on="index")

    train, test = load("train"), load("test")
    doms = [c for c in train.columns if c.startswith("train_")]
    prob = Problem(domains=tuple(DomainSpec(n) for n in doms), objective=Objective({REGMIX_METRIC: 1.0}))

    def weights(df: pd.DataFrame) -> np.ndarray:
        w = df[doms].to_numpy(dtype=np.float64)
        return np.asarray(w / w.sum(axis=1, keepdims=True))

    obs = [
        Observation(weights=w, fidelity={}, metrics={REGMIX_METRIC: float(v)})
        for w, v in zip(weights(train), train[REGMIX_METRIC], strict=True)
    ]
    start = time.perf_counter()
    model = MFBOMixer(prob, MFBOConfig(), seed=0).fit(obs)
    fit_s = time.perf_counter() - start
    pred = model.predict(weights(test)).mean
    return {
        "train_runs": len(obs),
        "test_runs": len(test),
        "fit_s": fit_s,
        "spearman": float(spearmanr(pred, test[REGMIX_METRIC]).statistic),
    }


def run(progress: Progress | None = None) -> dict[str, Any]:
    task = progress.add_task("mfbo", total=REPEATS + 1) if progress is not None else None
    fit_s, propose_s, total_s, base_s = [], [], [], []
    quality: dict[str, Any] = {}
    for rep in range(REPEATS):
        prob, obs, center, tilt = dataset(rep)
        with threadpool_limits(1, user_api="blas"):
            start = time.perf_counter()
            mixer = MFBOMixer(prob, MFBOConfig(), seed=rep).fit(obs)
            mid = time.perf_counter()
            props = mixer.propose(BATCH, fidelities=[LOW, TARGET])
            end = time.perf_counter()
            b_s, gpr = _baseline(obs, rep)
        fit_s.append(mid - start)
        propose_s.append(end - mid)
        total_s.append(end - start)
        base_s.append(b_s)
        if rep == 0:
            held = np.random.default_rng(99).dirichlet(np.ones(D), 500)
            true_t = truth(held, TARGET, center, tilt)
            ours = mixer.predict(held, TARGET).mean
            z = np.tile(np.log([TARGET["params"], TARGET["tokens"]]), (len(held), 1))
            theirs = gpr.predict(np.hstack([held, z]))
            rec = mixer.recommend()
            best_target_run = min(float(truth(o.weights, TARGET, center, tilt)) for o in obs[N_LOW:])
            quality = {
                "spearman_target_mfbo": float(spearmanr(ours, true_t).statistic),
                "spearman_target_sklearn": float(spearmanr(theirs, true_t).statistic),
                "recommended_true_loss": float(truth(rec.weights, TARGET, center, tilt)),
                "recommended_predicted": rec.predicted,
                "best_target_run_true_loss": best_target_run,
                "batch_fidelities": [p.fidelity["params"] for p in props],
            }
        if progress is not None and task is not None:
            progress.advance(task)
    regmix = _regmix()
    if progress is not None and task is not None:
        progress.advance(task)
    med = statistics.median
    result = {
        "setup": {
            "domains": D,
            "observations": N_LOW + N_TARGET,
            "fidelities": 2,
            "batch": BATCH,
            "repeats": REPEATS,
            "blas_threads": 1,
        },
        "mfbo_fit_s": med(fit_s),
        "mfbo_propose_s": med(propose_s),
        "mfbo_total_s": med(total_s),
        "mfbo_total_all_s": total_s,
        "baseline_sklearn_s": med(base_s),
        "ratio_mfbo_to_baseline": med(total_s) / med(base_s),
        "target_s": 5.0,
        "meets_target": med(total_s) < 5.0,
        "quality": quality,
        "regmix_gp": regmix,
    }
    write_json("mfbo", result)
    return result


def details_table(res: dict[str, Any]) -> Table:
    t = Table(title="mfbo: batch of 8 over 300 observations (17 domains, 2 fidelities)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    q = res["quality"]
    rows = [
        ("mfbo fit (s, median)", f"{res['mfbo_fit_s']:.2f}"),
        ("mfbo propose 8 (s, median)", f"{res['mfbo_propose_s']:.2f}"),
        ("mfbo fit + propose (s, median; target < 5)", f"{res['mfbo_total_s']:.2f}"),
        ("baseline: sklearn GPR fit + predict + top 8 (s)", f"{res['baseline_sklearn_s']:.2f}"),
        ("ratio mfbo / baseline", f"{res['ratio_mfbo_to_baseline']:.2f}"),
        ("Spearman at target, mfbo GP", f"{q['spearman_target_mfbo']:.3f}"),
        ("Spearman at target, sklearn GPR", f"{q['spearman_target_sklearn']:.3f}"),
        ("recommendation: true target loss", f"{q['recommended_true_loss']:.4f}"),
        ("best of the 60 target runs: true loss", f"{q['best_target_run_true_loss']:.4f}"),
        ("RegMix 512 -> 256 test: GP Spearman", f"{res['regmix_gp']['spearman']:.3f}"),
        ("RegMix GP fit (s)", f"{res['regmix_gp']['fit_s']:.2f}"),
    ]
    for name, value in rows:
        t.add_row(name, value)
    return t


def table(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary row for ``python -m bench``."""
    return [
        {
            "benchmark": "mfbo fit + batch of 8 over 300 obs",
            "value": f"{res['mfbo_total_s']:.2f} s",
            "baseline": f"{res['baseline_sklearn_s']:.2f} s (sklearn GPR + top 8)",
            "ratio": f"{res['ratio_mfbo_to_baseline']:.2f}",
            "target": f"< {res['target_s']:g} s",
            "ok": res["meets_target"],
        }
    ]


if __name__ == "__main__":
    from rich import print as rprint

    with make_progress() as bar:
        result = run(bar)
    rprint(details_table(result))
    rprint("wrote bench/results/mfbo.json")
