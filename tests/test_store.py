"""Store contract: the same behaviour on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from store.errors import Conflict, InvalidInput, NotFound
from store.models import ProjectRow
from store.records import NewProject, NewRun, NewSession, ProjectChanges, RunResult, RunStatus
from store.repository import Store

DOMAINS = [{"name": "a", "tokens": 1.0}, {"name": "b", "tokens": 3.0}]


def _project(store: Store, name: str = "p") -> int:
    rec = store.create_project(
        NewProject(name=name, domains=DOMAINS, objective={"metrics": {"loss": 1.0}, "direction": "minimize"})
    )
    return rec.id


def _run(
    ext: str | None,
    w: float = 0.5,
    status: RunStatus = "completed",
    loss: float | None = 1.0,
    content: str | None = None,
) -> NewRun:
    metrics = {"loss": loss} if loss is not None else {}
    return NewRun(
        external_id=ext,
        weights={"a": w, "b": 1 - w},
        weights_sum=1.0,
        fidelity={"tokens": 1e9},
        fidelity_key="tokens=1e+09",
        cost=None,
        status=status,
        metrics=metrics,
        trajectory=None,
        tags={},
        content_hash=content or f"h-{ext}-{w}-{status}-{loss}",
        result_hash="r" if status == "completed" else None,
    )


def _result(loss: float, digest: str) -> RunResult:
    return RunResult(status="completed", metrics={"loss": loss}, trajectory=None, cost=None, result_hash=digest)


def test_project_crud_and_unique_name(store: Store) -> None:
    pid = _project(store)
    assert store.get_project("p").id == pid
    with pytest.raises(Conflict):
        _project(store)
    updated = store.update_project("p", ProjectChanges(description="new"))
    assert updated.description == "new"
    assert updated.data_version == 1
    store.delete_project("p")
    with pytest.raises(NotFound):
        store.get_project("p")


def test_project_paging(store: Store) -> None:
    for i in range(5):
        _project(store, f"p{i}")
    first = store.list_projects(2, None)
    assert [p.name for p in first.items] == ["p0", "p1"]
    second = store.list_projects(2, first.next_page_token)
    third = store.list_projects(2, second.next_page_token)
    assert [p.name for p in second.items + third.items] == ["p2", "p3", "p4"]
    assert third.next_page_token is None
    with pytest.raises(InvalidInput):
        store.list_projects(2, "garbage!")


def test_ingest_is_idempotent_and_all_or_nothing(store: Store) -> None:
    pid = _project(store)
    first = store.ingest_runs(pid, [_run("x"), _run("y", 0.3)], lease_seconds=60)
    assert [r.external_id for r in first] == ["x", "y"]
    again = store.ingest_runs(pid, [_run("x"), _run("z", 0.2)], lease_seconds=60)
    assert again[0].id == first[0].id
    assert store.count_runs(pid) == 3
    with pytest.raises(Conflict) as err:
        store.ingest_runs(pid, [_run("w", 0.1), _run("x", 0.9)], lease_seconds=60)
    assert err.value.errors[0].loc == "runs[1].external_id"
    assert store.count_runs(pid) == 3  # "w" was not written either


def test_pending_runs_get_a_lease_on_the_database_clock(store: Store) -> None:
    pid = _project(store)
    [run] = store.ingest_runs(pid, [_run("p", status="pending", loss=None)], lease_seconds=3600)
    assert run.lease_expires_at is not None and run.created_at is not None
    assert 3590 < (run.lease_expires_at - run.created_at).total_seconds() < 3610
    beat = store.heartbeat(pid, run.id, 7200)
    assert beat.status == "running"
    assert beat.lease_expires_at is not None and beat.lease_expires_at > run.lease_expires_at


def test_expired_lease_abandons_exactly_once(store: Store) -> None:
    pid = _project(store)
    [run] = store.ingest_runs(pid, [_run("p", status="pending", loss=None)], lease_seconds=0.05)
    time.sleep(0.2)
    assert store.expire_leases(pid) == 1
    assert store.expire_leases(pid) == 0
    assert store.get_run(pid, run.id).status == "abandoned"
    with pytest.raises(Conflict):
        store.heartbeat(pid, run.id, 60)


def test_result_completes_exactly_once(store: Store) -> None:
    pid = _project(store)
    [run] = store.ingest_runs(pid, [_run("p", status="pending", loss=None)], lease_seconds=60)
    done, changed = store.complete_run(pid, run.id, _result(2.0, "one"))
    assert changed and done.status == "completed" and done.metrics == {"loss": 2.0}
    assert done.lease_expires_at is None
    same, changed = store.complete_run(pid, run.id, _result(2.0, "one"))
    assert not changed and same.metrics == {"loss": 2.0}
    with pytest.raises(Conflict):
        store.complete_run(pid, run.id, _result(3.0, "two"))
    assert store.get_run(pid, run.id).metrics == {"loss": 2.0}


def test_list_runs_filters_and_pages(store: Store) -> None:
    pid = _project(store)
    store.ingest_runs(
        pid, [_run(f"r{i}", i / 10) for i in range(7)] + [_run("q", status="pending", loss=None)], lease_seconds=60
    )
    page = store.list_runs(pid, status="completed", max_results=4)
    rest = store.list_runs(pid, status="completed", max_results=4, page_token=page.next_page_token)
    assert len(page.items) == 4 and len(rest.items) == 3 and rest.next_page_token is None
    assert {r.status for r in page.items + rest.items} == {"completed"}
    assert len(store.list_runs(pid, fidelity_key="tokens=1e+09").items) == 8
    assert store.list_runs(pid, fidelity_key="tokens=2e+09").items == []


def test_delete_project_cascades(store: Store) -> None:
    pid = _project(store)
    store.ingest_runs(pid, [_run("x")], lease_seconds=60)
    store.delete_project("p")
    assert store.count_runs() == 0


def test_embeddings_are_content_addressed(store: Store) -> None:
    pid = _project(store)
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    h1 = store.put_embedding(pid, "a", arr)
    h2 = store.put_embedding(pid, "target", arr)
    assert h1 == h2
    loaded = store.load_embeddings(pid)
    assert set(loaded) == {"a", "target"}
    np.testing.assert_array_equal(loaded["a"], arr)


def test_fit_cache_round_trip_and_eviction(store: Store) -> None:
    pid = _project(store)
    for i in range(5):
        store.cache_put(pid, f"k{i}", bytes([i]), keep=3)
    assert store.cache_get("k4") == bytes([4])
    kept = [k for k in (f"k{i}" for i in range(5)) if store.cache_get(k) is not None]
    assert len(kept) == 3
    store.cache_put(pid, "k4", b"again", keep=3)  # a racing writer of the same key is harmless
    assert store.cache_get("k4") == bytes([4])


def test_session_versioning(store: Store) -> None:
    pid = _project(store)
    sess = store.create_session(
        NewSession(
            project_id=pid,
            mixer="m",
            config={},
            seed=1,
            status="active",
            total_steps=10,
            state={"x": 1},
            directive={"until_step": 0},
            start=None,
        )
    )
    assert store.advance_session(
        sess, step=0, losses={"a": 1.0}, state={"x": 2}, directive={"until_step": 5}, status="active"
    )
    # The same stale version cannot apply a second time.
    assert not store.advance_session(
        sess, step=5, losses={"a": 1.0}, state={"x": 3}, directive={"until_step": 9}, status="active"
    )
    assert store.get_session(sess.id).state == {"x": 2}
    assert [e.step for e in store.session_events(sess.id)] == [-1, 0]


def test_reads_do_not_wait_for_an_open_write_transaction(store: Store) -> None:
    """A reader sees the last committed state while a writer holds its transaction open (SQLite: WAL snapshot,
    deferred BEGIN; PostgreSQL: MVCC); with a locking BEGIN the read would wait for the writer's commit."""
    store.create_project(NewProject(name="seen", domains=[{"name": "a"}], objective={"metric": "loss"}))
    writing, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.tx() as s:
            s.add(ProjectRow(name="unseen", domains=[{"name": "a"}], objective={"metric": "loss"}))
            s.flush()
            writing.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            names = pool.submit(lambda: [p.name for p in store.list_projects(10, None).items])
            # the writer is still open: a read that waited for its lock would not be done by now
            assert names.result(timeout=10) == ["seen"]
    finally:
        release.set()
        thread.join()
    assert [p.name for p in store.list_projects(10, None).items] == ["seen", "unseen"]


