"""Schema use cases: opening the store on a database at the right revision, readiness, and upgrading it
(Alembic, through ``store.db``)."""

from __future__ import annotations

from dataclasses import dataclass

from store import db
from store.errors import Unavailable
from store.repository import Store

UPGRADE_COMMAND = "mixopt db upgrade"


class SchemaBehindError(RuntimeError):
    """The database schema is older than this code: ``mixopt db upgrade`` fixes it."""


@dataclass(frozen=True)
class Readiness:
    status: str
    database: str
    schema_revision: str | None


def head_revision() -> str:
    """The schema revision this code needs."""
    return db.head_revision() or ""


def open_store(url: str, *, create_if_fresh: bool = True) -> Store:
    """Connect and check the schema: a fresh database is created at head; one behind head is refused."""
    engine = db.make_engine(url)
    if create_if_fresh and db.is_fresh(engine):
        db.upgrade(url)
    state = db.schema_state(engine)
    if not state.at_head:
        engine.dispose()
        raise SchemaBehindError(
            f"the database schema is at revision {state.current or 'none'} but this mixopt needs {state.head}; "
            f"run `{UPGRADE_COMMAND}` (with the same MIXOPT_DATABASE_URL / MIXOPT_DATA_DIR) and start again"
        )
    return Store(engine)


def readiness(store: Store) -> Readiness:
    """The database answers and its schema is at head; raises ``Unavailable`` (a 503) otherwise."""
    try:
        store.ping()
        state = db.schema_state(store.engine)
    except Exception as exc:  # any driver error means "not ready"
        raise Unavailable(f"database unreachable: {type(exc).__name__}", code="database_unreachable") from exc
    if not state.at_head:
        raise Unavailable(
            f"schema at {state.current}, code needs {state.head}: run `{UPGRADE_COMMAND}`", code="schema_behind"
        )
    return Readiness("ready", store.engine.dialect.name, state.current)


def upgrade(url: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the database's revision after."""
    db.upgrade(url, revision)
    engine = db.make_engine(url)
    try:
        return db.current_revision(engine)
    finally:
        engine.dispose()


def revisions(url: str) -> tuple[str | None, str | None]:
    """``(database's revision, code's head)``."""
    engine = db.make_engine(url)
    try:
        state = db.schema_state(engine)
    finally:
        engine.dispose()
    return state.current, state.head
