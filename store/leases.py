"""Leases, read by time: an open run whose lease ran out (database clock) reads as ``abandoned``, its last change
at the lease's end, whether or not a sweep has written that yet. Reads compute it; sweeps (on write paths and by
the app's background task) write the same values, so a run reads the same before and after its sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, case, false, literal, or_, update

from store.clock import utcnow
from store.models import RunRow
from store.records import OPEN_STATUSES


def lapsed() -> ColumnElement[bool]:
    """The run is open and its lease has run out."""
    return and_(RunRow.status.in_(OPEN_STATUSES), RunRow.lease_expires_at < utcnow())


def stored_status_holds() -> ColumnElement[bool]:
    """The run's stored status holds at read: it is not open, or its lease (if any) has not run out."""
    return or_(
        RunRow.status.not_in(OPEN_STATUSES), RunRow.lease_expires_at.is_(None), RunRow.lease_expires_at >= utcnow()
    )


def status_at_read() -> ColumnElement[Any]:
    return case((lapsed(), literal("abandoned")), else_=RunRow.status)


def updated_at_read() -> ColumnElement[Any]:
    return case((lapsed(), RunRow.lease_expires_at), else_=RunRow.updated_at)


def status_in(statuses: Sequence[str]) -> ColumnElement[bool]:
    """The run's status at read is one of ``statuses`` (written so that the status index still serves)."""
    wanted = list(dict.fromkeys(statuses))
    terms = []
    stored_open = [s for s in wanted if s in OPEN_STATUSES]
    stored_other = [s for s in wanted if s not in OPEN_STATUSES]
    if stored_open:
        terms.append(and_(RunRow.status.in_(stored_open), stored_status_holds()))
    if stored_other:
        terms.append(RunRow.status.in_(stored_other))
    if "abandoned" in wanted:
        terms.append(lapsed())
    return or_(*terms) if terms else false()


def sweep() -> Update:
    """Write what reads compute: lapsed runs become ``abandoned``, changed when their lease ran out."""
    return (
        update(RunRow)
        .where(lapsed())
        .values(status="abandoned", updated_at=RunRow.lease_expires_at)
        .execution_options(synchronize_session=False)
    )
