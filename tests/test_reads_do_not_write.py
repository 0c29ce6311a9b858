"""Reads do not write (on SQLite and PostgreSQL): a lapsed lease reads as abandoned without a sweep, a GET takes no
write lock and leaves the data version (and so the fit cache) alone; only what a fit reads moves the version."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.services import fitting, telemetry
from app.services.access import create_token
from store.repository import Store
from tests.conftest import make_client

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|BEGIN IMMEDIATE)\b", re.IGNORECASE)
DOMAINS = ["a", "b", "c"]
REGMIX = {"mixer": "regmix", "config": {"model": "linear"}}


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def _runs(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}{i}",
            "weights": {"a": (i + 1) / (n + 1), "b": 1 - (i + 1) / (n + 1), "c": 0.0},
            "metrics": {"loss": 3.0 - i / n},
        }
        for i in range(n)
    ]


def _setup(client: TestClient) -> int:
    body = {"name": "p", "domains": [{"name": d} for d in DOMAINS], "objective": {"metric": "loss"}}
    assert client.post("/api/v1/projects", json=body).status_code == 201
    pending = {"external_id": "open", "weights": {"a": 0.2, "b": 0.2, "c": 0.6}}
    r = client.post("/api/v1/projects/p/runs", json={"runs": [*_runs(8), pending]})
    assert r.status_code == 201, r.text
    return int(r.json()["runs"][-1]["id"])


@pytest.fixture
def lapsing(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    """A client whose runs' leases last 0.3 s, with the background sweep off."""
    with make_client(store, tmp_path, lease_seconds=0.3, lease_sweep_seconds=0) as c:
        yield c


def test_a_lapsed_lease_reads_as_abandoned_and_no_read_writes(store: Store, lapsing: TestClient) -> None:
    run_id = _setup(lapsing)
    assert lapsing.post("/api/v1/projects/p/recommendations", json=REGMIX).status_code == 200  # fitted and cached
    version = store.get_project("p").data_version
    fits = telemetry.FITS.labels("regmix")._value.get()
    time.sleep(0.5)
    with statements(store) as sent:
        one = lapsing.get(f"/api/v1/projects/p/runs/{run_id}").json()
        listed = lapsing.get("/api/v1/projects/p/runs").json()["runs"]
        abandoned = lapsing.get("/api/v1/projects/p/runs", params={"status": "abandoned"}).json()["runs"]
        pending = lapsing.get("/api/v1/projects/p/runs", params={"status": "pending"}).json()["runs"]
        [project] = lapsing.get("/api/v1/projects").json()["projects"]
        assert lapsing.get("/api/v1/projects/p").status_code == 200
        assert lapsing.get("/api/v1/projects/p/mixers").status_code == 200
        exported = lapsing.get("/api/v1/projects/p/export", params={"format": "jsonl"}).text
        again = lapsing.post("/api/v1/projects/p/recommendations", json=REGMIX)
    assert again.status_code == 200, again.text
    # the recommendation (a cache hit) writes one thing: itself, into the project's history
    writes = [s for s in sent if WRITE.match(s)]
    assert [s for s in writes if not re.match(r"^\s*BEGIN IMMEDIATE", s)] == [
        s for s in writes if re.match(r"^\s*INSERT INTO recommendations\b", s)
    ]
    assert len([s for s in writes if s.lstrip().startswith("INSERT")]) == 1
    assert one["status"] == "abandoned" and one["updated_at"] == one["lease_expires_at"]
    assert listed[-1] == one and [r["id"] for r in abandoned] == [run_id] and pending == []
    assert project["summary"]["open"] == 0 and '"abandoned"' in exported
    assert store.get_project("p").data_version == version
    assert telemetry.FITS.labels("regmix")._value.get() == fits  # the second recommendation was a cache hit


