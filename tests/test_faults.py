"""Faults: a server killed mid-ingest leaves the whole batch or none of it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx

from bench.server import running_server
from store import db
from store.repository import Store


def test_kill_during_bulk_ingest_is_all_or_nothing(tmp_path: Path) -> None:
    runs = [
        {
            "external_id": f"r{i}",
            "weights": {"x": (i % 100) / 100, "y": 1 - (i % 100) / 100},
            "metrics": {"loss": float(i)},
        }
        for i in range(10_000)
    ]
    body = json.dumps({"runs": runs})
    with running_server(tmp_path) as url:
        httpx.post(
            f"{url}/api/v1/projects",
            json={"name": "k", "domains": [{"name": "x"}, {"name": "y"}], "objective": {"metric": "loss"}},
        ).raise_for_status()
        errors: list[Exception] = []

        def send() -> None:
            try:
                httpx.post(
                    f"{url}/api/v1/projects/k/runs",
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=60,
                )
            except httpx.HTTPError as exc:
                errors.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)  # the batch is being validated or written
        killed = False
        for p in (p for p in Path("/proc").iterdir() if p.name.isdigit()):  # the server process of this test
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and str(tmp_path).encode() in (p / "environ").read_bytes():
                os.kill(int(p.name), signal.SIGKILL)
                killed = True
        sender.join(timeout=60)
        assert killed
    store = Store(db.make_engine(f"sqlite:///{tmp_path / 'mixopt.db'}"))
    count = store.count_runs()
    assert count in (0, len(runs)), count


def test_database_going_away_is_a_503_problem(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    # A PostgreSQL URL where nothing listens: every query fails at connect time, as after the server died.
    gone = Store(db.make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}))
    with TestClient(create_app(Settings(data_dir=tmp_path), store=gone), raise_server_exceptions=False) as client:
        resp = client.post(
            "/api/v1/projects", json={"name": "x", "domains": [{"name": "a"}], "objective": {"metric": "m"}}
        )
        assert resp.status_code == 503
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "database_unavailable" and resp.headers["retry-after"] == "5"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
