"""End to end against a real ``mixopt serve`` process over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import PROJECT, REPO
from tests.server import running_server


def test_serve_creates_schema_and_serves_the_runs_api(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as url, httpx.Client(base_url=url, timeout=30) as http:
        assert (tmp_path / "data" / "mixopt.db").exists()
        assert http.post("/api/v1/projects", json=PROJECT).status_code == 201
        batch = [
            {
                "external_id": f"r{i}",
                "weights": {"web": 0.5, "code": 0.25 + i / 100, "books": 0.25 - i / 100},
                "metrics": {"loss": 3 - i / 10},
                "fidelity": {"tokens": 1e9},
            }
            for i in range(20)
        ] + [{"external_id": "p", "weights": {"web": 1, "code": 0, "books": 0}}]
        created = http.post("/api/v1/projects/p1/runs", json={"runs": batch})
        assert created.status_code == 201
        pending = created.json()["runs"][-1]
        assert pending["status"] == "pending"
        done = http.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json={"metrics": {"loss": 1.0}})
        assert done.json()["status"] == "completed"
        bad = http.post("/api/v1/projects/p1/runs", json={"runs": [{"weights": {"web": 0.7}}]})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        exported = http.get("/api/v1/projects/p1/export", params={"format": "jsonl"}).text.strip().splitlines()
        assert len(exported) == 22  # the project's settings, then 21 runs
        assert http.get("/docs").status_code == 200


def test_serve_refuses_a_database_behind_head(tmp_path: Path) -> None:
    env = {"MIXOPT_DATA_DIR": str(tmp_path)}
    url = f"sqlite:///{tmp_path / 'mixopt.db'}"
    from store import db

    db.upgrade(url)
    with db.make_engine(url).begin() as conn:  # pretend the database predates the head revision
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'old0'")
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert "mixopt db upgrade" in proc.stderr + proc.stdout


def test_serve_refuses_public_address_without_auth(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "MIXOPT_DATA_DIR": str(tmp_path), "MIXOPT_AUTH": "off"}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "--insecure" in proc.stderr
