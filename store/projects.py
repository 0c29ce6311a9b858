"""Projects: create, read, page, update, archive, restore, purge."""

from __future__ import annotations

import contextlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.base import StoreBase, decode_page_token, encode_page_token
from store.clock import utcnow
from store.errors import Conflict, NotFound
from store.mapping import change_values, project_record, row_values
from store.models import DomainVersionRow, EmbeddingSetRow, ProjectRow
from store.records import NewProject, Page, ProjectChanges, ProjectRecord

NO_FIT_FIELDS = frozenset({"default_mixer"})
"""Project settings no fit reads: changing only these keeps the cached fits."""


def project_not_found(name: str) -> NotFound:
    """What a project that is not there to use answers (the same for one a caller may not see)."""
    return NotFound(f"project {name!r} does not exist", code="project_not_found")


class ProjectStore(StoreBase):
    def create_project(self, new: NewProject) -> ProjectRecord:
        try:
            with self.tx() as s:
                row = ProjectRow(**row_values(new), domain_version=1)
                s.add(row)
                s.flush()
                # version 1 of the domain set: the domains the project starts with
                s.add(DomainVersionRow(project_id=row.id, version=1, domains=new.domains, change=None, note=""))
                s.flush()
                s.refresh(row)
                return project_record(row)
        except IntegrityError as exc:
            detail = f"project {new.name!r} already exists"
            with contextlib.suppress(NotFound):
                self._archived(new.name)
                detail += " (archived: restore it, or purge it to reuse the name)"
            raise Conflict(detail, code="project_exists") from exc

    def list_projects(
        self, max_results: int, page_token: str | None, include_archived: bool = False
    ) -> Page[ProjectRecord]:
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
            raise project_not_found(name)
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

    def update_project(self, name: str, changes: ProjectChanges) -> ProjectRecord:
        with self.tx() as s:
            row = self._project_row(s, name, lock=True)
            values = change_values(changes)
            for key, value in values.items():
                setattr(row, key, value)
            # Constraints and objective feed every fit: invalidate cached fits (the default mixer feeds none).
            if set(values) - NO_FIT_FIELDS:
                row.data_version = (row.data_version or 0) + 1
            s.flush()
            s.refresh(row)
            return project_record(row)

    def delete_project(self, name: str) -> None:
        """Remove the project (live or archived) and everything in it, for good (its arrays too; its runs, domain
        versions and the rest go by the foreign keys' cascade)."""
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
