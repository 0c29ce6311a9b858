"""The store: every query of mixopt, one transaction per method, behind one ``Store``.

Each aggregate keeps its queries in its own module (projects, runs and proposals, sessions, embeddings, tokens,
the fit cache, the project summaries, the answers' history, the domain set's versions); ``Store`` joins them.
Same SQLAlchemy code for SQLite and PostgreSQL.
Methods take and return plain values and frozen records (``store.records``); callers never see a session or a row.
"""

from __future__ import annotations

from sqlalchemy import select

from store.cache import CacheStore
from store.embeddings import EmbeddingStore
from store.history import HistoryStore
from store.projects import ProjectStore
from store.runs import RunStore
from store.sessions import SessionStore
from store.summary import SummaryStore
from store.tokens import TokenStore
from store.versions import VersionStore


class Store(
    ProjectStore,
    SummaryStore,
    RunStore,
    SessionStore,
    EmbeddingStore,
    TokenStore,
    CacheStore,
    HistoryStore,
    VersionStore,
):
    """All persistence. Thread-safe: each call opens its own session from the pool."""

    def ping(self) -> None:
        with self.read() as s:
            s.execute(select(1))
