"""Frozen records: what the store takes (``New*``: what a write adds) and returns (``*Record``). Plain dataclasses,
free of the ORM (``store.mapping`` turns them into rows and back), so every layer above the store may hold them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, Literal, TypeVar, get_args

RunStatus = Literal["pending", "running", "completed", "failed", "abandoned"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
OPEN_STATUSES: tuple[RunStatus, ...] = ("pending", "running")
"""A run that still holds a lease: it counts as pending for proposals until it finishes or its lease runs out."""
FINISHED_STATUSES: tuple[RunStatus, ...] = ("completed", "failed")
"""A run with a result: its result is final (the same result again is a no-op, another is a conflict)."""

MAX_ID = 2**31 - 1
"""The largest id (and session step) the integer columns hold: 32-bit ``integer`` on PostgreSQL."""
MAX_SEED = 2**32 - 1
"""The largest seed a proposal or session keeps (``bigint`` columns)."""

T = TypeVar("T")


def as_utc(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every timestamp we write is UTC."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class Unchanged(Enum):
    """Marks a field an update leaves as it is (``None`` is a value some fields may be set to)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class NewProject:
    """A project to create; ``domains`` and ``objective`` in their normal form (the services check them)."""

    name: str
    domains: list[dict[str, Any]]
    objective: dict[str, Any]
    description: str = ""
    target_fidelity: dict[str, float] | None = None
    fidelities: list[dict[str, float]] | None = None
    allow_missing_domains: bool = False
    default_mixer: str | None = None
    families: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class ProjectChanges:
    """What an update of a project changes; fields left ``UNCHANGED`` keep their value."""

    description: str | Unchanged = UNCHANGED
    domains: list[dict[str, Any]] | Unchanged = UNCHANGED
    objective: dict[str, Any] | Unchanged = UNCHANGED
    target_fidelity: dict[str, float] | Unchanged | None = UNCHANGED
    fidelities: list[dict[str, float]] | Unchanged | None = UNCHANGED
    allow_missing_domains: bool | Unchanged = UNCHANGED
    default_mixer: str | Unchanged | None = UNCHANGED
    families: list[dict[str, Any]] | Unchanged | None = UNCHANGED


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
    default_mixer: str | None = None
    # bounds on family totals, ``[{name, min_weight, max_weight}]``
    families: list[dict[str, Any]] = field(default_factory=list)
    domain_version: int = 1

    @property
    def domain_names(self) -> list[str]:
        return [d["name"] for d in self.domains]

    def family_bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """``{family: (min_weight, max_weight)}`` of the bounded families."""
        return {f["name"]: (f.get("min_weight"), f.get("max_weight")) for f in self.families}


@dataclass(frozen=True)
class NewDomainVersion:
    """A version of a project's domain set to append: the domains after ``change``, with a note."""

    version: int
    domains: list[dict[str, Any]]
    change: dict[str, Any] | None
    note: str = ""


@dataclass(frozen=True)
class DomainVersionRecord:
    """One version of a project's domain set; ``change`` is None for version 1."""

    version: int
    domains: list[dict[str, Any]]
    change: dict[str, Any] | None
    note: str
    created_at: datetime | None


@dataclass(frozen=True)
class FidelityBest:
    """The best completed run at one fidelity: its objective ``value``, its id, and how many completed runs
    there report the objective (``n_completed``)."""

    fidelity: dict[str, float]
    value: float
    run_id: int
    n_completed: int


@dataclass(frozen=True)
class ProjectSummary:
    """What the project list shows of a project's runs; ``best_value`` is over every fidelity,
    ``best_by_fidelity`` one entry per fidelity with completed runs (the most runs first)."""

    runs: int
    completed: int
    open: int
    best_value: float | None
    last_activity: datetime | None
    best_by_fidelity: tuple[FidelityBest, ...] = ()


@dataclass(frozen=True)
class NewRun:
    """A run to add: validated, ``weights`` renormalized in the project's domain order (``weights_sum`` the raw
    sum sent). ``content_hash`` is the run's identity for replays by ``external_id``; ``result_hash`` the identity
    of its result (finished runs). The fields it shares by name with ``RunRecord`` are read back as stored."""

    external_id: str | None
    weights: dict[str, float]
    weights_sum: float
    fidelity: dict[str, float]
    fidelity_key: str
    cost: float | None
    status: RunStatus
    metrics: dict[str, float]
    trajectory: list[dict[str, Any]] | None
    tags: dict[str, Any]
    content_hash: str
    result_hash: str | None
    # Restored by an import that re-creates a project from its export; else the batch's proposal (or none) and a
    # lease from now for an open run.
    proposal_id: int | None = None
    lease_expires_at: datetime | None = None
    # the version of the domain set the weights are over (set at ingest: the current one unless the run names one)
    domain_version: int = 1


@dataclass(frozen=True)
class RunResult:
    """The result attached to an open run, exactly once (``cost`` replaces the run's when given)."""

    status: RunStatus
    metrics: dict[str, float]
    trajectory: list[dict[str, Any]] | None
    cost: float | None
    result_hash: str


@dataclass(frozen=True)
class RunRecord:
    id: int
    project_id: int
    external_id: str | None
    weights: dict[str, float]
    weights_sum: float
    fidelity: dict[str, float]
    cost: float | None
    status: RunStatus
    metrics: dict[str, float]
    trajectory: list[dict[str, Any]] | None
    tags: dict[str, Any]
    proposal_id: int | None
    lease_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    domain_version: int = 1


@dataclass(frozen=True)
class NewRecommendation:
    """A recommendation answered: the mixer and its config, the request and the response as sent (JSON)."""

    mixer: str
    config: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any]


@dataclass(frozen=True)
class RecommendationRecord:
    id: int
    project_id: int
    mixer: str
    config: dict[str, Any]
    request: dict[str, Any]
    response: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class NewEvaluation:
    """An evaluation answered: the mixers compared and their configs (aligned), the request and the response."""

    mixers: list[str]
    config: list[dict[str, Any]]
    request: dict[str, Any]
    response: dict[str, Any]


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    project_id: int
    mixers: list[str]
    config: list[dict[str, Any]]
    request: dict[str, Any]
    response: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class NewProposal:
    mixer: str
    config: dict[str, Any]
    seed: int | None


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    project_id: int
    mixer: str
    config: dict[str, Any]
    seed: int | None
    created_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    """An online session to start, with its first directive."""

    project_id: int
    mixer: str
    config: dict[str, Any]
    seed: int | None
    status: str
    total_steps: int
    state: dict[str, Any]
    directive: dict[str, Any]
    start: dict[str, Any] | None


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


@dataclass(frozen=True)
class SessionEventRecord:
    step: int
    losses: dict[str, float] | None
    directive: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


@dataclass(frozen=True)
class TokenGrant:
    """What a live token may use: one project (its id and name), or every project (both None: an admin token)."""

    project_id: int | None
    project_name: str | None


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
