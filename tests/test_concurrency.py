"""Real concurrency on the PostgreSQL server: several processes hammer one database, then every row is counted."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from store import db
from store.errors import Conflict
from store.records import NewProject, NewRun, RunResult, RunStatus
from store.repository import Store

pytestmark = pytest.mark.postgres

PROCS = 8
DOMAINS = [{"name": "a"}, {"name": "b"}]


def _run(ext: str, w: float, status: RunStatus = "completed") -> NewRun:
    return NewRun(
        external_id=ext,
        weights={"a": w, "b": 1 - w},
        weights_sum=1.0,
        fidelity={},
        fidelity_key="",
        cost=None,
        status=status,
        metrics={"loss": w} if status == "completed" else {},
        trajectory=None,
        tags={},
        content_hash=f"{ext}-{w}-{status}",
        result_hash="r" if status == "completed" else None,
    )


def _ingest_worker(url: str, project_id: int, worker: int, out: Any) -> None:
    store = Store(db.make_engine(url))
    # Batches overlap: worker k sends ids k*50 .. k*50+99, so neighbours share 50 external ids.
    runs = [_run(f"r{i}", (i % 100) / 100) for i in range(worker * 50, worker * 50 + 100)]
    ok = 0
    for _ in range(3):  # and each worker re-sends its batch, as a retrying client would
        ok += len(store.ingest_runs(project_id, runs, lease_seconds=60))
    out.put(ok)
    store.engine.dispose()


def _result_worker(url: str, project_id: int, run_id: int, value: float, out: Any) -> None:
    store = Store(db.make_engine(url))
    try:
        result = RunResult("completed", {"loss": value}, trajectory=None, cost=None, result_hash=f"h{value}")
        store.complete_run(project_id, run_id, result)
        out.put("won")
    except Conflict:
        out.put("409")
    store.engine.dispose()


def _spawn(target: Any, args_list: list[tuple[Any, ...]]) -> list[Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, out)) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    return [out.get(timeout=5) for _ in procs]


def _project(url: str, name: str) -> tuple[Store, int]:
    store = Store(db.make_engine(url))
    rec = store.create_project(
        NewProject(name=name, domains=DOMAINS, objective={"metrics": {"loss": 1.0}, "direction": "minimize"})
    )
    return store, rec.id


def test_overlapping_bulk_ingest_stores_every_run_once(pg_url: str) -> None:
    store, pid = _project(pg_url, "race-ingest")
    answered = _spawn(_ingest_worker, [(pg_url, pid, k) for k in range(PROCS)])
    assert sum(answered) == PROCS * 3 * 100  # every request answered in full
    expected = {f"r{i}" for i in range(0, (PROCS - 1) * 50 + 100)}
    runs = store.all_runs(pid)
    assert len(runs) == len(expected)  # no duplicates, nothing lost
    assert {r.external_id for r in runs} == expected


def test_racing_results_exactly_one_wins(pg_url: str) -> None:
    store, pid = _project(pg_url, "race-result")
    [pending] = store.ingest_runs(pid, [_run("p", 0.5, status="pending")], lease_seconds=60)
    outcomes = _spawn(_result_worker, [(pg_url, pid, pending.id, float(v)) for v in range(PROCS)])
    assert outcomes.count("won") == 1 and outcomes.count("409") == PROCS - 1
    final = store.get_run(pid, pending.id)
    assert final.status == "completed" and final.metrics["loss"] in range(PROCS)


def _propose_worker(url: str, worker: int, out: Any) -> None:
    from app.services import mixing

    store = Store(db.make_engine(url))
    # Every worker uses the same seed, so they all want the same mixtures: the dedupe under the project lock
    # must let each mixture through once.
    runs = mixing.propose(store, "race-propose", "regmix", None, 4, None, None, None, 7, 60.0, 60.0).runs
    out.put([r.id for r in runs])
    store.engine.dispose()


def test_concurrent_proposals_never_duplicate_a_pending_run(pg_url: str) -> None:
    store, pid = _project(pg_url, "race-propose")
    handed = _spawn(_propose_worker, [(pg_url, k) for k in range(PROCS)])
    ids = [i for batch in handed for i in batch]
    assert len(ids) == len(set(ids))
    runs = store.all_runs(pid)
    assert {r.status for r in runs} == {"pending"} and len(runs) == len(ids)
    mixtures = {tuple(round(v, 12) for v in r.weights.values()) for r in runs}
    assert len(mixtures) == len(runs)  # no mixture is pending twice
    assert len(ids) >= 4  # at least one whole batch got through
