"""Request latency over HTTP: a cached recommendation and an online-session report round trip.

Baseline in the same run: ``GET /healthz`` (the cost of HTTP and the framework alone) on the same server.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile, progress, write_json
from bench.server import running_server

N_RECOMMEND = 200
N_REPORTS = 300


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _stats(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "n": len(ms)}


def run() -> dict[str, Any]:
    with progress() as bar, tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp), "--demo") as url:
        task = bar.add_task("latency", total=N_RECOMMEND * 2 + N_REPORTS + 1)
        with httpx.Client(base_url=url, timeout=120) as http:
            body = {"mixer": "regmix"}
            first = _timed(
                lambda: http.post("/api/v1/projects/regmix-demo/recommendations", json=body).raise_for_status()
            )
            bar.advance(task)
            rec = []
            for _ in range(N_RECOMMEND):
                rec.append(
                    _timed(
                        lambda: http.post("/api/v1/projects/regmix-demo/recommendations", json=body).raise_for_status()
                    )
                )
                bar.advance(task)
            health = []
            for _ in range(N_RECOMMEND):
                health.append(_timed(lambda: http.get("/healthz").raise_for_status()))
                bar.advance(task)
            http.post(
                "/api/v1/projects",
                json={"name": "online", "domains": [{"name": d} for d in "abcde"], "objective": {"metric": "loss"}},
            ).raise_for_status()
            session = http.post(
                "/api/v1/projects/online/sessions",
                json={
                    "mixer": "aioli",
                    "config": {"round_steps": 100, "lp_rounds": 2, "lp_steps": 2},
                    "total_steps": 10**6,
                    "seed": 0,
                },
            ).json()
            directive, sid, reports = session["directive"], session["id"], []
            for i in range(N_REPORTS):
                losses = {d: 5.0 - 0.001 * directive["until_step"] - 0.01 * j for j, d in enumerate("abcde")}
                start = time.perf_counter()
                resp = http.post(
                    f"/api/v1/sessions/{sid}/reports", json={"step": directive["until_step"], "losses": losses}
                )
                reports.append((time.perf_counter() - start) * 1000)
                resp.raise_for_status()
                directive = resp.json()["directive"]
                bar.advance(task)
                if directive.get("done"):
                    raise RuntimeError(f"session ended after {i} reports")
    payload = {
        "benchmark": "latency",
        "recommendation_first_ms": first,
        "recommendation_cached": _stats(rec),
        "session_report": _stats(reports),
        "healthz_baseline": _stats(health),
        "targets": {"recommendation_p50_ms": 20, "recommendation_p99_ms": 100, "session_report_p50_ms": 10},
    }
    write_json("latency", payload)
    return payload


def table(p: dict[str, Any]) -> list[dict[str, Any]]:
    h = p["healthz_baseline"]
    r, s = p["recommendation_cached"], p["session_report"]
    return [
        {
            "benchmark": "recommendation, cached (HTTP)",
            "value": f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
            "baseline": f"healthz p50 {h['p50_ms']:.1f} ms",
            "ratio": f"{r['p50_ms'] / h['p50_ms']:.1f}",
            "target": "p50 < 20 ms, p99 < 100 ms",
            "ok": r["p50_ms"] < 20 and r["p99_ms"] < 100,
        },
        {
            "benchmark": "recommendation, first (fit + 100k candidates)",
            "value": f"{p['recommendation_first_ms']:.0f} ms",
            "baseline": "",
            "ratio": "",
            "target": "",
            "ok": None,
        },
        {
            "benchmark": "session report round trip (HTTP)",
            "value": f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
            "baseline": f"healthz p50 {h['p50_ms']:.1f} ms",
            "ratio": f"{s['p50_ms'] / h['p50_ms']:.1f}",
            "target": "p50 < 10 ms",
            "ok": s["p50_ms"] < 10,
        },
    ]


if __name__ == "__main__":
    from rich import print as rprint

    rprint(table(run()))
