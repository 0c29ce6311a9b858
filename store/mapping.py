"""Rows to records: the one place where an ORM row (``store.models``) becomes a frozen record (``store.records``).

Records and write models map field by field on their field names, so a new run column needs no change here.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from store.models import DomainVersionRow, ProjectRow, ProposalRow, RunRow, SessionEventRow, SessionRow, TokenRow
from store.records import (
    UNCHANGED,
    DomainVersionRecord,
    NewRun,
    ProjectChanges,
    ProjectRecord,
    ProposalRecord,
    RunRecord,
    SessionEventRecord,
    SessionRecord,
    TokenRecord,
    as_utc,
)

R = TypeVar("R")


def _plain(value: Any) -> Any:
    """A column value as a record holds it: timestamps in UTC, JSON documents copied (records never share them
    with a row)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def record_of(cls: type[R], source: Any, **given: Any) -> R:
    """A ``cls`` record whose fields are ``given`` or, for the rest, the attributes of ``source`` of the same
    names (a row, or another record)."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return cls(**{n: given[n] if n in given else _plain(getattr(source, n)) for n in names})


def project_record(row: ProjectRow) -> ProjectRecord:
    return record_of(
        ProjectRecord,
        row,
        description=row.description or "",
        target_fidelity=dict(row.target_fidelity) if row.target_fidelity else None,
        allow_missing_domains=bool(row.allow_missing_domains),
        data_version=row.data_version or 0,
        fidelities=[dict(f) for f in row.fidelities] if row.fidelities else None,
        families=[dict(f) for f in row.families] if row.families else [],
        domain_version=row.domain_version or 1,
    )


def domain_version_record(row: DomainVersionRow) -> DomainVersionRecord:
    return record_of(DomainVersionRecord, row, note=row.note or "")


def run_record(row: RunRow, **given: Any) -> RunRecord:
    """The run of ``row``; ``given`` overrides columns computed at read (the status of a lapsed lease)."""
    given = {"domain_version": row.domain_version or 1, **given}  # NULL: a run from before versions (1)
    return record_of(RunRecord, row, **{name: _plain(value) for name, value in given.items()})


def proposal_record(row: ProposalRow) -> ProposalRecord:
    return record_of(ProposalRecord, row)


def session_record(row: SessionRow) -> SessionRecord:
    return record_of(SessionRecord, row)


def session_event_record(row: SessionEventRow) -> SessionEventRecord:
    return record_of(SessionEventRecord, row, losses=dict(row.losses) if row.losses else None)


def token_record(row: TokenRow, project_names: dict[int, str]) -> TokenRecord:
    return record_of(
        TokenRecord,
        row,
        prefix=row.prefix or "",
        project=None if row.project_id is None else project_names.get(row.project_id),
    )


def row_values(new: Any) -> dict[str, Any]:
    """The column values of a write model (``NewRun``, ``NewProject``, ...): its fields by name."""
    return {f.name: getattr(new, f.name) for f in fields(new)}


def change_values(changes: ProjectChanges) -> dict[str, Any]:
    """The columns an update sets: the fields not left ``UNCHANGED``."""
    return {name: value for name, value in row_values(changes).items() if value is not UNCHANGED}


def inserted_run_record(new: NewRun, **server_set: Any) -> RunRecord:
    """The record of a run just inserted from ``new``: its fields as sent, the rest as the database set them."""
    return record_of(RunRecord, new, **{k: as_utc(v) if isinstance(v, datetime) else v for k, v in server_set.items()})
