"""Held-out coverage of the offline mixers' predictive sd: the share of new runs inside the 68% and 95% intervals.

(a) The RegMix 1M runs (``app/demo/regmix``, byte-identical to the shared copy): each mixer fitted on the 512 train
runs predicts the 256 test runs (the sd a recommendation or prediction reports); and the 5-fold cross-validation
of ``POST .../evaluations`` on the 512 (:func:`mixers.evaluation.cross_validate`, the held-out sd it reports).
(b) A simulator world (``SIM_DOMAINS`` domains) with runs at two fidelities: ``SIM_SMALL`` small and
``SIM_MEDIUM`` medium runs to fit on (the medium fidelity is the project's target), fresh runs at each fidelity
to cover. ``regmix`` and ``mixing_law`` fit on the fidelity with the most runs (small) and carry that fit to the
medium fidelity unchanged (``transfer: assumed``); their sd says nothing about that change of scale, and the
figure shows it.

Goal: coverage within 10 points of nominal (0.58-0.78 and 0.85-1.0) for every mixer that gives a sd.

    python -m bench.replay.coverage [--quick]
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from bench.common import DEMO_DATA, progress, save_figure, use_quick_results, write_json
from mixers.auto import AutoMixer
from mixers.base import OfflineMixer
from mixers.evaluation import cross_validate, make_folds
from mixers.mfbo import MFBOMixer
from mixers.mixing_law import MixingLawMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem
from mixers.uncertainty import coverage

TARGET = "metric/the_pile_pile_cc_val_loss"
FID = {"params": 1e6, "tokens": 1e9}
MIXERS = ("regmix", "regmix_lightgbm", "mixing_law", "mfbo", "auto")
SIM_DOMAINS, SIM_SMALL, SIM_MEDIUM, SIM_TEST = 8, 150, 40, 80
NOMINAL = {"68": 0.68, "95": 0.95}
BAND = 0.10


def make(name: str, problem: Problem, seed: int = 0) -> OfflineMixer:
    if name == "regmix":
        return RegMixMixer(problem, seed=seed)
    if name == "regmix_lightgbm":
        return RegMixMixer(problem, RegMixConfig(model="lightgbm"), seed=seed)
    if name == "mixing_law":
        return MixingLawMixer(problem, seed=seed)
    if name == "mfbo":
        return MFBOMixer(problem, seed=seed)
    return AutoMixer(problem, seed=seed)


def _load(split: str) -> tuple[FloatArray, FloatArray, list[str]]:
    mix = pd.read_csv(DEMO_DATA / f"{split}_mixture_1m.csv")
    df = mix.merge(pd.read_csv(DEMO_DATA / f"{split}_pile_loss_1m.csv"), on="index")
    cols = [c for c in mix.columns if c != "index"]
    return df[cols].to_numpy(np.float64), df[TARGET].to_numpy(np.float64), cols


def _obs(x: FloatArray, metrics: list[dict[str, float]], fid: dict[str, float]) -> list[Observation]:
    return [Observation(weights=w, fidelity=fid, metrics=m) for w, m in zip(x, metrics, strict=True)]


def _cover(mixer: OfflineMixer, x: FloatArray, y: FloatArray, fid: dict[str, float] | None) -> dict[str, Any]:
    pred = mixer.predict(x, fid)
    cov = coverage(y, pred.mean, pred.std)
    return {**cov, "median_std": None if pred.std is None else float(np.median(pred.std)),
            "mae": float(np.mean(np.abs(pred.mean - y)))}


def regmix_data(bar: Any, quick: bool) -> dict[str, Any]:
    x_tr, y_tr, names = _load("train")
    x_te, y_te, _ = _load("test")
    if quick:
        x_tr, y_tr = x_tr[:128], y_tr[:128]
    shares = pd.read_csv(DEMO_DATA / "domains.csv")["token_share"].to_numpy(np.float64)
    problem = Problem(tuple(DomainSpec(n, tokens=float(t)) for n, t in zip(names, shares, strict=True)),
                      Objective({TARGET: 1.0}))
    obs = _obs(x_tr, [{TARGET: float(v)} for v in y_tr], FID)
    folds = make_folds(obs, problem.objective, 5, seed=0)
    out: dict[str, Any] = {}
    task = bar.add_task(f"RegMix: fit on {len(obs)}, cover 256; 5-fold", total=2 * len(MIXERS))
    for name in MIXERS:
        test = _cover(make(name, problem).fit(obs), x_te, y_te, None)
        bar.advance(task)
        cv = cross_validate(make(name, problem), folds)
        bar.advance(task)
        out[name] = {"test": test, "kfold": {**cv.coverage, "spearman": cv.spearman}}
    return {"train_runs": len(obs), "test_runs": len(y_te), "mixers": out}


def sim_data(bar: Any, quick: bool) -> dict[str, Any]:
    from bench.sim import Job, fidelity, make_world, run_many

    n_small, n_medium, n_test = (60, 20, 30) if quick else (SIM_SMALL, SIM_MEDIUM, SIM_TEST)
    world = make_world(SIM_DOMAINS, seed=1)
    small, medium = fidelity(world, "small"), fidelity(world, "medium")
    problem = Problem(tuple(DomainSpec(n, tokens=float(t)) for n, t in zip(world.names, world.tokens, strict=True)),
                      Objective({"target": 1.0}), medium)
    n = n_small + n_medium + 2 * n_test
    x = ProposalRecipe().sample(np.random.default_rng(7), problem, n)[:n]
    plan = ([(w, small) for w in x[:n_small]] + [(w, medium) for w in x[n_small:n_small + n_medium]]
            + [(w, medium) for w in x[n - 2 * n_test:n - n_test]] + [(w, small) for w in x[n - n_test:]])
    jobs = [Job(world, world.weights_dict(w), f, i) for i, (w, f) in enumerate(plan)]
    task = bar.add_task(f"simulator: {len(jobs)} runs ({SIM_DOMAINS} domains)", total=len(jobs))
    res = run_many(jobs, processes=2, on_done=lambda: bar.advance(task))
    train = [Observation(weights=w, fidelity=f, metrics=dict(r.metrics))
             for (w, f), r in zip(plan[:n_small + n_medium], res[:n_small + n_medium], strict=True)]
    y = np.array([r.metrics["target"] for r in res])
    tests = {"medium": (x[n - 2 * n_test:n - n_test], y[n_small + n_medium:n_small + n_medium + n_test], medium),
             "small": (x[n - n_test:], y[n_small + n_medium + n_test:], small)}
    out: dict[str, Any] = {}
    fit_task = bar.add_task("simulator: fit and cover", total=len(MIXERS))
    for name in MIXERS:
        mixer = make(name, problem).fit(train)
        out[name] = {"chosen": getattr(getattr(mixer, "inner", None), "name", None),
                     **{k: {**_cover(mixer, xt, yt, f), "transfer": mixer.fidelity_answer(f).transfer}
                        for k, (xt, yt, f) in tests.items()}}
        bar.advance(fit_task)
    return {"domains": SIM_DOMAINS, "train": {"small": n_small, "medium": n_medium}, "test_runs": n_test,
            "fidelities": {"small": small, "medium": medium}, "mixers": out}


def within(cov: dict[str, Any]) -> bool | None:
    """Whether both levels are within ``BAND`` of nominal (None without a sd)."""
    if cov["68"] is None:
        return None
    return all(abs(cov[k] - v) <= BAND + 1e-12 for k, v in NOMINAL.items())


def run(quick: bool = False) -> dict[str, Any]:
    if quick:
        use_quick_results()
    with progress() as bar:
        payload = {"regmix": regmix_data(bar, quick), "simulator": sim_data(bar, quick), "band": BAND,
                   "nominal": NOMINAL}
    write_json("coverage", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("RegMix: fit 512, cover 256 test", payload["regmix"]["mixers"], "test"),
              ("RegMix: 5-fold on 512 (evaluations)", payload["regmix"]["mixers"], "kfold"),
              ("simulator: cover medium (target) runs", payload["simulator"]["mixers"], "medium"),
              ("simulator: cover small runs", payload["simulator"]["mixers"], "small")]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), sharey=True)
    for ax, (title, data, key) in zip(axes, panels, strict=True):
        xs = np.arange(len(MIXERS))
        for off, level in ((-0.18, "68"), (0.18, "95")):
            vals = [data[m][key][level] if data[m][key][level] is not None else 0.0 for m in MIXERS]
            ax.bar(xs + off, vals, width=0.34, label=f"{level}% interval")
            ax.axhspan(NOMINAL[level] - BAND, min(1.0, NOMINAL[level] + BAND), alpha=0.12,
                       color="C0" if level == "68" else "C1")
        ax.set_xticks(xs, MIXERS, rotation=30, ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("share of held-out runs inside the interval")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("held-out coverage of the predictive sd (bands: nominal +- 10 points)")
    fig.tight_layout()
    save_figure(fig, "coverage")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for where, data, key in (("RegMix test", payload["regmix"]["mixers"], "test"),
                             ("RegMix 5-fold", payload["regmix"]["mixers"], "kfold"),
                             ("simulator medium", payload["simulator"]["mixers"], "medium"),
                             ("simulator small", payload["simulator"]["mixers"], "small")):
        for name in MIXERS:
            cov = data[name][key]
            ok = within(cov)
            rows.append({
                "benchmark": f"coverage 68/95, {name}, {where}",
                "value": "no std" if cov["68"] is None else f"{cov['68']:.2f} / {cov['95']:.2f}",
                "baseline": "0.68 / 0.95",
                "ratio": cov.get("transfer", ""),
                "target": "within 0.10",
                "ok": ok if ok is not None else "",
            })
    return rows


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    out = run(quick="--quick" in sys.argv)
    t = Table(title="held-out coverage of the 68% / 95% intervals (nominal +- 0.10)")
    for col in ("benchmark", "68% / 95%", "transfer", "ok"):
        t.add_column(col)
    for row in table(out):
        t.add_row(row["benchmark"], row["value"], row["ratio"], str(row["ok"]))
    Console().print(t)
