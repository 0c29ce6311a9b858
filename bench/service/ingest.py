"""Bulk ingest over HTTP against a plain driver-level insert of the same rows, on SQLite and PostgreSQL.

Each run carries 17 weights and 13 metrics (the RegMix shape). The baseline inserts the same rows as JSON
text with the bare driver (sqlite3 / psycopg ``executemany``) into a table of the same columns, in the same
process run, so the ratio says what the service's validation, idempotency and HTTP cost.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import progress, save_figure, scratch_postgres, write_json
from bench.server import running_server

DOMAINS = [f"d{i:02d}" for i in range(17)]
METRICS = [f"metric/val_loss_{i:02d}" for i in range(13)]
SIZES = (512, 10_000)
REPEATS = 3


def make_runs(n: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(17, 0.5), size=n)
    m = rng.normal(4.0, 0.5, size=(n, 13))
    return [
        {
            "external_id": f"{prefix}-{i}",
            "weights": dict(zip(DOMAINS, map(float, w[i]), strict=True)),
            "metrics": dict(zip(METRICS, map(float, m[i]), strict=True)),
            "fidelity": {"params": 1e6, "tokens": 1e9},
        }
        for i in range(n)
    ]


def _http_ingest(url: str, size: int, label: str, bar: Any, task: Any) -> list[float]:
    rates = []
    with httpx.Client(base_url=url, timeout=300) as http:
        http.post(
            "/api/v1/projects",
            json={
                "name": "bench",
                "domains": [{"name": d} for d in DOMAINS],
                "objective": {"metric": METRICS[0]},
            },
        )
        for rep in range(REPEATS):
            runs = make_runs(size, rep, f"{label}-{size}-{rep}")
            body = json.dumps({"runs": runs})
            start = time.perf_counter()
            resp = http.post("/api/v1/projects/bench/runs", content=body, headers={"content-type": "application/json"})
            elapsed = time.perf_counter() - start
            resp.raise_for_status()
            assert len(resp.json()["runs"]) == size
            rates.append(size / elapsed)
            bar.advance(task)
    return rates


BASE_COLUMNS = "external_id, weights, fidelity, metrics, status, content_hash"


def _rows(runs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            r["external_id"],
            json.dumps(r["weights"]),
            json.dumps(r["fidelity"]),
            json.dumps(r["metrics"]),
            "completed",
            "x",
        )
        for r in runs
    ]


def _sqlite_baseline(size: int, bar: Any, task: Any) -> list[float]:
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "base.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"CREATE TABLE runs (id INTEGER PRIMARY KEY, {BASE_COLUMNS})")
        for rep in range(REPEATS):
            rows = _rows(make_runs(size, rep, f"b-{size}-{rep}"))
            start = time.perf_counter()
            with conn:
                conn.executemany(f"INSERT INTO runs ({BASE_COLUMNS}) VALUES (?,?,?,?,?,?)", rows)
            rates.append(size / (time.perf_counter() - start))
            bar.advance(task)
        conn.close()
    return rates


def _pg_baseline(url: str, size: int, bar: Any, task: Any) -> list[float]:
    import psycopg

    rates = []
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS base_runs (id SERIAL PRIMARY KEY, external_id text, weights json, "
            "fidelity json, metrics json, status text, content_hash text)"
        )
        conn.commit()
        for rep in range(REPEATS):
            rows = _rows(make_runs(size, rep, f"b-{size}-{rep}"))
            start = time.perf_counter()
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO base_runs ({BASE_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s)", rows)
            conn.commit()
            rates.append(size / (time.perf_counter() - start))
            bar.advance(task)
    return rates


def run(show_progress: bool = True) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with progress() as bar, tempfile.TemporaryDirectory() as tmp:
        task = bar.add_task("ingest", total=len(SIZES) * REPEATS * 4)
        with running_server(Path(tmp) / "sqlite") as url:
            for size in SIZES:
                http = _http_ingest(url, size, "s", bar, task)
                base = _sqlite_baseline(size, bar, task)
                results.append(_row("sqlite", size, http, base))
        with scratch_postgres() as pg:
            if pg is None:
                results.append({"backend": "postgresql", "error": "PostgreSQL unreachable"})
            else:
                env = {"MIXOPT_DATABASE_URL": pg.replace("postgresql://", "postgresql+psycopg://", 1)}
                with running_server(Path(tmp) / "pg", env=env) as url:
                    for size in SIZES:
                        http = _http_ingest(url, size, "p", bar, task)
                        base = _pg_baseline(pg, size, bar, task)
                        results.append(_row("postgresql", size, http, base))
    payload = {
        "benchmark": "ingest",
        "repeats": REPEATS,
        "results": results,
        "targets": {"sqlite": 5000, "postgresql": 3000},
    }
    write_json("ingest", payload)
    _plot(results)
    return payload


def _row(backend: str, size: int, http: list[float], base: list[float]) -> dict[str, Any]:
    target = 5000 if backend == "sqlite" else 3000
    med_http, med_base = float(np.median(http)), float(np.median(base))
    return {
        "backend": backend,
        "batch": size,
        "http_runs_per_s": med_http,
        "driver_runs_per_s": med_base,
        "ratio_http_to_driver": med_http / med_base,
        "target_runs_per_s": target,
        "meets_target": med_http > target,
    }


def _plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "error" not in r]
    labels = [f"{r['backend']}\n{r['batch']} runs" for r in ok]
    x = np.arange(len(ok))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, [r["http_runs_per_s"] for r in ok], 0.4, label="mixopt over HTTP")
    ax.bar(x + 0.2, [r["driver_runs_per_s"] for r in ok], 0.4, label="bare driver insert")
    for i, r in enumerate(ok):
        ax.hlines(r["target_runs_per_s"], i - 0.45, i + 0.45, colors="red", linestyles="dashed")
    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.set_ylabel("runs per second (median)")
    ax.set_title("Bulk ingest (17 weights, 13 metrics); red: target")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, "ingest")
    plt.close(fig)


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "benchmark": f"ingest {r['backend']} {r['batch']}",
            "value": f"{r['http_runs_per_s']:.0f} runs/s",
            "baseline": f"{r['driver_runs_per_s']:.0f} runs/s (driver)",
            "ratio": f"{r['ratio_http_to_driver']:.2f}",
            "target": f"> {r['target_runs_per_s']} runs/s",
            "ok": r["meets_target"],
        }
        for r in payload["results"]
        if "error" not in r
    ]


if __name__ == "__main__":
    from rich import print as rprint

    rprint(table(run()))