def test_concurrent_embedding_writes_to_one_set_never_collide(store: Store) -> None:
    """160 concurrent PUTs of one set all succeed on PostgreSQL: the write is an upsert, never a unique violation."""
    pid = _project(store)
    arrays = [np.full((3, 2), float(i % 4), dtype=np.float32) for i in range(160)]
    barrier = threading.Barrier(8)

    def put(i: int) -> str:
        if i < 8:
            barrier.wait()  # the first eight start together
        return store.put_embedding(pid, "a" if i % 2 else "target", arrays[i])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(put, range(160)))
    assert len(set(digests)) == 4
    index = store.embedding_index(pid)
    assert set(index) == {"a", "target"}
    # only the arrays the two sets point at are kept
    assert store.blob_digests() == {h for h, _shape in index.values()}


def test_purge_and_overwrite_collect_arrays_no_set_uses(store: Store) -> None:
    """A purge removes the project's arrays; arrays shared with another project stay while it uses them."""
    p1, p2 = _project(store, "p1"), _project(store, "p2")
    shared = np.ones((2, 2), dtype=np.float32)
    own = np.zeros((2, 2), dtype=np.float32)
    h_shared = store.put_embedding(p1, "a", shared)
    h_own = store.put_embedding(p1, "target", own)
    store.put_embedding(p2, "a", shared)
    h_old = store.put_embedding(p2, "target", 2 * shared)
    h_new = store.put_embedding(p2, "target", 3 * shared)  # the replaced array is no longer kept
    assert store.blob_digests() == {h_shared, h_own, h_new} and h_old not in store.blob_digests()
    store.delete_project("p1")
    assert store.blob_digests() == {h_shared, h_new}
    store.delete_project("p2")
    assert store.blob_digests() == set()
