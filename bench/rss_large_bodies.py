"""Memory and event-loop stall of a ``mixopt serve`` process around large accepted (or refused) bodies.

Issue 23 item 6: one run could carry a 73 MB trajectory (the server kept 1.5-1.9 GB of RSS) and an 89 MB JSON
embedding upload was parsed on the event loop (a 3.6 s stall). This starts a server on a fresh SQLite data
directory, sends each body, and prints the server's RSS (``/proc/<pid>/status``) before and after, and the
longest ``/healthz`` latency seen while the body was being handled. Linux only; not a timed test.

    python -m bench.rss_large_bodies
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.server import free_port

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


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="mixopt-rss-"))
    port = free_port()
    env = {**os.environ, "MIXOPT_DATA_DIR": str(data)}
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        httpx.post(f"{url}/api/v1/projects", json=PROJECT).raise_for_status()
        cases = [
            ("trajectory 100,000 points x 30 metrics", "POST", "/api/v1/projects/p/runs", trajectory_body(100_000, 30)),
            ("trajectory 10,000 points x 30 metrics", "POST", "/api/v1/projects/p/runs", trajectory_body(10_000, 30)),
            ("JSON embedding 5,000 x 1,000", "PUT", "/api/v1/projects/p/embeddings/a", embedding_body(5_000, 1_000)),
            ("JSON embedding 1,500 x 1,000", "PUT", "/api/v1/projects/p/embeddings/b", embedding_body(1_500, 1_000)),
        ]
        print(f"server pid {proc.pid}, idle RSS {rss_mb(proc.pid):.0f} MB")
        for label, method, path, body in cases:
            print(label, measure(url, proc.pid, method, path, body), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    main()
