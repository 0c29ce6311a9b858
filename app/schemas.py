"""Request and response bodies of the HTTP API (DESIGN.md section 5). Field names are a public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

# Size caps of the contract (documented in OpenAPI through these constraints). Integers are bounded so that
# they fit the database columns and orjson (int64); strings and maps so one field cannot bloat every read.
INT32_MAX = 2**31 - 1  # ids and sessions' steps are 32-bit integer columns (PostgreSQL ``integer``)
# Integers inside JSON documents (trajectory steps, tags) are exact in every JSON reader, JavaScript's included.
SAFE_INT_MAX = 2**53 - 1
MAX_DOMAINS = 1000
MAX_KEY = 200  # metric and fidelity names, map keys
MAX_TAGS = 100
MAX_TAG_VALUE = 1000  # characters of one string tag value
MAX_TRAJECTORY_KEYS = 1000
MAX_CONFIG_KEYS = 100

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="URL-safe name: letters, digits, . _ -")]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
FidelityIn = Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], PositiveFinite], Field(max_length=16)]
WeightsIn = Annotated[
    dict[Annotated[str, Field(max_length=100)], FiniteFloat],
    Field(min_length=1, max_length=MAX_DOMAINS, description="domain name -> weight"),
]
MetricsIn = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_KEY)], FiniteFloat], Field(max_length=1000)
]
RunStatus = Literal["pending", "running", "completed", "failed", "abandoned"]
SafeInt = Annotated[int, Field(ge=-SAFE_INT_MAX, le=SAFE_INT_MAX)]
TagValue = Annotated[str, Field(max_length=MAX_TAG_VALUE)] | bool | SafeInt | FiniteFloat


class Strict(BaseModel):
    """Request bodies: unknown fields and mistyped values (``"1"`` for 1, ``0`` for false) are 422s, as documented."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- projects -------------------------------------------------------------------------------------


class DomainIn(Strict):
    name: Name
    tokens: PositiveFinite | None = None
    min_weight: Fraction | None = None
    max_weight: Fraction | None = None
    max_epochs: PositiveFinite | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> DomainIn:
        if self.min_weight is not None and self.max_weight is not None and self.min_weight > self.max_weight:
            raise ValueError("min_weight is larger than max_weight")
        return self


class ObjectiveIn(Strict):
    metric: str | None = Field(None, min_length=1, max_length=200)
    metrics: dict[Annotated[str, Field(min_length=1, max_length=MAX_KEY)], FiniteFloat] | None = Field(
        None, min_length=1, max_length=1000, description="metric name -> coefficient of a weighted sum"
    )
    direction: Literal["minimize", "maximize"] = "minimize"

    @model_validator(mode="after")
    def _one_form(self) -> ObjectiveIn:
        if (self.metric is None) == (self.metrics is None):
            raise ValueError("give exactly one of 'metric' or 'metrics'")
        return self


class ProjectCreate(Strict):
    name: Name
    description: str = Field("", max_length=10_000)
    domains: list[DomainIn] = Field(min_length=1, max_length=MAX_DOMAINS)
    objective: ObjectiveIn
    target_fidelity: FidelityIn | None = None
    fidelities: list[FidelityIn] | None = Field(
        None, min_length=1, max_length=32,
        description="the fidelity ladder that proposals use when a request names no fidelity (cheapest first)",
    )
    allow_missing_domains: bool = False


class ProjectPatch(Strict):
    description: str | None = Field(None, max_length=10_000)
    domains: list[DomainIn] | None = Field(
        None,
        min_length=1,
        max_length=MAX_DOMAINS,
        description="same names in the same order; updates tokens, bounds and max_epochs",
    )
    objective: ObjectiveIn | None = None
    target_fidelity: FidelityIn | None = None
    fidelities: list[FidelityIn] | None = Field(
        None, min_length=1, max_length=32, description="the fidelity ladder (null removes it)"
    )
    allow_missing_domains: bool | None = None


class DomainOut(BaseModel):
    name: str
    tokens: float | None = None
    min_weight: float | None = None
    max_weight: float | None = None
    max_epochs: float | None = None


