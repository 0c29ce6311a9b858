"""What every part of the store shares: the engine, its two kinds of transaction, page tokens and the writes
several aggregates make (the data version, array collection)."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.db import READ_ONLY
from store.errors import FieldError, InvalidInput
from store.models import BlobRow, EmbeddingSetRow, ProjectRow
from store.records import MAX_ID

CHUNK = 500
"""Rows per ``IN (...)`` lookup: well under SQLite's and PostgreSQL's parameter limits."""


def rowcount(result: Any) -> int:
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
        raise InvalidInput(
            "page_token is not a token this server issued",
            code="invalid_page_token",
            errors=[FieldError("page_token", "malformed page token")],
        ) from exc


class StoreBase:
    """The engine and its transactions. Thread-safe: each call opens its own session from the pool."""

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

    def _insert(self, table: Any) -> Any:
        """``INSERT`` with ``ON CONFLICT`` support for this engine's dialect."""
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    @staticmethod
    def _bump(s: Session, project_id: int) -> None:
        """Invalidate the project's cached fits: its data version is part of every fit-cache key."""
        s.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(data_version=ProjectRow.data_version + 1)
        )

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
