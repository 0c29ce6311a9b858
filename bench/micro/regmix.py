"""``regmix`` speed: fit on 512 x 17 runs + score 100,000 candidates + top-128 (target: under 2 s on 2 cores).

(a) ``RegMixMixer`` in-process, with the default ``model: auto`` (LightGBM plus the mixing law, its
cross-validated blend weights) and with ``model: lightgbm`` (the target was set for this one): ``fit``
(LightGBM 1000 trees plus the 5-fold cross-validated diagnostics, and for auto the law's fits) and
``recommend`` (100,000 Dirichlet(prior) candidates, exact top-128, projection into the bounds).
(b) Baseline in the same run: the plain script a researcher would write with pandas and
``lightgbm.LGBMRegressor`` (same hyperparameters, ``n_jobs=2``): fit, predict every candidate, average the best
128 (no cross-validation). Each is the median of 3 repeats; the ratio is (a) / (b).

    python -m bench.micro.regmix
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from bench.common import DEMO_DATA, write_json
from bench.common import progress as make_progress
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.types import DomainSpec, Objective, Observation, Problem

TARGET = "metric/the_pile_pile_cc_val_loss"
REPEATS = 3
TARGET_SECONDS = 2.0


def load() -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """The 512 train mixtures (DataFrame), their Pile-CC loss, and the prior ``(17,)``."""
    mix = pd.read_csv(DEMO_DATA / "train_mixture_1m.csv")
    loss = pd.read_csv(DEMO_DATA / "train_pile_loss_1m.csv")
    df = mix.merge(loss, on="index")
    x = df[[c for c in mix.columns if c != "index"]]
    shares = pd.read_csv(DEMO_DATA / "domains.csv")["token_share"].to_numpy(dtype=np.float64)
    return x, df[TARGET], shares / shares.sum()


def mixer_once(x: pd.DataFrame, y: pd.Series, prior: np.ndarray, model: str = "auto") -> dict[str, Any]:
    problem = Problem(
        domains=tuple(DomainSpec(c, tokens=float(p)) for c, p in zip(x.columns, prior, strict=True)),
        objective=Objective({TARGET: 1.0}),
        target_fidelity={"params": 1e9, "tokens": 2.5e10},
    )
    w = x.to_numpy(dtype=np.float64)
    obs = [
        Observation(weights=w[i], fidelity={"params": 1e6, "tokens": 1e9}, metrics={TARGET: float(y.iloc[i])})
        for i in range(len(w))
    ]
    start = time.perf_counter()
    mixer = RegMixMixer(problem, RegMixConfig(model=model), seed=0).fit(obs)
    fitted = time.perf_counter()
    rec = mixer.recommend()
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "fit_seconds": fitted - start,
        "recommend_seconds": done - fitted,
        "predicted": rec.predicted,
    }


def baseline_once(x: pd.DataFrame, y: pd.Series, prior: np.ndarray) -> dict[str, Any]:
    start = time.perf_counter()
    model = lgb.LGBMRegressor(n_estimators=1000, learning_rate=0.01, num_leaves=31, verbose=-1, n_jobs=2)
    model.fit(x, y)
    fitted = time.perf_counter()
    cands = pd.DataFrame(np.random.default_rng(0).dirichlet(prior, 100_000), columns=x.columns)
    pred = model.predict(cands)
    best = cands.iloc[np.argsort(pred)[:128]].mean(axis=0).to_numpy()
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "fit_seconds": fitted - start,
        "recommend_seconds": done - fitted,
        "predicted": float(model.predict(pd.DataFrame(best[None, :], columns=x.columns))[0]),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def run(progress: Any = None) -> dict[str, Any]:
    """Both measurements, interleaved (mixer, baseline, mixer, ...) so machine noise hits both alike."""
    x, y, prior = load()
    jobs: list[tuple[str, Callable[..., dict[str, Any]]]] = [
        ("regmix", mixer_once),
        ("regmix_lightgbm", lambda x, y, p: mixer_once(x, y, p, "lightgbm")),
        ("baseline", baseline_once),
    ]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in jobs}
    task = progress.add_task("regmix speed", total=REPEATS * len(jobs)) if progress is not None else None
    mixer_once(x.iloc[:64], y.iloc[:64], prior)  # warm-up: imports, OpenMP pool
    for _ in range(REPEATS):
        for name, fn in jobs:
            results[name].append(fn(x, y, prior))
            if progress is not None:
                progress.advance(task)
    out: dict[str, Any] = {"repeats": REPEATS, "target_seconds": TARGET_SECONDS}
    for name in results:
        out[name] = {k: _median(results[name], k) for k in ("seconds", "fit_seconds", "recommend_seconds")}
        out[name]["all_seconds"] = [r["seconds"] for r in results[name]]
    out["ratio"] = out["regmix"]["seconds"] / out["baseline"]["seconds"]
    out["ratio_lightgbm"] = out["regmix_lightgbm"]["seconds"] / out["baseline"]["seconds"]
    out["meets_target"] = out["regmix"]["seconds"] < TARGET_SECONDS
    write_json("regmix_speed", out)
    return out


def table(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary row for ``python -m bench``."""
    return [
        {
            "benchmark": "regmix (model auto) fit 512x17 + score 100k + top-128",
            "value": f"{out['regmix']['seconds']:.2f} s",
            "baseline": f"{out['baseline']['seconds']:.2f} s (pandas + LGBMRegressor)",
            "ratio": f"{out['ratio']:.2f}",
            "target": f"< {TARGET_SECONDS} s",
            "ok": out["meets_target"],
        },
        {
            "benchmark": "regmix (model lightgbm) fit 512x17 + score 100k + top-128",
            "value": f"{out['regmix_lightgbm']['seconds']:.2f} s",
            "baseline": f"{out['baseline']['seconds']:.2f} s (pandas + LGBMRegressor)",
            "ratio": f"{out['ratio_lightgbm']:.2f}",
            "target": f"< {TARGET_SECONDS} s",
            "ok": out["regmix_lightgbm"]["seconds"] < TARGET_SECONDS,
        },
    ]


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    with make_progress() as bar:
        out = run(bar)
    table = Table(title="regmix: fit 512 x 17 + score 100,000 candidates + top-128 (median of 3)")
    for col in ("", "total s", "fit s", "score + top-k s"):
        table.add_column(col)
    for name in ("regmix", "regmix_lightgbm", "baseline"):
        r = out[name]
        table.add_row(name, f"{r['seconds']:.3f}", f"{r['fit_seconds']:.3f}", f"{r['recommend_seconds']:.3f}")
    Console().print(table)
    Console().print(
        f"ratio regmix / baseline: {out['ratio']:.2f}; target < {TARGET_SECONDS} s: "
        f"{'met' if out['meets_target'] else 'NOT met'}"
    )
    print("wrote bench/results/regmix_speed.json")


if __name__ == "__main__":
    main()
