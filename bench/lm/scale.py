"""Answers that hold at the target scale, on real LM training.

Five training domains of Debian text (python, c_headers, man, dictionary, fortunes); the objective is a held-out
*target* no run trains on: the validation loss on the Linux kernel documentation (``val/kernel_docs``). A second
objective, the equal-weight target over the kernel docs and Perl's POD manuals, and the mean over the training
domains are reported as further tables for the same runs.

A ladder of three GPT sizes (``small`` 3.3M, ``medium`` 10.8M, ``large`` 25.4M parameters). Proxy runs at the two
smaller ones (``regmix`` proposals: 40 small runs of 500 steps, 14 medium runs of 1000 steps) post every loss and
their cost to a real ``mixopt serve``; each arm's mixture for each answer size is then asked of the server and
trained at the middle and the largest size, 3 seeds, same token budget per arm:

- ``auto``: mixopt's default answer (``mfbo`` here: the runs span two fidelities),
- ``regmix`` and ``mixing_law`` with their default configs (the proxy-scale fit carried over unchanged), and each
  with the scale shift (``scale_transfer: shift``),
- ``mfbo``: the multi-fidelity GP across the two proxy sizes,
- ``best_proxy``: the mixture of the best small proxy run,
- ``uniform`` (the Aioli paper's "stratified") and ``natural`` (token-proportional).

Arms with the same mixture are trained once. Two phases so that each fits in one GPU call: ``--phase medium``
trains the proxies and the medium arms and saves the plan (every arm's mixture for both sizes); ``--phase large``
trains the large arms from the saved plan; ``--phase report`` merges both into ``lm/scale.json`` and its plot.

    python -m bench.lm.scale --phase medium --procs 14     # GPU call 1
    python -m bench.lm.scale --phase large --procs 14      # GPU call 2
    python -m bench.lm.scale --phase report                # here: JSON, PNG, table
    python -m bench.lm.scale --quick                       # every phase on the CPU with tiny models
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import progress, results_dir, save_figure, stamp, use_quick_results, write_json
from bench.lm.campaign import fidelity
from bench.lm.experiment import SEEDS, Scale, data_dir, natural, uniform
from bench.lm.pool import Job, Pool
from bench.server import running_server
from mixopt import Client

PROJECT = "lm-scale"
DOMAINS = ("python", "c_headers", "man", "dictionary", "fortunes")
TARGETS = ("kernel_docs", "perl_pod")
OBJECTIVE = {"metrics": {"val/kernel_docs": 1.0}, "direction": "minimize"}
SECOND = {"kernel_docs": 0.5, "perl_pod": 0.5}  # the weighted target, reported as a second table


@dataclass(frozen=True)
class Setup:
    proxies: tuple[tuple[Scale, int], ...]  # (scale, number of proposed runs), smallest first
    sizes: tuple[Scale, Scale]  # the answer is trained at the middle and the largest size


FULL = Setup(
    proxies=((Scale("small", 500, 64), 40), (Scale("medium", 1000, 64), 14)),
    sizes=(Scale("medium", 1500, 64), Scale("large", 1500, 64)),
)
QUICK = Setup(
    proxies=((Scale("tiny", 20, 8), 10), (Scale("small", 10, 8), 8)),
    sizes=(Scale("small", 20, 8), Scale("small", 30, 8)),
)

#: Arms asked of the server: name -> (mixer, config). Arms whose mixtures coincide are trained once (``auto`` and
#: the mixer it chooses always do).
MIXER_ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "auto": ("auto", {}),
    "regmix": ("regmix", {}),
    "regmix_shift": ("regmix", {"scale_transfer": "shift"}),
    "mixing_law": ("mixing_law", {}),
    "mixing_law_shift": ("mixing_law", {"scale_transfer": "shift"}),
    "mfbo": ("mfbo", {}),
}
ARMS = (*MIXER_ARMS, "best_proxy", "uniform", "natural")


@contextmanager
def lm_server(procs: int | None) -> Iterator[tuple[str, Client, Pool | None, Any]]:
    """A fresh ``mixopt serve`` on a scratch SQLite file, a client, a worker pool (None: no training) and a
    progress display."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp)) as url,
        Client(url, timeout=600) as client,
        progress() as bar,
    ):
        if procs is None:
            yield url, client, None, bar
        else:
            with Pool(procs) as pool:
                yield url, client, pool, bar


