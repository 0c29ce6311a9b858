"""The store: every query of mixopt lives here, one transaction per method.

Over 650 lines on purpose: one ``Store`` class is the whole persistence interface, and its write-lock and
transaction rules are easiest to check in one place (the project summary query lives in ``store.summary``).

Same SQLAlchemy code for SQLite and PostgreSQL. Methods take and return plain values and frozen records
(``store.records``); callers never see a session or a row.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
from sqlalchemy import Engine, String, Table, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.clock import utcnow
from store.db import READ_ONLY
from store.errors import Conflict, FieldError, NotFound
from store.mapping import (
    project_record,
    proposal_record,
    run_record,
    session_event_record,
    session_record,
    token_record,
)
from store.models import (
    BlobRow,
    EmbeddingSetRow,
    FitCacheRow,
    ProjectRow,
    ProposalRow,
    RunRow,
    SessionEventRow,
    SessionRow,
    TokenRow,
)
from store.records import (
    FINISHED_STATUSES,
    MAX_ID,
    OPEN_STATUSES,
    Page,
    ProjectRecord,
    ProposalRecord,
    RunRecord,
    SessionEventRecord,
    SessionRecord,
    TokenRecord,
    as_utc,
)

_CHUNK = 500  # rows per IN (...) lookup; well under SQLite's and PostgreSQL's parameter limits


def _rowcount(result: Any) -> int:
    """Rows an UPDATE touched (``Session.execute`` is typed as ``Result``; UPDATEs give a ``CursorResult``)."""
    return int(result.rowcount or 0)


def encode_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> int:
    """The id after which the page starts; a malformed token is an input error on ``page_token``."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "id":
            raise ValueError(kind)
        last = int(value)
        if not 0 <= last <= MAX_ID:  # never issued, and past the id columns' range (a driver overflow)
            raise ValueError(value)
        return last
    except (ValueError, UnicodeDecodeError) as exc:
        from store.errors import InvalidInput

        raise InvalidInput(
            "page_token is not a token this server issued",
            code="invalid_page_token",
            errors=[FieldError("page_token", "malformed page token")],
        ) from exc


