"""Memory and event-loop stall of a ``mixopt serve`` process around large accepted (or refused) bodies.

What it guards: a run with a 73 MB trajectory once left the server at 1.5-1.9 GB of RSS, and an 89 MB JSON
embedding upload parsed on the event loop stalled it 3.6 s. This starts a server on a fresh SQLite data
directory, sends each body, and prints the server's RSS (``/proc/<pid>/status``) before and after, and the
longest ``/healthz`` latency seen while the body was being handled. Linux only; not a timed test: its rows carry
no target.

    python -m bench.service.large_bodies
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import write_json
from bench.server import server_process

PROJECT = {"name": "p", "domains": [{"name": "a"}, {"name": "b"}], "objective": {"metric": "loss"}}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def trajectory_body(points: int, metrics: int) -> bytes:
    traj = [{"step": i, **{f"m{k}": 1.0 + k * 1e-3 + i * 1e-7 for k in range(metrics)}} for i in range(points)]
    run = {"weights": {"a": 0.5, "b": 0.5}, "metrics": {"loss": 1.0}, "trajectory": traj}
    return json.dumps({"runs": [run]}).encode()


def embedding_body(rows: int, dim: int) -> bytes:
    return json.dumps({"vectors": [[0.123456789 + i * 1e-6] * dim for i in range(rows)]}).encode()


def measure(url: str, pid: int, method: str, path: str, body: bytes) -> dict[str, Any]:
    """Send ``body``; poll ``/healthz`` meanwhile and report the worst latency."""
    before = rss_mb(pid)
    worst = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal worst
        with httpx.Client(timeout=60) as c:
            while not done.is_set():
                t = time.perf_counter()
                c.get(f"{url}/healthz")
                worst = max(worst, time.perf_counter() - t)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    t0 = time.perf_counter()
    r = httpx.request(method, url + path, content=body, headers={"content-type": "application/json"}, timeout=600)
    elapsed = time.perf_counter() - t0
    done.set()
    poller.join()
    time.sleep(1.0)
    return {
        "body_mb": round(len(body) / 1e6, 1),
        "status": r.status_code,
        "seconds": round(elapsed, 2),
        "rss_before_mb": round(before, 0),
        "rss_after_mb": round(rss_mb(pid), 0),
        "worst_healthz_s": round(worst, 3),
    }


CASES = [  # (label, method, path, body size)
    ("trajectory 100,000 points x 30 metrics", "POST", "/api/v1/projects/p/runs", ("trajectory", 100_000, 30)),
    ("trajectory 10,000 points x 30 metrics", "POST", "/api/v1/projects/p/runs", ("trajectory", 10_000, 30)),
    ("JSON embedding 5,000 x 1,000", "PUT", "/api/v1/projects/p/embeddings/a", ("embedding", 5_000, 1_000)),
    ("JSON embedding 1,500 x 1,000", "PUT", "/api/v1/projects/p/embeddings/b", ("embedding", 1_500, 1_000)),
]


def run() -> dict[str, Any]:
    cases = []
    with tempfile.TemporaryDirectory(prefix="mixopt-rss-") as tmp, server_process(Path(tmp)) as (url, proc):
        httpx.post(f"{url}/api/v1/projects", json=PROJECT).raise_for_status()
        idle = rss_mb(proc.pid)
        print(f"server pid {proc.pid}, idle RSS {idle:.0f} MB")
        for label, method, path, (kind, rows, cols) in CASES:
            body = trajectory_body(rows, cols) if kind == "trajectory" else embedding_body(rows, cols)
            cases.append({"body": label, **measure(url, proc.pid, method, path, body)})
            print(cases[-1], flush=True)
    payload = {"idle_rss_mb": round(idle, 0), "cases": cases}
    write_json("large_bodies", payload)
    return payload


def table(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [{
        "benchmark": f"large body: {c['body']} ({c['body_mb']} MB)",
        "value": f"{c['status']}, RSS {c['rss_before_mb']:.0f} -> {c['rss_after_mb']:.0f} MB, "
                 f"worst /healthz {c['worst_healthz_s']:.2f} s",
        "baseline": f"idle RSS {payload['idle_rss_mb']:.0f} MB",
        "ratio": "",
        "target": "",
        "ok": None,
    } for c in payload["cases"]]


if __name__ == "__main__":
    run()
    print("wrote bench/results/large_bodies.json")