def create_scale_project(client: Client, tokens: Mapping[str, float], target: Mapping[str, float]) -> None:
    """The benchmark's project: the five training domains with their token counts, the held-out target."""
    client.create_project(PROJECT, [{"name": d, "tokens": float(tokens[d])} for d in DOMAINS], OBJECTIVE,
                          target_fidelity=dict(target))


def import_proxies(client: Client, plan: Mapping[str, Any]) -> None:
    """The plan's proxy runs as completed runs (every loss, fidelity, cost in PFLOP), in the order of their ids."""
    client.add_runs(PROJECT, [
        {"external_id": f"proxy-{i}", "weights": r["weights"], "status": "completed",
         "fidelity": {"params": r["params"], "tokens": r["tokens"]}, "cost": 6 * r["params"] * r["tokens"] / 1e15,
         "metrics": {f"val/{k}": v for k, v in r["losses"].items()} | {"val/mean": r["mean"]}}
        for i, r in enumerate(plan["proxy_runs"])])


def plan_path(quick: bool) -> Path:
    return results_dir() / "lm" / ("scale_plan.json" if not quick else "scale_plan_quick.json")


def _base(path: Path, url: str | None, quick: bool) -> Job:
    base: Job = {"data_dir": str(path), "url": url, "domains": list(DOMAINS), "targets": list(TARGETS),
                 "project": PROJECT}
    if quick:  # the CPU check: 16 validation windows per set instead of 512
        base["train"] = {"eval_seqs": 16}
    return base


def _train_proxies(client: Client, pool: Pool, base: Job, setup: Setup, bar: Any) -> list[Job]:
    """Propose and train each proxy rung in turn (the second rung's proposals know the first's runs)."""
    done: list[Job] = []
    task = bar.add_task("proxy runs", total=sum(n for _, n in setup.proxies))
    for i, (scale, n) in enumerate(setup.proxies):
        proposal = client.propose(PROJECT, "regmix", n=n, fidelity=fidelity(scale), seed=i)
        jobs = [{**base, **scale.job(), "kind": "proposed", "seed": 0, "run_id": r.id, "weights": r.weights,
                 "rung": i} for r in proposal.runs]
        done += list(pool.map(jobs, lambda _: bar.advance(task)))
    return done


def _plan(client: Client, setup: Setup, proxy_runs: list[Job], tokens: Mapping[str, int]) -> dict[str, Any]:
    """Every arm's mixture for each answer size, with the recommendations' diagnostics."""
    small = [r for r in proxy_runs if r["rung"] == 0]
    best = min(small, key=lambda r: r["losses"]["kernel_docs"])
    plan: dict[str, Any] = {"sizes": {}}
    for scale in setup.sizes:
        fid = fidelity(scale)
        arms: dict[str, Any] = {}
        for arm, (mixer, config) in MIXER_ARMS.items():
            rec = client.recommend(PROJECT, mixer, config=config, fidelity=fid, seed=0)
            arms[arm] = {"mixer": mixer, "config": config, "weights": rec.weights, "predicted": rec.predicted,
                         "std": rec.std,
                         "transfer": getattr(rec, "transfer", None), "diagnostics": rec.diagnostics}
        arms["best_proxy"] = {"weights": best["weights"], "observed_small": best["losses"]["kernel_docs"]}
        arms["uniform"] = {"weights": uniform(DOMAINS)}
        arms["natural"] = {"weights": natural(DOMAINS, tokens)}
        plan["sizes"][scale.size + f"@{scale.steps}"] = {"scale": scale.job(), "fidelity": fid, "arms": arms}
    return plan


