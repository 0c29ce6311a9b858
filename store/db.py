"""Engines and schema management: SQLite (WAL, busy timeout) or PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from store.errors import MissingDriverError

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
READ_ONLY = "mixopt_read_only"
"""Execution option marking a connection whose transactions only read (SQLite: plain deferred BEGIN)."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and enforced foreign keys.

    JSON columns go through orjson (several times faster than the standard library on bulk ingest).
    """
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take it over so writers lock up front
            # (BEGIN IMMEDIATE below) instead of failing with "database is locked" on upgrade to write.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Readers see a WAL snapshot and neither wait for nor block the single writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    try:
        return create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:  # SQLAlchemy imports the driver here
        raise MissingDriverError(_missing_driver_message(parsed.drivername, exc.name or "")) from exc


def _missing_driver_message(drivername: str, module: str) -> str:
    if drivername.startswith("postgresql"):
        hint = "" if drivername == "postgresql+psycopg" else "; and write the URL as postgresql+psycopg://..."
        return (
            f"the PostgreSQL driver is missing (no module {module!r}): pip install 'psycopg[binary]' "
            f"(mixopt installs it by default; a bare environment may lack it){hint}"
        )
    return f"the database driver for {drivername!r} is missing (no module {module!r}): install it with pip"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """The database's schema revision against the one this code needs."""

    current: str | None
    head: str | None

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    return SchemaState(current_revision(engine), head_revision())


def upgrade(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` (``mixopt db upgrade``)."""
    command.upgrade(alembic_config(url), revision)


def is_fresh(engine: Engine) -> bool:
    """True when the database has no mixopt tables at all (first start: safe to create the schema)."""
    from sqlalchemy import inspect

    return not inspect(engine).has_table("projects") and current_revision(engine) is None
