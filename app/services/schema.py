"""Schema use cases: is the database ready, and upgrading it (Alembic, through ``store.db``)."""

from __future__ import annotations

from typing import Any

from store import db
from store.errors import Unavailable
from store.repository import Store


def head_revision() -> str:
    """The schema revision this code needs."""
    return db.head_revision() or ""


def readiness(store: Store) -> dict[str, Any]:
    """The database answers and its schema is at head; raises ``Unavailable`` (a 503) otherwise."""
    try:
        store.ping()
        current = db.current_revision(store.engine)
    except Exception as exc:  # any driver error means "not ready"
        raise Unavailable(f"database unreachable: {type(exc).__name__}", code="database_unreachable") from exc
    head = db.head_revision()
    if current != head:
        raise Unavailable(f"schema at {current}, code needs {head}: run `mixopt db upgrade`", code="schema_behind")
    return {"status": "ready", "database": store.engine.dialect.name, "schema_revision": current}


def upgrade(url: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the database's revision after."""
    db.upgrade(url, revision)
    return db.current_revision(db.make_engine(url))


def revisions(url: str) -> tuple[str | None, str | None]:
    """``(database's revision, code's head)``."""
    return db.current_revision(db.make_engine(url)), db.head_revision()
