"""``regmix`` ``model: "auto"`` (blend of LightGBM and the mixing law) against each member, by Spearman.

(a) The RegMix 1M runs (``app/demo/regmix``): fitted on the 512 train runs, Spearman on the 256 test runs (Pile-CC
loss); and the curve of test Spearman against training-set size (``SIZES``, ``SEEDS`` random subsets each).
(b) A cross-fidelity check on the simulator: a ``SIM_DOMAINS``-domain world, ``SIM_TRAIN`` RegMix-recipe mixtures
trained at the small fidelity, Spearman on ``SIM_TEST`` other mixtures trained at the target fidelity (and at the
small fidelity, for the same-fidelity figure). Members: ``regmix`` with ``model: lightgbm`` and ``mixing_law``,
each as its own mixer with default settings; the baseline of the ratios is the worse member in the same run.

    python -m bench.replay.regmix_blend [--quick]
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

import numpy as np
import pandas as pd

from bench.common import DEMO_DATA, progress, save_figure, use_quick_results, write_json
from mixers.base import OfflineMixer
from mixers.mixing_law import MixingLawMixer
from mixers.proposals import ProposalRecipe
from mixers.regmix import RegMixConfig, RegMixMixer
from mixers.training import safe_spearman
from mixers.types import DomainSpec, FloatArray, Objective, Observation, Problem

TARGET = "metric/the_pile_pile_cc_val_loss"
FID = {"params": 1e6, "tokens": 1e9}
SIZES = (32, 64, 128, 256, 512)
SEEDS = 3
SIM_DOMAINS, SIM_TRAIN, SIM_TEST = 24, 200, 80
# Recommendation-free settings: only predict() is measured.
MODELS = ("auto", "lightgbm", "mixing_law")


def _make(model: str, problem: Problem, seed: int) -> OfflineMixer:
    if model == "mixing_law":
        return MixingLawMixer(problem, seed=seed)
    return RegMixMixer(problem, RegMixConfig(model=model), seed=seed)


def _load(split: str) -> tuple[FloatArray, FloatArray, list[str]]:
    mix = pd.read_csv(DEMO_DATA / f"{split}_mixture_1m.csv")
    df = mix.merge(pd.read_csv(DEMO_DATA / f"{split}_pile_loss_1m.csv"), on="index")
    cols = [c for c in mix.columns if c != "index"]
    return df[cols].to_numpy(np.float64), df[TARGET].to_numpy(np.float64), cols


def _problem(names: list[str], tokens: FloatArray, metric: str) -> Problem:
    return Problem(tuple(DomainSpec(n, tokens=float(t)) for n, t in zip(names, tokens, strict=True)),
                   Objective({metric: 1.0}))


def _obs(x: FloatArray, y: FloatArray, metric: str, fid: dict[str, float]) -> list[Observation]:
    return [Observation(weights=w, fidelity=fid, metrics={metric: float(v)}) for w, v in zip(x, y, strict=True)]


def _fit_score(model: str, problem: Problem, obs: list[Observation], tests: list[tuple[FloatArray, FloatArray]],
               seed: int) -> tuple[list[float | None], dict[str, Any] | None]:
    mixer = _make(model, problem, seed).fit(obs)
    rhos = [safe_spearman(mixer.predict(x).mean, y) for x, y in tests]
    blend = mixer.blend.as_dict() if isinstance(mixer, RegMixMixer) and mixer.blend is not None else None
    return rhos, blend


def _sim_data(quick: bool, bar: Any) -> dict[str, Any]:
    from bench.sim import Job, fidelity, make_world, run_many

    n_train, n_test = (64, 24) if quick else (SIM_TRAIN, SIM_TEST)
    world = make_world(SIM_DOMAINS, seed=1)
    problem = _problem(list(world.names), world.tokens.astype(np.float64), "target")
    x = ProposalRecipe().sample(np.random.default_rng(7), problem, n_train + n_test)[: n_train + n_test]
    small, target = fidelity(world, "small"), fidelity(world, "target")
    jobs = [Job(world, world.weights_dict(w), small, i) for i, w in enumerate(x)]
    jobs += [Job(world, world.weights_dict(w), target, i) for i, w in enumerate(x[n_train:])]
    task = bar.add_task(f"simulator: {len(jobs)} runs ({SIM_DOMAINS} domains)", total=len(jobs))
    res = run_many(jobs, processes=2, on_done=lambda: bar.advance(task))
    y_small = np.array([r.metrics["target"] for r in res[: n_train + n_test]])
    y_target = np.array([r.metrics["target"] for r in res[n_train + n_test:]])
    return {"problem": problem, "x": x, "y_small": y_small, "y_target": y_target, "n_train": n_train,
            "small": small}


def run(quick: bool = False) -> dict[str, Any]:
    if quick:
        use_quick_results()
    x_tr, y_tr, names = _load("train")
    x_te, y_te, _ = _load("test")
    shares = pd.read_csv(DEMO_DATA / "domains.csv")["token_share"].to_numpy(np.float64)
    problem = _problem(names, shares, TARGET)
    sizes = (64, 512) if quick else SIZES
    seeds = 1 if quick else SEEDS
    curve: dict[str, dict[str, list[float | None]]] = {m: {} for m in MODELS}
    blends: dict[str, list[dict[str, Any]]] = {}
    with progress() as bar:
        task = bar.add_task("RegMix learning curve", total=sum(1 if n == 512 else seeds for n in sizes) * len(MODELS))
        for n in sizes:
            for s in range(1 if n == 512 else seeds):
                rows = np.sort(np.random.default_rng(s).permutation(len(x_tr))[:n])
                obs = _obs(x_tr[rows], y_tr[rows], TARGET, FID)
                for model in MODELS:
                    [rho], blend = _fit_score(model, problem, obs, [(x_te, y_te)], s)
                    curve[model].setdefault(str(n), []).append(rho)
                    if blend is not None:
                        blends.setdefault(str(n), []).append(blend["weights"])
                    bar.advance(task)
        sim = _sim_data(quick, bar)
        nt = sim["n_train"]
        sim_obs = _obs(sim["x"][:nt], sim["y_small"][:nt], "target", sim["small"])
        tests = [(sim["x"][nt:], sim["y_target"]), (sim["x"][nt:], sim["y_small"][nt:])]
        sim_out: dict[str, Any] = {}
        for model in MODELS:
            (to_target, same_fid), blend = _fit_score(model, sim["problem"], sim_obs, tests, 0)
            sim_out[model] = {"target_fidelity": to_target, "same_fidelity": same_fid, "blend": blend}
    full = {m: curve[m]["512"][0] for m in MODELS}
    mean_curve = {m: {n: statistics.mean(v for v in vals if v is not None) for n, vals in curve[m].items()}
                  for m in MODELS}
    payload = {
        "regmix_test_spearman_512": full,
        "curve": curve,
        "curve_mean": mean_curve,
        "blend_weights_by_size": blends,
        "simulator": {"domains": SIM_DOMAINS, "train_small_runs": nt, "test_runs": len(sim["y_target"]),
                      **sim_out},
        "sizes": list(sizes),
        "seeds": seeds,
    }
    write_json("regmix_blend", payload)
    _plot(payload)
    return payload


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in MODELS:
        sizes = [int(n) for n in payload["curve_mean"][model]]
        ax.plot(sizes, list(payload["curve_mean"][model].values()), marker="o", label=model)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training runs (RegMix 1M train set, random subsets)")
    ax.set_ylabel("Spearman on the 256 test runs (Pile-CC loss)")
    ax.set_title(f"regmix auto vs its members (mean of {payload['seeds']} subsets below 512)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, "regmix_blend")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    full = payload["regmix_test_spearman_512"]
    worse = min(full["lightgbm"], full["mixing_law"])
    rows = [{
        "benchmark": "regmix auto: Spearman, RegMix test (fit on 512)",
        "value": f"{full['auto']:.4f}",
        "baseline": f"lightgbm {full['lightgbm']:.4f}, mixing_law {full['mixing_law']:.4f}",
        "ratio": f"{(1 - full['auto']) / (1 - max(full['lightgbm'], full['mixing_law'])):.2f} (error vs best member)",
        "target": ">= worse member",
        "ok": full["auto"] >= worse,
    }]
    sim = payload["simulator"]
    rows.append({
        "benchmark": f"regmix auto: Spearman, simulator small -> target ({sim['domains']} domains)",
        "value": f"{sim['auto']['target_fidelity']:.4f}",
        "baseline": f"lightgbm {sim['lightgbm']['target_fidelity']:.4f}, "
                    f"mixing_law {sim['mixing_law']['target_fidelity']:.4f}",
        "ratio": "",
        "target": ">= worse member",
        "ok": sim["auto"]["target_fidelity"] >= min(sim["lightgbm"]["target_fidelity"],
                                                    sim["mixing_law"]["target_fidelity"]),
    })
    return rows


if __name__ == "__main__":
    from rich.console import Console
    from rich.table import Table

    out = run(quick="--quick" in sys.argv)
    t = Table(title="Spearman on the RegMix 1M test runs against training-set size (mean over subsets)")
    t.add_column("model")
    for n in out["curve_mean"]["auto"]:
        t.add_column(n)
    for model in MODELS:
        t.add_row(model, *[f"{v:.4f}" for v in out["curve_mean"][model].values()])
    Console().print(t)
    s = Table(title=f"simulator, {out['simulator']['domains']} domains: fit on small runs")
    for col in ("model", "Spearman at target fidelity", "Spearman at small fidelity"):
        s.add_column(col)
    for model in MODELS:
        r = out["simulator"][model]
        s.add_row(model, f"{r['target_fidelity']:.4f}", f"{r['same_fidelity']:.4f}")
    Console().print(s)
    print("wrote bench/results/regmix_blend.json and regmix_blend.png")