class ProjectSummaryOut(BaseModel):
    """What the project list shows of a project's runs (``GET /projects`` only)."""

    runs: int
    completed: int
    open: int = Field(description="pending or running")
    best_value: float | None = Field(description="best objective over completed runs, in the objective's direction")
    last_activity: datetime | None = Field(description="when a run of the project last changed")


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    domains: list[DomainOut]
    objective: dict[str, Any]
    target_fidelity: dict[str, float] | None
    fidelities: list[dict[str, float]] | None = None
    allow_missing_domains: bool
    created_at: datetime | None
    updated_at: datetime | None
    summary: ProjectSummaryOut | None = None
    archived_at: datetime | None = Field(None, description="set while the project is archived (deleted, restorable)")


class ProjectList(BaseModel):
    projects: list[ProjectOut]
    next_page_token: str | None


# -- runs -----------------------------------------------------------------------------------------


class TrajectoryPoint(BaseModel):
    """``{"step": 100, "<metric>": value, ...}``: at most 1000 metrics of finite numbers (integers JSON-safe)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"maxProperties": MAX_TRAJECTORY_KEYS + 1})
    step: int = Field(ge=0, le=SAFE_INT_MAX)

    @model_validator(mode="after")
    def _finite_metrics(self) -> TrajectoryPoint:
        import math

        extra = self.model_extra or {}
        if len(extra) > MAX_TRAJECTORY_KEYS:
            raise ValueError(f"at most {MAX_TRAJECTORY_KEYS} metrics per trajectory point")
        for key, value in extra.items():
            if len(key) > MAX_KEY:
                raise ValueError(f"trajectory metric names are at most {MAX_KEY} characters")
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"trajectory metric {key!r} must be a finite number")
            if isinstance(value, int) and not -SAFE_INT_MAX <= value <= SAFE_INT_MAX:
                raise ValueError(f"trajectory metric {key!r} is an integer past 2**53-1 (not exact in JSON)")
        return self


class RunIn(Strict):
    external_id: str | None = Field(None, min_length=1, max_length=200)
    weights: WeightsIn
    fidelity: FidelityIn = Field(default_factory=dict)
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    status: RunStatus | None = Field(None, description="default: completed when metrics are given, else pending")
    metrics: MetricsIn = Field(default_factory=dict)
    trajectory: list[TrajectoryPoint] | None = Field(None, max_length=100_000)
    tags: dict[Annotated[str, Field(max_length=100)], TagValue] = Field(
        default_factory=dict,
        max_length=MAX_TAGS,
        description=f"at most {MAX_TAGS} tags; string values at most {MAX_TAG_VALUE} characters",
    )


class RunsIn(Strict):
    runs: list[RunIn] = Field(min_length=1, max_length=10_000)


class RunOut(BaseModel):
    id: int
    external_id: str | None
    weights: dict[str, float]
    weights_sum: float = Field(description="the raw sum of the weights as sent, before renormalization")
    fidelity: dict[str, float]
    cost: float | None
    status: RunStatus
    metrics: dict[str, float]
    trajectory: list[dict[str, Any]] | None = None
    tags: dict[str, Any]
    proposal_id: int | None
    lease_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class RunList(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None


class ResultIn(Strict):
    metrics: MetricsIn
    trajectory: list[TrajectoryPoint] | None = Field(None, max_length=100_000)
    status: Literal["completed", "failed"] = "completed"
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="what the run cost (any unit, e.g. FLOPs or GPU-hours); kept when omitted"
    )


# -- mixers ---------------------------------------------------------------------------------------


class MixerInfo(BaseModel):
    name: str
    kind: Literal["offline", "online"]
    description: str
    config_schema: dict[str, Any]


class MixerAvailability(BaseModel):
    """Whether a mixer can answer offline requests (recommend, predict, evaluate) on one project, and why not."""

    name: str
    kind: Literal["offline", "online"]
    available: bool
    reason: str | None = None


def _registered_mixers(schema: dict[str, Any]) -> None:
    """OpenAPI names the registered mixers (computed when the schema is built, so every backend is listed)."""
    from mixers import available

    names = list(available())
    schema["examples"] = names
    schema["description"] = "a registered mixer: " + ", ".join(names) + " (GET /api/v1/mixers describes each)"


class MixerChoice(Strict):
    mixer: str = Field(min_length=1, max_length=64, json_schema_extra=_registered_mixers)
    config: dict[str, Any] | None = Field(
        None, max_length=MAX_CONFIG_KEYS, description="the mixer's config (its JSON schema: GET /api/v1/mixers)"
    )


class ProposalIn(MixerChoice):
    n: int = Field(1, ge=1, le=1000)
    fidelity: FidelityIn | None = None
    fidelities: list[FidelityIn] | None = Field(None, min_length=1, max_length=32)
    candidates: list[WeightsIn] | None = Field(None, min_length=1, max_length=100_000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class ProposalOut(BaseModel):
    id: int
    mixer: str
    config: dict[str, Any]
    seed: int | None
    runs: list[RunOut]
    fidelity_source: Literal["request", "project_ladder", "runs", "target", "none"] | None = Field(
        None,
        description="where the fidelities offered to the mixer came from: the request's fidelity/fidelities, the "
        "project's ladder, the fidelities the project's runs use, the target (no runs and no ladder), or none",
    )


class RecommendationIn(MixerChoice):
    fidelity: FidelityIn | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


Transfer = Literal["observed", "assumed", "extrapolated"]
TRANSFER_DOC = (
    "observed: runs exist at predicted_fidelity; assumed: carried over from another fidelity with no model of "
    "the shift; extrapolated: a fitted model across fidelities"
)


class RecommendationOut(BaseModel):
    weights: dict[str, float]
    predicted: float
    std: float | None
    mixer: str
    config: dict[str, Any]
    diagnostics: dict[str, Any]
    predicted_fidelity: dict[str, float] = Field(description="the fidelity the predicted numbers are for")
    transfer: Transfer = Field(description=TRANSFER_DOC)


class PredictionIn(MixerChoice):
    fidelity: FidelityIn | None = None
    mixtures: list[WeightsIn] = Field(min_length=1, max_length=100_000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class PredictionOut(BaseModel):
    mean: float
    std: float | None


class PredictionsOut(BaseModel):
    predictions: list[PredictionOut]
    predicted_fidelity: dict[str, float] = Field(description="the fidelity the predicted numbers are for")
    transfer: Transfer = Field(description=TRANSFER_DOC)
    diagnostics: dict[str, Any] = Field(default_factory=dict, description="how the fidelity was answered")


class EvaluationIn(Strict):
    mixers: list[MixerChoice] = Field(min_length=1, max_length=16)
    folds: int = Field(5, ge=2, le=20)
    fidelity: FidelityIn | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)


class EvaluationResult(BaseModel):
    mixer: str
    config: dict[str, Any]
    spearman: float | None
    mae: float | None
    regret: float | None
    n_runs: int
    predicted: list[float] = Field(description="cross-validated prediction of every run, aligned with run_ids")
    actual: list[float]
    run_ids: list[int]


class EvaluationOut(BaseModel):
    results: list[EvaluationResult]


# -- sessions -------------------------------------------------------------------------------------


class SessionIn(MixerChoice):
    total_steps: int | None = Field(None, ge=1, le=10**9)
    initial_weights: WeightsIn | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class DirectiveOut(BaseModel):
    weights: dict[str, float]
    until_step: int
    done: bool = False
    phase: str | None = Field(None, description="the mixer's phase for this stretch, e.g. aioli's 'sweep' (probes)")


class SessionOut(BaseModel):
    id: int
    project: str
    mixer: str
    config: dict[str, Any]
    status: Literal["active", "done"]
    step: int
    total_steps: int
    weights: dict[str, float]
    directive: DirectiveOut
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None
    updated_at: datetime | None


class SessionEventOut(BaseModel):
    step: int
    losses: dict[str, float] | None
    directive: DirectiveOut
    created_at: datetime | None


class SessionDetailOut(SessionOut):
    history: list[SessionEventOut]


class ReportIn(Strict):
    step: int = Field(ge=0, le=INT32_MAX)
    losses: dict[Annotated[str, Field(max_length=100)], FiniteFloat] = Field(min_length=1, max_length=MAX_DOMAINS)


class ReportOut(BaseModel):
    directive: DirectiveOut


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_page_token: str | None = None


# -- embeddings -----------------------------------------------------------------------------------


class EmbeddingsIn(Strict):
    vectors: list[Annotated[list[FiniteFloat], Field(min_length=1, max_length=65_536)]] = Field(
        min_length=1, max_length=1_000_000
    )


class EmbeddingOut(BaseModel):
    name: str
    sha256: str
    shape: list[int]
