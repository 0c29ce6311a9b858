"""Frozen records: what the repository returns. Rows become records here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from store.models import ProjectRow, ProposalRow, RunRow, SessionEventRow, SessionRow, TokenRow

RUN_STATUSES = ("pending", "running", "completed", "failed", "abandoned")
OPEN_STATUSES = ("pending", "running")


def as_utc(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every timestamp we write is UTC."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class ProjectRecord:
    id: int
    name: str
    description: str
    domains: list[dict[str, Any]]
    objective: dict[str, Any]
    target_fidelity: dict[str, float] | None
    allow_missing_domains: bool
    data_version: int
    created_at: datetime | None
    updated_at: datetime | None
    archived_at: datetime | None = None
    fidelities: list[dict[str, float]] | None = None
    uid: str = ""

    @property
    def domain_names(self) -> list[str]:
        return [d["name"] for d in self.domains]

    @classmethod
    def from_row(cls, row: ProjectRow) -> ProjectRecord:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description or "",
            domains=list(row.domains),
            objective=dict(row.objective),
            target_fidelity=dict(row.target_fidelity) if row.target_fidelity else None,
            allow_missing_domains=bool(row.allow_missing_domains),
            data_version=row.data_version or 0,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            archived_at=as_utc(row.archived_at),
            fidelities=[dict(f) for f in row.fidelities] if row.fidelities else None,
            uid=row.uid,
        )


@dataclass(frozen=True)
class RunRecord:
    id: int
    project_id: int
    external_id: str | None
    weights: dict[str, float]
    weights_sum: float
    fidelity: dict[str, float]
    cost: float | None
    status: str
    metrics: dict[str, float]
    trajectory: list[dict[str, Any]] | None
    tags: dict[str, Any]
    proposal_id: int | None
    lease_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: RunRow) -> RunRecord:
        return cls(
            id=row.id,
            project_id=row.project_id,
            external_id=row.external_id,
            weights=dict(row.weights),
            weights_sum=row.weights_sum,
            fidelity=dict(row.fidelity or {}),
            cost=row.cost,
            status=row.status,
            metrics=dict(row.metrics or {}),
            trajectory=list(row.trajectory) if row.trajectory is not None else None,
            tags=dict(row.tags or {}),
            proposal_id=row.proposal_id,
            lease_expires_at=as_utc(row.lease_expires_at),
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )

    def public(self) -> dict[str, Any]:
        """The run as clients see it (every field but ``project_id``): the one definition behind the API's run
        object, the JSON Lines export and the CLI's JSON output."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "project_id"}


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    project_id: int
    mixer: str
    config: dict[str, Any]
    seed: int | None
    created_at: datetime | None

    @classmethod
    def from_row(cls, row: ProposalRow) -> ProposalRecord:
        return cls(row.id, row.project_id, row.mixer, dict(row.config), row.seed, as_utc(row.created_at))


@dataclass(frozen=True)
class SessionRecord:
    id: int
    project_id: int
    mixer: str
    config: dict[str, Any]
    seed: int | None
    status: str
    step: int
    total_steps: int
    state: dict[str, Any]
    directive: dict[str, Any]
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    start: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: SessionRow) -> SessionRecord:
        return cls(
            id=row.id,
            project_id=row.project_id,
            mixer=row.mixer,
            config=dict(row.config),
            seed=row.seed,
            status=row.status,
            step=row.step,
            total_steps=row.total_steps,
            state=dict(row.state),
            directive=dict(row.directive),
            version=row.version,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            start=None if row.start is None else dict(row.start),
        )


@dataclass(frozen=True)
class SessionEventRecord:
    step: int
    losses: dict[str, float] | None
    directive: dict[str, Any]
    created_at: datetime | None

    @classmethod
    def from_row(cls, row: SessionEventRow) -> SessionEventRecord:
        return cls(row.step, dict(row.losses) if row.losses else None, dict(row.directive), as_utc(row.created_at))


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str | None


@dataclass(frozen=True)
class TokenRecord:
    """An API token as ``mixopt token list`` shows it: never the secret (only its first characters)."""

    id: int
    name: str
    prefix: str
    project: str | None
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: TokenRow, project_names: dict[int, str]) -> TokenRecord:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix or "",
            project=None if row.project_id is None else project_names.get(row.project_id),
            created_at=as_utc(row.created_at),
            expires_at=as_utc(row.expires_at),
            revoked_at=as_utc(row.revoked_at),
        )