class Store:
    """All persistence. Thread-safe: each call opens its own session from the pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @contextlib.contextmanager
    def tx(self) -> Iterator[Session]:
        """A read-write transaction (on SQLite it takes the write lock up front)."""
        with self._sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not wait for, or block, writers (WAL snapshot)."""
        with self._read_sessions.begin() as session:
            yield session

    # -- projects ---------------------------------------------------------------------------------

    def create_project(self, values: dict[str, Any]) -> ProjectRecord:
        try:
            with self.tx() as s:
                row = ProjectRow(**values)
                s.add(row)
                s.flush()
                s.refresh(row)
                return project_record(row)
        except IntegrityError as exc:
            detail = f"project {values['name']!r} already exists"
            with contextlib.suppress(NotFound):
                self._archived(values["name"])
                detail += " (archived: restore it, or purge it to reuse the name)"
            raise Conflict(detail, code="project_exists") from exc

    def list_projects(self, max_results: int, page_token: str | None, include_archived: bool = False) -> Page:
        after = decode_page_token(page_token)
        with self.read() as s:
            stmt = select(ProjectRow).where(ProjectRow.id > after)
            if not include_archived:
                stmt = stmt.where(ProjectRow.archived_at.is_(None))
            rows = s.scalars(stmt.order_by(ProjectRow.id).limit(max_results + 1)).all()
            items = [project_record(r) for r in rows[:max_results]]
        nxt = encode_page_token(items[-1].id) if len(rows) > max_results else None
        return Page(items, nxt)

    def _project_row(self, s: Session, name: str, lock: bool = False, archived: bool | None = False) -> ProjectRow:
        """The project named ``name``; ``archived``: False only a live one, True only an archived one, None either."""
        stmt = select(ProjectRow).where(ProjectRow.name == name)
        if lock:
            stmt = stmt.with_for_update()
        row = s.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(f"project {name!r} does not exist", code="project_not_found")
        if archived is False and row.archived_at is not None:
            raise NotFound(
                f"project {name!r} is archived; POST /api/v1/projects/{name}/restore (or `mixopt project restore`) "
                "brings it back",
                code="project_not_found",  # the contract's code for a project that is not there to use
            )
        if archived is True and row.archived_at is None:
            raise NotFound(f"project {name!r} is not archived", code="project_not_archived")
        return row

    def _archived(self, name: str) -> ProjectRecord:
        with self.read() as s:
            return project_record(self._project_row(s, name, archived=True))

    def get_project(self, name: str) -> ProjectRecord:
        with self.read() as s:
            return project_record(self._project_row(s, name))

    def get_project_by_id(self, project_id: int) -> ProjectRecord:
        with self.read() as s:
            row = s.get(ProjectRow, project_id)
            if row is None:
                raise NotFound(f"project {project_id} does not exist", code="project_not_found")
            return project_record(row)

    def update_project(self, name: str, changes: dict[str, Any]) -> ProjectRecord:
        with self.tx() as s:
            row = self._project_row(s, name, lock=True)
            for key, value in changes.items():
                setattr(row, key, value)
            # Constraints and objective feed every fit: invalidate cached fits.
            row.data_version = (row.data_version or 0) + 1
            s.flush()
            s.refresh(row)
            return project_record(row)

    def delete_project(self, name: str) -> None:
        """Remove the project (live or archived) and everything in it, for good (its arrays too)."""
        with self.tx() as s:
            row = self._project_row(s, name, lock=True, archived=None)
            digests = set(
                s.scalars(select(EmbeddingSetRow.sha256).where(EmbeddingSetRow.project_id == row.id)).all()
            )
            s.delete(row)
        self._collect_blobs(digests)

    def archive_project(self, name: str) -> ProjectRecord:
        """Hide a live project (its runs, sessions and tokens stay) until ``restore_project``."""
        with self.tx() as s:
            row = self._project_row(s, name, lock=True)
            row.archived_at = utcnow()
            s.flush()
            s.refresh(row)
            return project_record(row)

    def restore_project(self, name: str) -> ProjectRecord:
        with self.tx() as s:
            row = self._project_row(s, name, lock=True, archived=True)
            row.archived_at = None
            s.flush()
            s.refresh(row)
            return project_record(row)

    def _bump(self, s: Session, project_id: int) -> None:
        s.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(data_version=ProjectRow.data_version + 1)
        )

    # -- runs -------------------------------------------------------------------------------------

    def ingest_runs(
        self, project_id: int, runs: Sequence[dict[str, Any]], lease_seconds: float, proposal_id: int | None = None
    ) -> list[RunRecord]:
        """Insert ``runs`` (validated column dicts with ``content_hash``) all or nothing.

        A run whose ``external_id`` exists with the same content is returned as stored; with other content
        the whole batch is rejected (409 naming ``runs[i]``).
        """
        with self.tx() as s:
            # Serialize writers of one project (row lock on PostgreSQL; SQLite already holds the write lock).
            s.execute(select(ProjectRow.id).where(ProjectRow.id == project_id).with_for_update())
            ext_ids = [r["external_id"] for r in runs if r.get("external_id") is not None]
            existing = {row.external_id or "": row for row in self._runs_by_external_id(s, project_id, ext_ids)}
            conflicts = [
                FieldError(f"runs[{i}].external_id", f"run {r['external_id']!r} exists with different content")
                for i, r in enumerate(runs)
                if r.get("external_id") in existing and existing[r["external_id"]].content_hash != r["content_hash"]
            ]
            if conflicts:
                raise Conflict(
                    f"{len(conflicts)} run(s) re-use an external_id with different content; nothing was written",
                    code="external_id_conflict",
                    errors=conflicts,
                )
            fresh = [r for r in runs if r.get("external_id") not in existing]
            inserted = self._insert_runs(s, project_id, fresh, lease_seconds, proposal_id)
            if fresh:
                self._bump(s, project_id)
            out: list[RunRecord] = []
            it = iter(inserted)
            for r in runs:
                ext = r.get("external_id")
                out.append(run_record(existing[ext]) if ext in existing else next(it))
            return out

    def _insert_runs(
        self,
        s: Session,
        project_id: int,
        rows: Sequence[dict[str, Any]],
        lease_seconds: float,
        proposal_id: int | None,
    ) -> list[RunRecord]:
        """Insert with the driver's executemany, then set open runs' leases from the database clock.

        Server-set columns are read back in one query: the caller holds the project's write lock, so this
        project's rows with ids above the previous maximum are exactly the ones inserted here, in input order
        (executemany inserts row by row). Multi-row INSERT ... RETURNING was measured 4x slower on psycopg,
        which re-parses a 15,000-placeholder statement per page.
        """
        if not rows:
            return []
        before = s.scalar(select(func.max(RunRow.id)).where(RunRow.project_id == project_id)) or 0
        s.execute(
            insert(cast(Table, RunRow.__table__)),
            [{**r, "project_id": project_id, "proposal_id": proposal_id} for r in rows],
        )
        ids = list(
            s.scalars(select(RunRow.id).where(RunRow.project_id == project_id, RunRow.id > before).order_by(RunRow.id))
        )
        open_ids = [rid for rid, r in zip(ids, rows, strict=True) if r["status"] in OPEN_STATUSES]
        for start in range(0, len(open_ids), _CHUNK):
            s.execute(
                update(RunRow)
                .where(RunRow.id.in_(open_ids[start : start + _CHUNK]))
                .values(lease_expires_at=utcnow(lease_seconds))
            )
        server_cols = s.execute(
            select(RunRow.id, RunRow.created_at, RunRow.updated_at, RunRow.lease_expires_at)
            .where(RunRow.project_id == project_id, RunRow.id > before)
            .order_by(RunRow.id)
        ).all()
        return [
            RunRecord(
                id=rid,
                project_id=project_id,
                external_id=r["external_id"],
                weights=r["weights"],
                weights_sum=r["weights_sum"],
                fidelity=r["fidelity"],
                cost=r["cost"],
                status=r["status"],
                metrics=r["metrics"],
                trajectory=r["trajectory"],
                tags=r["tags"],
                proposal_id=proposal_id,
                lease_expires_at=as_utc(lease),
                created_at=as_utc(created),
                updated_at=as_utc(updated),
            )
            for r, (rid, created, updated, lease) in zip(rows, server_cols, strict=True)
        ]

    def _runs_by_external_id(self, s: Session, project_id: int, ext_ids: list[str]) -> list[RunRow]:
        """Rows of the project with these external ids.

        PostgreSQL gets one ``= ANY(array)`` parameter: with long ``IN (...)`` lists its planner falls back to
        a sequential scan per chunk before the table has statistics (measured 250 ms per 500 ids at 20,000
        rows, against 18 ms for 10,000 ids as one array). SQLite takes ``IN`` in chunks under its parameter cap.
        """
        if not ext_ids:
            return []
        if self.engine.dialect.name == "postgresql":
            ids = bindparam("ids", ext_ids, type_=ARRAY(String))
            stmt = select(RunRow).where(RunRow.project_id == project_id, RunRow.external_id == any_(ids))
            return list(s.scalars(stmt))
        return [
            row
            for start in range(0, len(ext_ids), _CHUNK)
            for row in s.scalars(
                select(RunRow).where(
                    RunRow.project_id == project_id, RunRow.external_id.in_(ext_ids[start : start + _CHUNK])
                )
            )
        ]

    def list_runs(
        self,
        project_id: int,
        *,
        status: str | None = None,
        fidelity_key: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> Page:
        after = decode_page_token(page_token)
        with self.read() as s:
            stmt = select(RunRow).where(RunRow.project_id == project_id, RunRow.id > after)
            if status:
                stmt = stmt.where(RunRow.status == status)
            if fidelity_key is not None:
                stmt = stmt.where(RunRow.fidelity_key == fidelity_key)
            rows = s.scalars(stmt.order_by(RunRow.id).limit(max_results + 1)).all()
            items = [run_record(r) for r in rows[:max_results]]
        nxt = encode_page_token(items[-1].id) if len(rows) > max_results else None
        return Page(items, nxt)

    def all_runs(self, project_id: int, statuses: Sequence[str] | None = None) -> list[RunRecord]:
        with self.read() as s:
            stmt = select(RunRow).where(RunRow.project_id == project_id)
            if statuses:
                stmt = stmt.where(RunRow.status.in_(list(statuses)))
            return [run_record(r) for r in s.scalars(stmt.order_by(RunRow.id))]

    def run_ids_in(self, project_id: int, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are runs of the project."""
        found: set[int] = set()
        wanted = [i for i in ids if 0 < i <= MAX_ID]
        with self.read() as s:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                found.update(
                    s.scalars(select(RunRow.id).where(RunRow.project_id == project_id, RunRow.id.in_(chunk))).all()
                )
        return found

    def anonymous_content_hashes(self, project_id: int) -> list[str]:
        """Content hashes of the project's runs that have no ``external_id`` (one per run)."""
        with self.read() as s:
            return list(
                s.scalars(
                    select(RunRow.content_hash).where(RunRow.project_id == project_id, RunRow.external_id.is_(None))
                ).all()
            )

    def count_runs(self, project_id: int | None = None) -> int:
        with self.read() as s:
            stmt = select(func.count()).select_from(RunRow)
            if project_id is not None:
                stmt = stmt.where(RunRow.project_id == project_id)
            return int(s.scalar(stmt) or 0)

    def _run_row(self, s: Session, project_id: int, run_id: int, lock: bool = False) -> RunRow:
        stmt = select(RunRow).where(RunRow.project_id == project_id, RunRow.id == run_id)
        if lock:
            stmt = stmt.with_for_update()
        row = s.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(f"run {run_id} does not exist in this project", code="run_not_found")
        return row

    def delete_run(self, project_id: int, run_id: int) -> None:
        """Remove one run for good; the project's fits are invalidated."""
        with self.tx() as s:
            s.delete(self._run_row(s, project_id, run_id, lock=True))
            self._bump(s, project_id)

    def get_run(self, project_id: int, run_id: int) -> RunRecord:
        with self.read() as s:
            return run_record(self._run_row(s, project_id, run_id))

    def heartbeat(self, project_id: int, run_id: int, lease_seconds: float) -> RunRecord:
        """Renew the lease of an open run; 409 once the run is finished or abandoned."""
        with self.tx() as s:
            row = self._run_row(s, project_id, run_id, lock=True)
            if row.status not in OPEN_STATUSES:
                raise Conflict(f"run {run_id} is {row.status}; only open runs take heartbeats", code="run_not_open")
            s.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(OPEN_STATUSES))
                .values(lease_expires_at=utcnow(lease_seconds), status="running")
            )
            s.flush()
            s.refresh(row)
            return run_record(row)

    def complete_run(
        self,
        project_id: int,
        run_id: int,
        *,
        status: str,
        metrics: dict[str, float],
        trajectory: list[dict[str, Any]] | None,
        result_hash: str,
        cost: float | None = None,
    ) -> tuple[RunRecord, bool]:
        """Attach a result to an open (or abandoned) run exactly once (``cost``: set when given).

        Returns ``(run, changed)``; the same result again is a no-op, a different one is a 409. The
        conditional UPDATE makes racing writers safe: exactly one sees a row count of 1.
        """
        with self.tx() as s:
            row = self._run_row(s, project_id, run_id)
            if row.result_hash is not None or row.status in FINISHED_STATUSES:
                if row.result_hash == result_hash:
                    return run_record(row), False
                raise Conflict(f"run {run_id} already has a different result", code="result_conflict")
            changed = _rowcount(
                s.execute(
                    update(RunRow)
                    .where(
                        RunRow.id == run_id, RunRow.result_hash.is_(None), RunRow.status.not_in(FINISHED_STATUSES)
                    )
                    .values(
                        status=status,
                        metrics=metrics,
                        trajectory=trajectory,
                        result_hash=result_hash,
                        lease_expires_at=None,
                        updated_at=utcnow(),
                        **({} if cost is None else {"cost": cost}),
                    )
                )
            )
            if changed != 1:
                raise Conflict(f"run {run_id} already has a different result", code="result_conflict")
            self._bump(s, project_id)
            s.expire(row)
            return run_record(self._run_row(s, project_id, run_id)), True

    def expire_leases(self, project_id: int | None = None) -> int:
        """Turn open runs whose lease ran out (database clock) into ``abandoned``; returns how many."""
        with self.tx() as s:
            stmt = update(RunRow).where(
                RunRow.status.in_(OPEN_STATUSES),
                RunRow.lease_expires_at.is_not(None),
                RunRow.lease_expires_at < utcnow(),
            )
            if project_id is not None:
                stmt = stmt.where(RunRow.project_id == project_id)
            n = _rowcount(s.execute(stmt.values(status="abandoned", updated_at=utcnow())))
            if n and project_id is not None:
                self._bump(s, project_id)
            return int(n or 0)

    # -- proposals --------------------------------------------------------------------------------

    def create_proposal(
        self,
        project_id: int,
        *,
        mixer: str,
        config: dict[str, Any],
        seed: int | None,
        runs: Sequence[dict[str, Any]],
        lease_seconds: float,
        dedupe: Callable[[list[tuple[dict[str, float], str]]], Sequence[dict[str, Any]]] | None = None,
    ) -> tuple[ProposalRecord, list[RunRecord]]:
        """Create a proposal and its pending runs.

        ``dedupe`` sees the ``(weights, fidelity_key)`` of the project's completed and open runs under the project's
        write lock and returns the rows still worth creating, so concurrent proposals never create the same pending
        mixture twice. (Two columns, not whole runs: on thousands of runs the records cost more than the rest.)
        """
        with self.tx() as s:
            s.execute(select(ProjectRow.id).where(ProjectRow.id == project_id).with_for_update())
            if dedupe is not None:
                known = s.execute(
                    select(RunRow.weights, RunRow.fidelity_key).where(
                        RunRow.project_id == project_id, RunRow.status.in_(["completed", *OPEN_STATUSES])
                    )
                ).all()
                runs = dedupe([(weights, key) for weights, key in known])
            prop = ProposalRow(project_id=project_id, mixer=mixer, config=config, seed=seed)
            s.add(prop)
            s.flush()
            s.refresh(prop)
            # the bulk-ingest path: executemany, leases from the database clock, server columns in one query
            created = self._insert_runs(s, project_id, list(runs), lease_seconds, prop.id)
            self._bump(s, project_id)
            return proposal_record(prop), created

    # -- fit cache --------------------------------------------------------------------------------

    def cache_get(self, key: str) -> bytes | None:
        with self.read() as s:
            return s.scalar(select(FitCacheRow.data).where(FitCacheRow.key == key))

    def cache_put(self, project_id: int, key: str, data: bytes, keep: int = 32) -> None:
        """Store ``data`` under ``key``; keeps only the newest ``keep`` entries of the project."""
        try:
            with self.tx() as s:
                s.add(FitCacheRow(key=key, project_id=project_id, data=data))
                s.flush()
                old = s.scalars(
                    select(FitCacheRow.key)
                    .where(FitCacheRow.project_id == project_id)
                    .order_by(FitCacheRow.created_at.desc(), FitCacheRow.key)
                    .offset(keep)
                ).all()
                if old:
                    s.execute(delete(FitCacheRow).where(FitCacheRow.key.in_(old)))
        except IntegrityError:
            pass  # another process cached the same key first: same content by construction

    # -- sessions ---------------------------------------------------------------------------------

    def create_session(self, values: dict[str, Any], first_directive: dict[str, Any]) -> SessionRecord:
        with self.tx() as s:
            row = SessionRow(**values)
            s.add(row)
            s.flush()
            s.add(SessionEventRow(session_id=row.id, step=-1, losses=None, directive=first_directive))
            s.flush()
            s.refresh(row)
            return session_record(row)

    def get_session(self, session_id: int) -> SessionRecord:
        with self.read() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise NotFound(f"session {session_id} does not exist", code="session_not_found")
            return session_record(row)

    def session_for_report(
        self, session_id: int, step: int
    ) -> tuple[SessionRecord, ProjectRecord, SessionEventRecord | None]:
        """The session, its project and the event already stored at ``step`` (if any), in one transaction."""
        with self.read() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise NotFound(f"session {session_id} does not exist", code="session_not_found")
            project = s.get(ProjectRow, row.project_id)
            assert project is not None  # the foreign key cascades deletes
            if project.archived_at is not None:
                raise NotFound(f"the session's project {project.name!r} is archived", code="project_not_found")
            event = s.scalars(
                select(SessionEventRow).where(SessionEventRow.session_id == session_id, SessionEventRow.step == step)
            ).one_or_none()
            return (
                session_record(row),
                project_record(project),
                session_event_record(event) if event else None,
            )

    def session_event(self, session_id: int, step: int) -> SessionEventRecord | None:
        with self.read() as s:
            row = s.scalars(
                select(SessionEventRow).where(SessionEventRow.session_id == session_id, SessionEventRow.step == step)
            ).one_or_none()
            return session_event_record(row) if row else None

    def session_events(self, session_id: int) -> list[SessionEventRecord]:
        with self.read() as s:
            rows = s.scalars(
                select(SessionEventRow).where(SessionEventRow.session_id == session_id).order_by(SessionEventRow.step)
            )
            return [session_event_record(r) for r in rows]

    def advance_session(
        self,
        session: SessionRecord,
        *,
        step: int,
        losses: dict[str, float],
        state: dict[str, Any],
        directive: dict[str, Any],
        status: str,
    ) -> bool:
        """Apply one report if nobody else did first (optimistic: the row's version must be unchanged)."""
        try:
            with self.tx() as s:
                n = _rowcount(
                    s.execute(
                        update(SessionRow)
                        .where(SessionRow.id == session.id, SessionRow.version == session.version)
                        .values(
                            state=state,
                            directive=directive,
                            status=status,
                            step=step,
                            version=session.version + 1,
                            updated_at=utcnow(),
                        )
                    )
                )
                if n != 1:
                    return False
                s.add(SessionEventRow(session_id=session.id, step=step, losses=losses, directive=directive))
            return True
        except IntegrityError:
            return False

    def list_sessions(self, project_id: int) -> list[SessionRecord]:
        with self.read() as s:
            rows = s.scalars(select(SessionRow).where(SessionRow.project_id == project_id).order_by(SessionRow.id))
            return [session_record(r) for r in rows]

    # -- embeddings -------------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        """``INSERT`` with ``ON CONFLICT`` support for this engine's dialect."""
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    def put_embedding(self, project_id: int, name: str, array: np.ndarray) -> str:
        """Store ``array`` once by content hash and point the project's set ``name`` at it.

        Upserts, so concurrent writes of the same set (or the same array) never collide; an array no set points
        at any more is removed.
        """
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        for attempt in range(3):
            try:
                old = self._put_embedding(project_id, name, array, data, digest)
                break
            except IntegrityError:
                # Another writer removed the array between our upsert and our set (it had just stopped using it).
                if attempt == 2:
                    raise
        if old is not None and old != digest:
            self._collect_blobs({old})
        return digest

    def _put_embedding(
        self, project_id: int, name: str, array: np.ndarray, data: bytes, digest: str
    ) -> str | None:
        """One write of the set; returns the array it pointed at before (None for a new set)."""
        with self.tx() as s:
            self._bump(s, project_id)  # locks the project row first: one embedding write per project at a time
            blob = self._insert(BlobRow).values(
                sha256=digest, dtype=str(array.dtype), shape=list(array.shape), data=data
            )
            # DO UPDATE (not NOTHING) locks an existing array's row: a concurrent collection waits for this write.
            s.execute(blob.on_conflict_do_update(index_elements=["sha256"], set_={"sha256": blob.excluded.sha256}))
            old = s.scalars(
                select(EmbeddingSetRow.sha256).where(
                    EmbeddingSetRow.project_id == project_id, EmbeddingSetRow.name == name
                )
            ).one_or_none()
            stmt = self._insert(EmbeddingSetRow).values(project_id=project_id, name=name, sha256=digest)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["project_id", "name"], set_={"sha256": digest, "updated_at": utcnow()}
                )
            )
            return old

    def _collect_blobs(self, digests: set[str]) -> None:
        """Delete the arrays among ``digests`` that no embedding set points at (shared arrays stay).

        Its own transaction, holding no other lock, so it cannot deadlock with writers; a writer that has just
        pointed a set at one of them wins (the delete fails on the foreign key and the array stays).
        """
        if not digests:
            return
        used = select(EmbeddingSetRow.id).where(EmbeddingSetRow.sha256 == BlobRow.sha256).exists()
        with contextlib.suppress(IntegrityError), self.tx() as s:
            s.execute(delete(BlobRow).where(BlobRow.sha256.in_(sorted(digests)), ~used))

    def blob_digests(self) -> set[str]:
        """Content hashes of every stored array (for checks and tests)."""
        with self.read() as s:
            return set(s.scalars(select(BlobRow.sha256)).all())

    def embedding_index(self, project_id: int) -> dict[str, tuple[str, list[int]]]:
        """Set name -> (content hash, shape)."""
        with self.read() as s:
            rows = s.execute(
                select(EmbeddingSetRow.name, BlobRow.sha256, BlobRow.shape)
                .join(BlobRow, BlobRow.sha256 == EmbeddingSetRow.sha256)
                .where(EmbeddingSetRow.project_id == project_id)
            ).all()
            return {name: (digest, list(shape)) for name, digest, shape in rows}

    def load_embeddings(self, project_id: int) -> dict[str, np.ndarray]:
        with self.read() as s:
            rows = s.execute(
                select(EmbeddingSetRow.name, BlobRow.data)
                .join(BlobRow, BlobRow.sha256 == EmbeddingSetRow.sha256)
                .where(EmbeddingSetRow.project_id == project_id)
            ).all()
        return {name: np.load(io.BytesIO(data), allow_pickle=False) for name, data in rows}

    # -- tokens -----------------------------------------------------------------------------------

    def create_token(
        self, token_hash: str, name: str, project_id: int | None, prefix: str = "", expires_in: float | None = None
    ) -> TokenRecord:
        """Store a token's hash; it expires ``expires_in`` seconds from now on the database clock (None: never)."""
        with self.tx() as s:
            row = TokenRow(
                token_hash=token_hash,
                name=name,
                project_id=project_id,
                prefix=prefix,
                expires_at=None if expires_in is None else utcnow(expires_in),
            )
            s.add(row)
            s.flush()
            s.refresh(row)
            return token_record(row, self._project_names(s, [row.project_id]))

    def token_scope(self, token_hash: str) -> tuple[bool, int | None]:
        """``(found, project_id)`` of a live token (not revoked, not expired); ``project_id`` None is admin."""
        with self.read() as s:
            row = s.execute(
                select(TokenRow.project_id).where(
                    TokenRow.token_hash == token_hash,
                    TokenRow.revoked_at.is_(None),
                    (TokenRow.expires_at.is_(None)) | (TokenRow.expires_at > utcnow()),
                )
            ).one_or_none()
            return (False, None) if row is None else (True, row[0])

    def list_tokens(self) -> list[TokenRecord]:
        with self.read() as s:
            rows = s.scalars(select(TokenRow).order_by(TokenRow.id)).all()
            names = self._project_names(s, [r.project_id for r in rows])
            return [token_record(r, names) for r in rows]

    def revoke_token(self, token_id: int) -> TokenRecord:
        """Mark the token revoked (idempotent: a revoked token keeps its first revocation time)."""
        with self.tx() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"token {token_id} does not exist", code="token_not_found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                s.flush()
                s.refresh(row)
            return token_record(row, self._project_names(s, [row.project_id]))

    @staticmethod
    def _project_names(s: Session, ids: Sequence[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = s.execute(select(ProjectRow.id, ProjectRow.name).where(ProjectRow.id.in_(wanted))).all()
        return {pid: name for pid, name in rows}

    def ping(self) -> None:
        with self.read() as s:
            s.execute(select(1))
