"""Heavy requests: ``regmix`` proposals of n=8 and n=1000, a 5-fold ``regmix`` evaluation, and
``GET /healthz`` latency meanwhile, on 39 domains x 2,000 completed runs, against a ``mixopt serve`` subprocess.

Baseline in the same run: one cold ``regmix`` recommendation on the same data and config (the fit included). Every
proposal adds pending runs, so each proposal refits too: n=1000 should cost what n=8 does plus the extra runs
(target: within 3x; medians of ``REPEATS`` pairs, each on a fresh copy of the project). ``regmix`` runs with its
linear model (``REGMIX``): with the default LightGBM + law blend the fit takes minutes on a shared 2-core machine
and hides everything that grows with n, which is what this measures.
A thread probes ``/healthz`` every 50 ms throughout; it should stay well under 100 ms. SQLite, then PostgreSQL when
reachable; ``--quick``: SQLite only, 500 runs.

    python -m bench --only heavy
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import percentile, progress, save_figure, scratch_postgres, write_json
from bench.server import running_server

DOMAINS = 39
RUNS = 2000
QUICK_RUNS = 500
N_SMALL, N_LARGE = 8, 1000
FOLDS = 5
REPEATS = 5  # proposal pairs (n=8, n=1000), each on its own copy of the project; medians reported
PROBE_EVERY = 0.05
GOAL_RATIO = 3.0  # proposal n=1000 over n=8
HEALTHZ_GOAL_MS = 100.0  # p99 of /healthz during the heavy requests
REGMIX = {"mixer": "regmix", "config": {"model": "linear"}}
PHASES = ("cold recommendation", f"proposal n={N_SMALL}", f"proposal n={N_LARGE}", "evaluation")


def _runs(n: int, seed: int = 0) -> tuple[list[str], list[dict[str, Any]]]:
    """``n`` completed runs over 39 domains: sparse Dirichlet mixtures, a smooth objective with noise."""
    rng = np.random.default_rng(seed)
    names = [f"domain_{i:02d}" for i in range(DOMAINS)]
    w = rng.dirichlet(np.full(DOMAINS, 0.3), size=n)
    coef = rng.normal(size=DOMAINS)
    loss = 3.0 + 0.3 * (w @ coef) + 0.5 * (w**2).sum(axis=1) + rng.normal(0, 0.01, n)
    runs = [{"external_id": f"r{i}", "weights": dict(zip(names, row.tolist(), strict=True)),
             "metrics": {"loss": float(y)}} for i, (row, y) in enumerate(zip(w, loss, strict=True))]
    return names, runs


class _Prober(threading.Thread):
    """Probes ``/healthz`` every ``PROBE_EVERY`` seconds; each sample is (phase, seconds since start, latency ms)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.phase = url, "idle"
        self.samples: list[tuple[str, float, float]] = []
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                start = time.perf_counter()
                http.get("/healthz").raise_for_status()
                end = time.perf_counter()
                self.samples.append((self.phase, start - self.t0, (end - start) * 1000))
                self.stop.wait(PROBE_EVERY)


def _backend(url: str, n_runs: int, label: str, bar: Any, task: Any) -> dict[str, Any]:
    """The phases on one server: the baseline and the evaluation on project ``heavy-0``; the proposal pair (n=8,
    then n=1000) on each of ``REPEATS`` projects holding the same runs, so that every pair starts from equal data."""
    names, runs = _runs(n_runs)
    samples: dict[str, list[float]] = {p: [] for p in PHASES}
    prober = _Prober(url)
    with httpx.Client(base_url=url, timeout=1800) as http:
        for k in range(REPEATS):
            http.post("/api/v1/projects", json={"name": f"heavy-{k}", "domains": [{"name": n} for n in names],
                                                "objective": {"metric": "loss"}}).raise_for_status()
            http.post(f"/api/v1/projects/heavy-{k}/runs", json={"runs": runs}).raise_for_status()
        prober.start()

        def timed(phase: str, path: str, body: dict[str, Any]) -> None:
            bar.update(task, description=f"heavy {label}: {phase}")
            prober.phase = phase
            start = time.perf_counter()
            http.post(path, json=body).raise_for_status()
            samples[phase].append(time.perf_counter() - start)
            prober.phase = "idle"
            bar.advance(task)

        timed(PHASES[0], "/api/v1/projects/heavy-0/recommendations", REGMIX)
        for k in range(REPEATS):
            timed(PHASES[1], f"/api/v1/projects/heavy-{k}/proposals", {**REGMIX, "n": N_SMALL, "seed": k})
            timed(PHASES[2], f"/api/v1/projects/heavy-{k}/proposals", {**REGMIX, "n": N_LARGE, "seed": k})
        timed(PHASES[3], "/api/v1/projects/heavy-0/evaluations", {"mixers": [REGMIX], "folds": FOLDS})
        prober.stop.set()
        prober.join()
    seconds = {p: float(np.median(v)) for p, v in samples.items()}
    busy = [ms for phase, _, ms in prober.samples if phase != "idle"]
    cold = seconds[PHASES[0]]
    ratio = seconds[PHASES[2]] / seconds[PHASES[1]]
    return {
        "backend": label,
        "runs": n_runs,
        "domains": DOMAINS,
        "repeats": REPEATS,
        "seconds": seconds,
        "seconds_each": samples,
        "ratio_vs_cold_recommendation": {p: s / cold for p, s in seconds.items()},
        "ratio_large_to_small_proposal": ratio,
        "healthz_ms": {"p50": percentile(busy, 50), "p99": percentile(busy, 99), "max": max(busy), "n": len(busy)},
        "healthz_samples": [[phase, round(t, 3), round(ms, 2)] for phase, t, ms in prober.samples],
        "meets_ratio": ratio <= GOAL_RATIO,
        "meets_healthz": percentile(busy, 99) <= HEALTHZ_GOAL_MS,
    }


