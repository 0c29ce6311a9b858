"""SQLAlchemy 2.0 table models. Rows never leave ``store``: the repository turns them into records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDict = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {JsonDict: JSON, datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())
    updated_at: Mapped[datetime] = mapped_column(server_default=utcnow(), onupdate=utcnow())


class ProjectRow(Timestamped, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Never reused (unlike ``id`` on SQLite after a purge): the fit cache is keyed by it. Always set (at creation,
    # or by migration 0004); NULL-able only so that SQLite adds it without rebuilding the table (a rebuild of
    # ``projects`` would cascade-delete every run).
    uid: Mapped[str] = mapped_column(
        String(32), nullable=True, unique=True, index=True, default=lambda: uuid.uuid4().hex
    )
    description: Mapped[str] = mapped_column(Text, default="")
    domains: Mapped[list[JsonDict]] = mapped_column(JSON)
    objective: Mapped[JsonDict] = mapped_column(JSON)
    target_fidelity: Mapped[JsonDict | None] = mapped_column(JSON, nullable=True)
    # The fidelity ladder proposals use when a request names none (a list of fidelity dicts), or NULL.
    fidelities: Mapped[list[JsonDict] | None] = mapped_column(JSON, nullable=True)
    allow_missing_domains: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on every write to the project's runs: part of every fit-cache key.
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    # Set by DELETE: an archived project is hidden (404) until restored, and removed only by a purge.
    archived_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The offline mixer the dashboard and evaluations default to (a registered mixer's name), or NULL.
    default_mixer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Bounds on family totals: ``[{name, min_weight, max_weight}]`` (NULL: none).
    families: Mapped[list[JsonDict] | None] = mapped_column(JSON, nullable=True)
    # The current version of the domain set (``domain_versions``); NULL means 1 (NULL-able so SQLite adds it in
    # place).
    domain_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DomainVersionRow(Base):
    """One version of a project's domain set: the domains after ``change`` (NULL for version 1) and a note."""

    __tablename__ = "domain_versions"
    __table_args__ = (UniqueConstraint("project_id", "version", name="uq_domain_versions_project_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    domains: Mapped[list[JsonDict]] = mapped_column(JSON)
    change: Mapped[JsonDict | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class ProposalRow(Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    mixer: Mapped[str] = mapped_column(String(64))
    config: Mapped[JsonDict] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # up to 2**32-1
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class RunRow(Timestamped, Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_runs_project_external"),
        Index("ix_runs_project_status", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    weights: Mapped[JsonDict] = mapped_column(JSON)
    weights_sum: Mapped[float] = mapped_column(Float)
    fidelity: Mapped[JsonDict] = mapped_column(JSON)
    fidelity_key: Mapped[str] = mapped_column(String(200), default="")
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[JsonDict] = mapped_column(JSON)
    trajectory: Mapped[list[JsonDict] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[JsonDict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    result_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The version of the project's domain set the run's weights are over; NULL means 1.
    domain_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SessionRow(Timestamped, Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    mixer: Mapped[str] = mapped_column(String(64))
    config: Mapped[JsonDict] = mapped_column(JSON)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # up to 2**32-1
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer)
    state: Mapped[JsonDict] = mapped_column(JSON)
    directive: Mapped[JsonDict] = mapped_column(JSON)
    # How the session started: {source, weights, recommendation}; NULL for sessions made before revision 0004.
    start: Mapped[JsonDict | None] = mapped_column(JSON, nullable=True)
    # Optimistic concurrency: a report updates the row only if the version it read is still current.
    version: Mapped[int] = mapped_column(Integer, default=0)


class SessionEventRow(Base):
    """One report and the directive it produced (the first directive is the event at step -1)."""

    __tablename__ = "session_events"
    __table_args__ = (UniqueConstraint("session_id", "step", name="uq_session_events_session_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    losses: Mapped[JsonDict | None] = mapped_column(JSON, nullable=True)
    directive: Mapped[JsonDict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class RecommendationRow(Base):
    """A recommendation the API answered: the request and the response as sent (newest first by ``id``)."""

    __tablename__ = "recommendations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    mixer: Mapped[str] = mapped_column(String(64))
    config: Mapped[JsonDict] = mapped_column(JSON)
    request: Mapped[JsonDict] = mapped_column(JSON)
    response: Mapped[JsonDict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class EvaluationRow(Base):
    """An evaluation the API answered: the mixers compared, the request and the response as sent."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    mixers: Mapped[list[str]] = mapped_column(JSON)
    # The mixers' configs, in the order of ``mixers``.
    config: Mapped[list[JsonDict]] = mapped_column(JSON)
    request: Mapped[JsonDict] = mapped_column(JSON)
    response: Mapped[JsonDict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class BlobRow(Base):
    """Content-addressed array storage (embedding sets), shared by projects."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    dtype: Mapped[str] = mapped_column(String(16))
    shape: Mapped[list[int]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class EmbeddingSetRow(Timestamped, Base):
    __tablename__ = "embedding_sets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_embedding_sets_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))


class FitCacheRow(Base):
    """Pickled fitted mixers and memoized answers, keyed by a hash of (data version, mixer, config, ...)."""

    __tablename__ = "fit_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=True)
    # The secret's first characters, to tell tokens apart in ``mixopt token list`` (not enough to use one).
    prefix: Mapped[str] = mapped_column(String(16), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=utcnow())
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