def _same(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return all(abs(a[k] - b[k]) < 1e-6 for k in a)


def _train_arms(
    pool: Pool, base: Job, size_plan: dict[str, Any], bar: Any, arms: Sequence[str] = ARMS
) -> dict[str, Any]:
    """Train each distinct mixture of ``size_plan`` at its scale for every seed; arms with the same mixture share."""
    scale = Scale(**size_plan["scale"])
    distinct: list[tuple[str, dict[str, float]]] = []
    alias: dict[str, str] = {}
    for arm in [a for a in arms if a in size_plan["arms"]]:
        w = size_plan["arms"][arm]["weights"]
        twin = next((name for name, v in distinct if _same(v, w)), None)
        if twin is None:
            distinct.append((arm, w))
        alias[arm] = twin or arm
    jobs = [{**base, **scale.job(), "kind": "static", "arm": arm, "seed": s, "weights": w}
            for s in SEEDS for arm, w in distinct]
    task = bar.add_task(f"{scale.size} arms", total=len(jobs))
    by_arm: dict[str, list[Job]] = {}
    for res in pool.map(jobs, lambda _: bar.advance(task)):
        by_arm.setdefault(res["arm"], []).append(
            {k: res[k] for k in ("seed", "losses", "mean", "seconds", "train_seconds", "params", "tokens")})
    out: dict[str, Any] = {arm: sorted(by_arm[alias[arm]], key=lambda r: r["seed"]) for arm in alias}
    out["_aliases"] = {a: t for a, t in alias.items() if a != t}
    return out


def run_phase(
    phase: str, quick: bool = False, procs: int | None = None, arms: Sequence[str] = ARMS
) -> dict[str, Any]:
    if quick:
        use_quick_results()
    setup = QUICK if quick else FULL
    path = data_dir()
    manifest = json.loads((path / "manifest.json").read_text())["domains"]
    tokens = {n: int(manifest[n]["source_bytes"]) for n in DOMAINS}
    procs = procs or int(os.environ.get("MIXOPT_LM_PROCS", "2" if quick else "14"))
    (results_dir() / "lm").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if phase == "medium":
        with lm_server(procs) as (url, client, pool, bar):
            assert pool is not None
            create_scale_project(client, tokens, fidelity(setup.sizes[-1]))
            base = _base(path, url, quick)
            proxy_runs = _train_proxies(client, pool, base, setup, bar)
            plan = _plan(client, setup, proxy_runs, tokens)
            plan.update({
                "stamp": stamp(), "quick": quick, "procs": procs, "domains": list(DOMAINS),
                "targets": list(TARGETS), "objective": OBJECTIVE,
                "proxies": [{"scale": s.job(), "runs": n, "fidelity": fidelity(s)} for s, n in setup.proxies],
                "proxy_runs": [{k: r[k] for k in ("run_id", "rung", "weights", "losses", "mean", "params", "tokens")}
                               for r in sorted(proxy_runs, key=lambda r: r["run_id"])],
                "proxy_cost_pflop": sum(6 * r["params"] * r["tokens"] for r in proxy_runs) / 1e15,
                "proxy_seconds": time.perf_counter() - started,
            })
            plan_path(quick).write_text(json.dumps(plan, indent=2) + "\n")
            first = next(iter(plan["sizes"]))
            result = _train_arms(pool, base, plan["sizes"][first], bar)
    elif phase == "handoff":
        result = _handoff(path, setup, tokens, procs, quick)
    elif phase == "large":
        plan = json.loads(plan_path(quick).read_text())
        last = list(plan["sizes"])[-1]
        with Pool(procs) as pool, progress() as bar:
            result = _train_arms(pool, _base(path, None, quick), plan["sizes"][last], bar, arms)
    else:
        raise ValueError(f"unknown phase {phase!r}")
    payload = {"phase": phase, "stamp": stamp(), "procs": procs, "wall_seconds": time.perf_counter() - started,
               "arms": result}
    write_json(f"lm/scale_{phase}", payload)
    return payload


#: The hand-off's Aioli: the paper's step size, smoothing, one-hot factor and sweep length (DESIGN 4.3), one sweep
#: per round of 300 steps (four sweeps over five domains would spend 48% of the steps on one-hot probes).
HANDOFF_AIOLI = {"lp_rounds": 1, "lp_steps": 6, "eta": 0.1, "ema": 0.5, "one_hot_factor": 0.5, "round_steps": 300}
QUICK_AIOLI = {"lp_rounds": 1, "lp_steps": 1, "eta": 0.1, "ema": 0.5, "one_hot_factor": 0.5, "round_steps": 8}


def _handoff(path: Path, setup: Setup, tokens: Mapping[str, int], procs: int, quick: bool) -> dict[str, Any]:
    """Aioli started from the default recommendation (``from_recommendation: {mixer: auto}``, learning the target's
    own rows) against that recommendation trained alone, at the middle size, 3 seeds, on a server holding the
    plan's proxy runs."""
    plan = json.loads(plan_path(quick).read_text())
    size = plan["sizes"][next(iter(plan["sizes"]))]
    scale, fid = Scale(**size["scale"]), size["fidelity"]
    with lm_server(procs) as (url, client, pool, bar):
        assert pool is not None
        create_scale_project(client, tokens, fidelity(setup.sizes[-1]))
        import_proxies(client, plan)
        start = {"mixer": "auto", "fidelity": fid, "seed": 0}
        rec = client.recommend(PROJECT, "auto", fidelity=fid, seed=0)
        base = _base(path, url, quick)
        aioli = QUICK_AIOLI if quick else HANDOFF_AIOLI
        jobs = [{**base, **scale.job(), "kind": "static", "arm": "recommendation", "seed": s, "weights": rec.weights}
                for s in SEEDS]
        jobs += [{**base, **scale.job(), "kind": "online", "arm": "aioli_handoff", "seed": s, "aioli": aioli,
                  "from_recommendation": start, "report_targets": ["kernel_docs"]} for s in SEEDS]
        task = bar.add_task("hand-off runs", total=len(jobs))
        out: dict[str, Any] = {"recommended_weights": rec.weights, "aioli": aioli, "size": scale.job(),
                               "mixer": "auto"}
        for res in pool.map(jobs, lambda _: bar.advance(task)):
            keep: dict[str, Any] = {k: res[k] for k in ("seed", "losses", "mean", "seconds") if k in res}
            if "record" in res:
                keep["record"] = {k: res["record"][k] for k in ("final_weights", "reports", "start", "trajectory")}
            out.setdefault(res["arm"], []).append(keep)
        for arm in ("recommendation", "aioli_handoff"):
            out[arm].sort(key=lambda r: r["seed"])
    return out


# -- the report ---------------------------------------------------------------------------------------------


def objective_value(losses: Mapping[str, float], objective: str) -> float:
    """``target``: kernel docs; ``weighted``: the equal-weight target; ``domains``: mean over training domains."""
    if objective == "target":
        return losses["kernel_docs"]
    if objective == "weighted":
        return sum(w * losses[k] for k, w in SECOND.items())
    return statistics.fmean(losses[d] for d in DOMAINS)


def summarize(runs: Sequence[Mapping[str, Any]], objective: str) -> dict[str, Any]:
    values = [objective_value(r["losses"], objective) for r in runs]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": values}


def goals(sizes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals for the default (``auto``) on the target objective, over the answer sizes."""
    wins_all = []
    mean_wins: dict[str, bool | None] = {}
    never_far_worse: dict[str, bool | None] = {}
    untrained = [size for size, arms in sizes.items() if "auto" not in arms]
    for size, arms in sizes.items():
        if size in untrained:  # auto's answer was not trained at this size
            mean_wins[size] = never_far_worse[size] = None
            continue
        d = arms["auto"]["target"]
        rivals = ("uniform", "natural", "best_proxy")
        mean_wins[size] = all(d["mean"] < arms[r]["target"]["mean"] for r in rivals)
        for i, v in enumerate(d["per_seed"]):
            wins_all.append(all(v < arms[r]["target"]["per_seed"][i] for r in rivals))
        spread = max(arms["auto"]["target"]["std"], arms["uniform"]["target"]["std"])
        never_far_worse[size] = d["mean"] - arms["uniform"]["target"]["mean"] <= spread
    return {
        "default_below_uniform_natural_best_proxy_on_mean": mean_wins,
        "seed_size_pairs_won": f"{sum(wins_all)}/{len(wins_all)}",
        "never_worse_than_uniform_by_more_than_spread": never_far_worse,
        "sizes_not_trained": untrained,
        "met": not untrained and all(mean_wins.values()) and sum(wins_all) >= len(wins_all) - 1
        and all(never_far_worse.values()),
    }


def report(quick: bool = False) -> dict[str, Any]:
    if quick:
        use_quick_results()
    plan = json.loads(plan_path(quick).read_text())
    phases = {p: json.loads((results_dir() / "lm" / f"scale_{p}.json").read_text()) for p in ("medium", "large")}
    replay = replay_auto(plan)
    sizes: dict[str, dict[str, Any]] = {}
    for (size, _), phase in zip(plan["sizes"].items(), ("medium", "large"), strict=True):
        arms = phases[phase]["arms"]
        sizes[size] = {arm: {obj: summarize(arms[arm], obj) for obj in ("target", "weighted", "domains")}
                       for arm in ARMS if arm in arms}
        # Results trained before ``auto`` existed: auto answers exactly the arm of the mixer it chooses (the replay
        # checks it to the last digit), so that arm's runs are its runs.
        chosen = replay[size]["arm"]
        if "auto" not in sizes[size] and replay[size]["max_abs_difference_to_arm"] < 1e-9 and chosen in sizes[size]:
            sizes[size] = {"auto": sizes[size][chosen], **sizes[size]}
    payload = {
        "stamps": {"plan": plan["stamp"], **{p: phases[p]["stamp"] for p in phases},
                   "report": stamp()},
        "quick": quick,
        "objective": plan["objective"],
        "proxies": plan["proxies"],
        "proxy_cost_pflop": plan["proxy_cost_pflop"],
        "mixtures": {size: {arm: s["arms"][arm]["weights"] for arm in ARMS if arm in s["arms"]}
                     for size, s in plan["sizes"].items()},
        "recommendations": {size: {arm: {k: v for k, v in s["arms"][arm].items() if k != "weights"}
                                   for arm in MIXER_ARMS if arm in s["arms"]} for size, s in plan["sizes"].items()},
        "auto_replay": replay,
        "sizes": sizes,
        "goals": goals(sizes),
        "wall_seconds": {p: phases[p]["wall_seconds"] for p in phases},
    }
    handoff_path = results_dir() / "lm" / "scale_handoff.json"
    if handoff_path.exists():
        h = json.loads(handoff_path.read_text())
        arms_h = h["arms"]
        payload["handoff"] = {
            "stamp": h["stamp"], "aioli": arms_h["aioli"], "size": arms_h["size"],
            "recommended_weights": arms_h["recommended_weights"],
            "recommendation": summarize(arms_h["recommendation"], "target"),
            "aioli_handoff": summarize(arms_h["aioli_handoff"], "target"),
            "final_weights": [r["record"]["final_weights"] for r in arms_h["aioli_handoff"]],
            "start": [r["record"]["start"] for r in arms_h["aioli_handoff"]],
        }
        _plot_handoff(arms_h)
    write_json("lm/scale", payload)
    _plot(payload)
    return payload


def replay_auto(plan: dict[str, Any]) -> dict[str, Any]:
    """Ask ``auto`` (mixopt's default since these runs) for each size's answer from the plan's proxy runs, on a
    fresh local server, and compare it with the arm the GPU calls trained for the mixer ``auto`` chose."""
    out: dict[str, Any] = {}
    manifest = json.loads((data_dir() / "manifest.json").read_text())["domains"]
    with lm_server(None) as (_url, client, _pool, _bar):
        create_scale_project(client, {d: manifest[d]["source_bytes"] for d in DOMAINS},
                             list(plan["sizes"].values())[-1]["fidelity"])
        import_proxies(client, plan)
        for size, s in plan["sizes"].items():
            rec = client.recommend(PROJECT, "auto", fidelity=s["fidelity"], seed=0)
            chosen = rec.diagnostics["auto"]["mixer"]  # its arm: that mixer with its default config
            same_data = client.recommend(PROJECT, chosen, fidelity=s["fidelity"], seed=0).weights
            out[size] = {
                "chose": chosen, "reason": rec.diagnostics["auto"]["reason"], "arm": chosen, "weights": rec.weights,
                # auto against the mixer it chose, on this server's (imported) runs: equal by construction
                "max_abs_difference_to_mixer": max(abs(rec.weights[d] - same_data[d]) for d in DOMAINS),
                # against the arm trained in the GPU calls, whose server held the runs as proposed and completed
                "max_abs_difference_to_arm": max(abs(rec.weights[d] - s["arms"][chosen]["weights"][d])
                                                 for d in DOMAINS),
            }
    return out


def _plot(payload: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(payload["sizes"])
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(5 * len(sizes) + 5, 4))
    palette = {"auto": "tab:green", "regmix_shift": "tab:olive", "regmix": "tab:purple", "mixing_law": "tab:pink",
               "mixing_law_shift": "tab:cyan", "mfbo": "tab:green", "best_proxy": "tab:brown", "uniform": "tab:gray",
               "natural": "tab:blue"}
    for ax, size in zip(axes, sizes, strict=False):
        arms = payload["sizes"][size]
        names = list(arms)
        means = [arms[a]["target"]["mean"] for a in names]
        stds = [arms[a]["target"]["std"] for a in names]
        ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=[palette.get(a, "tab:pink") for a in names])
        for i, a in enumerate(names):
            ax.scatter([i] * len(arms[a]["target"]["per_seed"]), arms[a]["target"]["per_seed"], s=8, c="k")
        ax.axhline(arms["uniform"]["target"]["mean"], color="tab:gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        lo, hi = min(means) - 2 * max(stds) - 0.01, max(means) + 2 * max(stds) + 0.01
        ax.set_ylim(lo, hi)
        ax.set_title(f"{size}: kernel_docs loss (held-out target)", fontsize=9)
        ax.set_ylabel("nats per byte")
    ax = axes[-1]
    mixtures = payload["mixtures"][sizes[-1]]
    names = list(mixtures)
    bottom = [0.0] * len(names)
    for j, dom in enumerate(DOMAINS):
        vals = [mixtures[a][dom] for a in names]
        ax.bar(range(len(names)), vals, bottom=bottom, label=dom, color=plt.get_cmap("Set2")(j))
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
    ax.set_title(f"mixtures for {sizes[-1]}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    save_figure(fig, "lm/scale")
    plt.close(fig)


def _plot_handoff(arms: dict[str, Any]) -> None:
    """The hand-off sessions' mixture over steps, one panel per seed, with the target loss at each report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = arms["aioli_handoff"]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.6), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        traj = run["record"]["trajectory"]
        steps = [t["step"] for t in traj]
        for j, dom in enumerate(DOMAINS):
            ax.plot(steps, [t["weights"][dom] for t in traj], label=dom, color=plt.get_cmap("Set2")(j))
        ax.set_title(f"seed {run['seed']}: Aioli from the recommendation", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("weight")
        twin = ax.twinx()
        twin.plot(steps, [t["losses"].get("val/kernel_docs", float("nan")) for t in traj], "k:", lw=1)
        twin.set_ylabel("kernel_docs probe loss", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, "lm/scale_handoff")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for size, arms in payload["sizes"].items():
        if "auto" not in arms:
            rows.append({"benchmark": f"LM scale: default (auto) recommendation at {size}, held-out target",
                         "value": "not trained", "baseline": ", ".join(f"{a} {arms[a]['target']['mean']:.4f}"
                                                                       for a in arms),
                         "ratio": "", "target": "below uniform, natural and the best proxy run", "ok": False})
            continue
        rows.append({
            "benchmark": f"LM scale: default (auto) recommendation at {size}, held-out target (kernel_docs)",
            "value": f"{arms['auto']['target']['mean']:.4f}",
            "baseline": ", ".join(f"{a} {arms[a]['target']['mean']:.4f}" for a in arms if a != "auto"),
            "ratio": f"{arms['auto']['target']['mean'] - arms['uniform']['target']['mean']:+.4f} vs uniform",
            "target": "below uniform, natural and the best proxy run (5 of 6 seed-size pairs)",
            "ok": payload["goals"]["met"],
        })
    return rows


def run(quick: bool = False, procs: int | None = None) -> dict[str, Any]:
    """Every phase in one process (a machine that holds them all), then the report."""
    for phase in ("medium", "large", "handoff"):
        run_phase(phase, quick=quick, procs=procs)
    return report(quick=quick)


if __name__ == "__main__":
    from rich import print as rprint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["medium", "large", "handoff", "report", "all"], default="all")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--procs", type=int)
    parser.add_argument("--arms", nargs="*", choices=ARMS, default=list(ARMS), help="large phase: arms to train")
    args = parser.parse_args()
    for ph in (["medium", "large", "handoff"] if args.phase == "all" else [] if args.phase == "report"
               else [args.phase]):
        run_phase(ph, quick=args.quick, procs=args.procs, arms=args.arms)
    if args.phase in ("report", "all"):
        rprint(table(report(quick=args.quick)))
