"""Two ``mixopt serve`` processes share one PostgreSQL database: sessions and cached fits move between them."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from store import db
from store.records import NewProject, NewRun
from store.repository import Store
from tests.server import running_server

pytestmark = pytest.mark.postgres


def _cache_hits(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    found = re.findall(r'^mixopt_fit_cache_hits_total\{mixer="regmix"\} ([0-9.e+]+)$', text, re.M)
    return float(found[0]) if found else 0.0


def test_two_servers_share_sessions_and_fits(pg_url: str, tmp_path: Path) -> None:
    env = {"MIXOPT_DATABASE_URL": pg_url}
    with (
        running_server(tmp_path / "a", env=env) as a,
        running_server(tmp_path / "b", env=env) as b,
        httpx.Client(timeout=120) as http,
    ):
        project = {"name": "shared", "domains": [{"name": "x"}, {"name": "y"}], "objective": {"metric": "loss"}}
        assert http.post(f"{a}/api/v1/projects", json=project).status_code == 201
        runs = [
            {
                "external_id": f"r{i}",
                "weights": {"x": i / 20, "y": 1 - i / 20},
                "metrics": {"loss": (i / 20 - 0.3) ** 2},
            }
            for i in range(21)
        ]
        assert http.post(f"{b}/api/v1/projects/shared/runs", json={"runs": runs}).status_code == 201

        body = {"mixer": "regmix", "config": {"n_estimators": 50, "n_candidates": 2000, "top_k": 8, "cv_trees": 10}}
        first = http.post(f"{a}/api/v1/projects/shared/recommendations", json=body).json()
        before = _cache_hits(b)
        second = http.post(f"{b}/api/v1/projects/shared/recommendations", json=body).json()
        stored = {"id", "created_at"}  # each answer is stored on its own: its id and time differ
        same = {k: v for k, v in first.items() if k not in stored}
        assert {k: v for k, v in second.items() if k not in stored} == same
        assert second["id"] != first["id"]
        assert _cache_hits(b) == before + 1  # B answered from the fit A cached in the database

        config = {"lp_rounds": 1, "lp_steps": 1, "round_steps": 10, "ema": None, "eta": 1.0}
        session = http.post(
            f"{a}/api/v1/projects/shared/sessions", json={"mixer": "aioli", "config": config, "total_steps": 30}
        ).json()
        directive, servers, k = session["directive"], [a, b], 0
        while not directive["done"]:
            step = directive["until_step"]
            losses = {"x": 3.0 - step * 0.01, "y": 3.0 - step * 0.02 * directive["weights"]["y"]}
            resp = http.post(
                f"{servers[k % 2]}/api/v1/sessions/{session['id']}/reports", json={"step": step, "losses": losses}
            )
            assert resp.status_code == 200, resp.text
            directive, k = resp.json()["directive"], k + 1
        history = http.get(f"{a}/api/v1/sessions/{session['id']}").json()["history"]
        assert len(history) == k + 1 and history[-1]["directive"]["done"]


def test_racing_sweepers_abandon_each_run_once(pg_url: str) -> None:
    store = Store(db.make_engine(pg_url))
    pid = store.create_project(
        NewProject(
            name="sweep",
            domains=[{"name": "x"}, {"name": "y"}],
            objective={"metrics": {"loss": 1.0}, "direction": "minimize"},
        )
    ).id
    rows = [
        NewRun(
            external_id=f"p{i}",
            weights={"x": i / 50, "y": 1 - i / 50},
            weights_sum=1.0,
            fidelity={},
            fidelity_key="",
            cost=None,
            status="pending",
            metrics={},
            trajectory=None,
            tags={},
            content_hash=f"h{i}",
            result_hash=None,
        )
        for i in range(50)
    ]
    store.ingest_runs(pid, rows, lease_seconds=0.2)
    time.sleep(0.5)
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(store.expire_leases(pid))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 50
    assert {r.status for r in store.all_runs(pid)} == {"abandoned"}
    store.engine.dispose()
