"""Faults: a server killed mid-ingest leaves the whole batch or none of it; a dead database is a 503."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.server import running_server
from store import db
from store.repository import Store

HOOKS = Path(__file__).parent / "fault_injection"


@pytest.mark.parametrize(("fault", "expected"), [("before_commit", 0), ("after_commit", 2_000)])
def test_server_killed_mid_ingest_keeps_all_or_nothing(tmp_path: Path, fault: str, expected: int) -> None:
    """SIGKILL at a known point of the bulk write: rows inserted but uncommitted vanish, committed rows stay."""
    runs = [
        {
            "external_id": f"r{i}",
            "weights": {"x": (i % 100) / 100, "y": 1 - (i % 100) / 100},
            "metrics": {"loss": float(i)},
        }
        for i in range(2_000)
    ]
    marker = tmp_path / "frozen.pid"
    env = {
        "MIXOPT_TEST_FAULT": fault,
        "MIXOPT_TEST_FAULT_MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join(p for p in (str(HOOKS), os.environ.get("PYTHONPATH", "")) if p),
    }
    with running_server(tmp_path, env=env) as url:
        httpx.post(
            f"{url}/api/v1/projects",
            json={"name": "k", "domains": [{"name": "x"}, {"name": "y"}], "objective": {"metric": "loss"}},
        ).raise_for_status()
        answers: list[httpx.Response | Exception] = []

        def send() -> None:
            try:
                answers.append(httpx.post(f"{url}/api/v1/projects/k/runs", json={"runs": runs}, timeout=60))
            except httpx.HTTPError as exc:
                answers.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the server never reached the fault point"
            time.sleep(0.05)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        sender.join(timeout=60)
    assert len(answers) == 1 and isinstance(answers[0], httpx.HTTPError), answers  # the client saw no answer
    store = Store(db.make_engine(f"sqlite:///{tmp_path / 'mixopt.db'}"))
    assert store.count_runs() == expected


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