def run(quick: bool = False) -> dict[str, Any]:
    n_runs = QUICK_RUNS if quick else RUNS
    results: list[dict[str, Any]] = []
    with progress() as bar, tempfile.TemporaryDirectory() as tmp:
        task = bar.add_task("heavy", total=(2 + 2 * REPEATS) * (1 if quick else 2))
        with running_server(Path(tmp) / "sqlite") as url:
            results.append(_backend(url, n_runs, "sqlite", bar, task))
        if not quick:
            with scratch_postgres() as pg:
                if pg is None:
                    results.append({"backend": "postgresql", "error": "PostgreSQL unreachable"})
                else:
                    env = {"MIXOPT_DATABASE_URL": pg.replace("postgresql://", "postgresql+psycopg://", 1)}
                    with running_server(Path(tmp) / "pg", env=env) as url:
                        results.append(_backend(url, n_runs, "postgresql", bar, task))
    payload = {"benchmark": "heavy", "mixer": REGMIX, "goal_ratio": GOAL_RATIO,
               "healthz_goal_ms": HEALTHZ_GOAL_MS, "results": results}
    write_json("heavy", payload)
    _plot(results)
    return payload


def _plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "error" not in r]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(PHASES))
    width = 0.8 / max(1, len(ok))
    for i, r in enumerate(ok):
        axes[0].bar(x + i * width, [r["seconds"][p] for p in PHASES], width, label=r["backend"])
    axes[0].set_xticks(x + width * (len(ok) - 1) / 2, [p.replace(" ", "\n", 1) for p in PHASES])
    axes[0].set_ylabel("seconds")
    axes[0].set_title(f"regmix (linear), {DOMAINS} domains x {ok[0]['runs'] if ok else RUNS} runs")
    axes[0].legend()
    for r in ok:
        t = [s[1] for s in r["healthz_samples"]]
        ms = [s[2] for s in r["healthz_samples"]]
        axes[1].plot(t, ms, ".", markersize=3, label=r["backend"])
    axes[1].axhline(HEALTHZ_GOAL_MS, color="red", linestyle="dashed", label="goal (p99)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("seconds since the first heavy request")
    axes[1].set_ylabel("GET /healthz latency (ms)")
    axes[1].set_title("/healthz meanwhile (every 50 ms)")
    axes[1].legend()
    fig.tight_layout()
    save_figure(fig, "heavy")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in payload["results"]:
        if "error" in r:
            rows.append({"benchmark": f"heavy requests {r['backend']}", "value": r["error"], "baseline": "",
                         "ratio": "", "target": "", "ok": False})
            continue
        s, cold = r["seconds"], r["seconds"]["cold recommendation"]
        rows.append({
            "benchmark": f"regmix proposal n={N_LARGE} vs n={N_SMALL}, {r['backend']} ({r['domains']} x {r['runs']})",
            "value": f"{s[PHASES[2]]:.1f} s vs {s[PHASES[1]]:.1f} s; evaluation {s['evaluation']:.1f} s",
            "baseline": f"{cold:.1f} s (one cold regmix recommendation)",
            "ratio": f"{r['ratio_large_to_small_proposal']:.2f} (n={N_LARGE} / n={N_SMALL})",
            "target": f"<= {payload['goal_ratio']:g}x",
            "ok": r["meets_ratio"],
        })
        h = r["healthz_ms"]
        rows.append({
            "benchmark": f"/healthz during heavy requests, {r['backend']}",
            "value": f"p50 {h['p50']:.1f} ms, p99 {h['p99']:.1f} ms, max {h['max']:.0f} ms",
            "baseline": "",
            "ratio": "",
            "target": f"p99 <= {payload['healthz_goal_ms']:g} ms",
            "ok": r["meets_healthz"],
        })
    return rows


if __name__ == "__main__":
    from rich.console import Console

    out = run()
    Console().print(table(out))
    print("wrote bench/results/heavy.json")