def test_a_sweep_writes_what_reads_already_showed(store: Store, lapsing: TestClient) -> None:
    run_id = _setup(lapsing)
    pid = store.get_project("p").id
    version = store.get_project("p").data_version
    time.sleep(0.5)
    before = lapsing.get(f"/api/v1/projects/p/runs/{run_id}").json()
    assert store.expire_leases(pid) == 1
    assert lapsing.get(f"/api/v1/projects/p/runs/{run_id}").json() == before
    assert store.get_project("p").data_version == version  # no fit reads open runs


def test_a_heartbeat_after_the_lease_ran_out_is_refused_and_sweeps_that_run(
    store: Store, lapsing: TestClient
) -> None:
    run_id = _setup(lapsing)
    other = lapsing.post("/api/v1/projects/p/runs", json={"runs": [{"weights": {"a": 1.0, "b": 0.0, "c": 0.0}}]})
    time.sleep(0.5)
    beat = lapsing.post(f"/api/v1/projects/p/runs/{run_id}/heartbeat")
    assert beat.status_code == 409 and beat.json()["code"] == "run_not_open"
    assert beat.json()["detail"] == f"run {run_id} is abandoned; only open runs take heartbeats"
    assert other.status_code == 201
    assert store.expire_leases(store.get_project("p").id) == 1  # the other run only: this one was swept


def test_only_what_a_fit_reads_moves_the_data_version(store: Store, client: TestClient) -> None:
    _setup(client)

    def version() -> int:
        return store.get_project("p").data_version

    start = version()
    made = client.post("/api/v1/projects/p/proposals", json={**REGMIX, "n": 2, "seed": 1})
    assert made.status_code == 201, made.text
    pending = client.post("/api/v1/projects/p/runs", json={"runs": [{"weights": {"a": 0.5, "b": 0.5, "c": 0.0}}]})
    assert pending.status_code == 201 and version() == start  # pending runs are no fit's data
    [first, second] = made.json()["runs"]
    failed = client.post(f"/api/v1/projects/p/runs/{first['id']}/result", json={"metrics": {}, "status": "failed"})
    assert failed.status_code == 200, failed.text
    assert version() == start
    done = client.post(f"/api/v1/projects/p/runs/{second['id']}/result", json={"metrics": {"loss": 1.0}})
    assert done.status_code == 200 and version() == start + 1
    assert client.post("/api/v1/projects/p/runs", json={"runs": _runs(2, "s")}).status_code == 201
    assert version() == start + 2


def test_the_background_task_sweeps_lapsed_leases(store: Store, tmp_path: Path) -> None:
    abandoned = telemetry.ABANDONED._value.get()
    with make_client(store, tmp_path, lease_seconds=0.1, lease_sweep_seconds=0.2) as c:
        _setup(c)
        pid = store.get_project("p").id
        deadline = time.monotonic() + 10
        while telemetry.ABANDONED._value.get() == abandoned and time.monotonic() < deadline:
            time.sleep(0.1)
    assert telemetry.ABANDONED._value.get() == abandoned + 1
    assert store.expire_leases(pid) == 0


def test_a_recommendation_reads_the_project_once_and_builds_the_problem_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    make_problem = fitting.make_problem

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return make_problem(*args, **kwargs)

    monkeypatch.setattr(fitting, "make_problem", counted)
    with make_client(store, tmp_path, auth=True, lease_sweep_seconds=0) as c:
        admin = {"Authorization": f"Bearer {create_token(store, 'admin')}"}
        body = {"name": "p", "domains": [{"name": d} for d in DOMAINS], "objective": {"metric": "loss"}}
        assert c.post("/api/v1/projects", json=body, headers=admin).status_code == 201
        assert c.post("/api/v1/projects/p/runs", json={"runs": _runs(8)}, headers=admin).status_code == 201
        scoped = {"Authorization": f"Bearer {create_token(store, 'p', project='p')}"}
        with statements(store) as sent:
            r = c.post("/api/v1/projects/p/recommendations", json=REGMIX, headers=scoped)
        assert r.status_code == 200, r.text
    project_reads = [s for s in sent if re.search(r"\bFROM projects\b", s)]
    assert len(project_reads) == 1, project_reads
    assert len(built) == 1
