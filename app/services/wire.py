"""Records as the API sends them (DESIGN.md section 5): the one definition of each shape on the wire, used by the
API's answers, the CSV and JSON Lines exports and the CLI's JSON output."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from store.records import RunRecord

RUN_PRIVATE = frozenset({"project_id"})
"""Fields of a run record that clients never see."""
RUN_FIELDS = tuple(f.name for f in fields(RunRecord) if f.name not in RUN_PRIVATE)
"""The fields of a run on the wire, in order."""


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the API's response models write timestamps."""
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def run_wire(r: RunRecord) -> dict[str, Any]:
    """The run as clients see it, in plain JSON types (timestamps as ISO strings)."""
    out: dict[str, Any] = {}
    for name in RUN_FIELDS:
        value = getattr(r, name)
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out
