"""Online sessions: their rows (state, directive, optimistic version) and their event history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.base import StoreBase, rowcount
from store.clock import utcnow
from store.errors import NotFound
from store.mapping import project_record, row_values, session_event_record, session_record
from store.models import ProjectRow, SessionEventRow, SessionRow
from store.records import NewSession, ProjectRecord, SessionEventRecord, SessionRecord


def session_not_found(session_id: int) -> NotFound:
    """What a missing session answers (the same for one of a project the caller may not see)."""
    return NotFound(f"session {session_id} does not exist", code="session_not_found")


def archived_session_project(name: str) -> NotFound:
    """What a session of an archived project answers until the project is restored."""
    return NotFound(f"the session's project {name!r} is archived", code="project_not_found")


class SessionStore(StoreBase):
    def create_session(self, new: NewSession) -> SessionRecord:
        """Store the session and its first directive (the event at step -1)."""
        with self.tx() as s:
            row = SessionRow(**row_values(new), step=0)
            s.add(row)
            s.flush()
            s.add(SessionEventRow(session_id=row.id, step=-1, losses=None, directive=new.directive))
            s.flush()
            s.refresh(row)
            return session_record(row)

    def get_session(self, session_id: int) -> SessionRecord:
        with self.read() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise session_not_found(session_id)
            return session_record(row)

    def session_with_project(self, session_id: int) -> tuple[SessionRecord, ProjectRecord]:
        """The session and its live project, in one transaction (a session of an archived project is 404)."""
        with self.read() as s:
            row, project = _live_session(s, session_id)
            return session_record(row), project_record(project)

    def session_for_report(
        self, session_id: int, step: int
    ) -> tuple[SessionRecord, ProjectRecord, SessionEventRecord | None]:
        """The session, its project and the event already stored at ``step`` (if any), in one transaction."""
        with self.read() as s:
            row, project = _live_session(s, session_id)
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
                n = rowcount(
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


def _live_session(s: Session, session_id: int) -> tuple[SessionRow, ProjectRow]:
    """The session's row and its project's, or the 404 a missing session or an archived project's session gets."""
    row = s.get(SessionRow, session_id)
    if row is None:
        raise session_not_found(session_id)
    project = s.get(ProjectRow, row.project_id)
    assert project is not None  # the foreign key cascades deletes
    if project.archived_at is not None:
        raise archived_session_project(project.name)
    return row, project
