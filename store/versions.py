"""Versions of a project's domain set: the list (oldest first), and one more version appended atomically with the
project's domains, its current version and its data version (the fit cache is keyed by it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.base import StoreBase
from store.errors import Conflict, NotFound
from store.mapping import domain_version_record, project_record
from store.models import DomainVersionRow, ProjectRow
from store.records import UNCHANGED, DomainVersionRecord, NewDomainVersion, ProjectRecord, Unchanged


def _version_one(row: ProjectRow) -> DomainVersionRow:
    """The version-1 row of a project that has none (made before versions): its domains as they are."""
    return DomainVersionRow(
        project_id=row.id, version=1, domains=row.domains, change=None, note="", created_at=row.created_at
    )


class VersionStore(StoreBase):
    def domain_versions(self, project_id: int) -> list[DomainVersionRecord]:
        """Every version of the project's domain set, oldest first (at least version 1)."""
        with self.read() as s:
            rows = list(
                s.scalars(
                    select(DomainVersionRow)
                    .where(DomainVersionRow.project_id == project_id)
                    .order_by(DomainVersionRow.version)
                )
            )
            if not rows:
                project = s.get(ProjectRow, project_id)
                if project is None:
                    raise NotFound(f"project {project_id} does not exist", code="project_not_found")
                rows = [_version_one(project)]
            return [domain_version_record(r) for r in rows]

    def add_domain_version(
        self,
        project_id: int,
        new: NewDomainVersion,
        families: list[dict[str, Any]] | Unchanged | None = UNCHANGED,
    ) -> ProjectRecord:
        """Append ``new`` (its version must follow the project's current one, else a 409: another change came
        first) and make its domains the project's, with ``families`` when given; bumps the data version."""
        with self.tx() as s:
            row = self._locked(s, project_id)
            current = row.domain_version or 1
            if new.version != current + 1:
                raise Conflict(
                    f"the domain set is at version {current}; this change was made against version {new.version - 1}",
                    code="domain_version_conflict",
                )
            if s.scalar(select(DomainVersionRow.id).where(DomainVersionRow.project_id == project_id).limit(1)) is None:
                s.add(_version_one(row))
            s.add(
                DomainVersionRow(
                    project_id=project_id, version=new.version, domains=new.domains, change=new.change, note=new.note
                )
            )
            row.domains = new.domains
            row.domain_version = new.version
            if families is not UNCHANGED:
                row.families = families
            row.data_version = (row.data_version or 0) + 1
            s.flush()
            s.refresh(row)
            return project_record(row)

    def restore_domain_versions(self, project_id: int, versions: Sequence[NewDomainVersion]) -> ProjectRecord:
        """Replace the project's versions by ``versions`` (oldest first, numbered 1, 2, ...; an import re-creating
        a project from its export): the last one's domains and number become the project's."""
        if not versions or [v.version for v in versions] != list(range(1, len(versions) + 1)):
            raise ValueError("versions must be numbered 1, 2, ... in order")
        with self.tx() as s:
            row = self._locked(s, project_id)
            s.execute(delete(DomainVersionRow).where(DomainVersionRow.project_id == project_id))
            s.add_all(
                DomainVersionRow(
                    project_id=project_id, version=v.version, domains=v.domains, change=v.change, note=v.note
                )
                for v in versions
            )
            row.domains = versions[-1].domains
            row.domain_version = versions[-1].version
            row.data_version = (row.data_version or 0) + 1
            s.flush()
            s.refresh(row)
            return project_record(row)

    @staticmethod
    def _locked(s: Session, project_id: int) -> ProjectRow:
        row = s.scalars(select(ProjectRow).where(ProjectRow.id == project_id).with_for_update()).one_or_none()
        if row is None:
            raise NotFound(f"project {project_id} does not exist", code="project_not_found")
        return row
