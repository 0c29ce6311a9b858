"""Request and response bodies of the HTTP API (DESIGN.md section 5). Field names are a public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="URL-safe name: letters, digits, . _ -")]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
FidelityIn = Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], PositiveFinite], Field(max_length=16)]
WeightsIn = Annotated[dict[str, FiniteFloat], Field(min_length=1, description="domain name -> weight")]
MetricsIn = Annotated[dict[Annotated[str, Field(min_length=1, max_length=200)], FiniteFloat], Field(max_length=1000)]
RunStatus = Literal["pending", "running", "completed", "failed", "abandoned"]
TagValue = str | int | float | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    metrics: dict[Annotated[str, Field(min_length=1, max_length=200)], FiniteFloat] | None = Field(
        None, min_length=1, description="metric name -> coefficient of a weighted sum"
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
    domains: list[DomainIn] = Field(min_length=1, max_length=1000)
    objective: ObjectiveIn
    target_fidelity: FidelityIn | None = None
    allow_missing_domains: bool = False


class ProjectPatch(Strict):
    description: str | None = Field(None, max_length=10_000)
    domains: list[DomainIn] | None = Field(
        None, min_length=1, description="same names in the same order; updates tokens, bounds and max_epochs"
    )
    objective: ObjectiveIn | None = None
    target_fidelity: FidelityIn | None = None
    allow_missing_domains: bool | None = None


class DomainOut(BaseModel):
    name: str
    tokens: float | None = None
    min_weight: float | None = None
    max_weight: float | None = None
    max_epochs: float | None = None


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    domains: list[DomainOut]
    objective: dict[str, Any]
    target_fidelity: dict[str, float] | None
    allow_missing_domains: bool
    created_at: datetime | None
    updated_at: datetime | None


class ProjectList(BaseModel):
    projects: list[ProjectOut]
    next_page_token: str | None


# -- runs -----------------------------------------------------------------------------------------


class TrajectoryPoint(BaseModel):
    model_config = ConfigDict(extra="allow")
    step: int = Field(ge=0)

    @model_validator(mode="after")
    def _finite_metrics(self) -> TrajectoryPoint:
        import math

        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"trajectory metric {key!r} must be a finite number")
        return self


class RunIn(Strict):
    external_id: str | None = Field(None, min_length=1, max_length=200)
    weights: WeightsIn
    fidelity: FidelityIn = Field(default_factory=dict)
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    status: RunStatus | None = Field(None, description="default: completed when metrics are given, else pending")
    metrics: MetricsIn = Field(default_factory=dict)
    trajectory: list[TrajectoryPoint] | None = Field(None, max_length=100_000)
    tags: dict[Annotated[str, Field(max_length=100)], TagValue] = Field(default_factory=dict, max_length=100)


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


class MixerChoice(Strict):
    mixer: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] | None = None


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
    diagnostics: dict[str, Any] = Field(
        default_factory=dict,
        description="how the batch was chosen: method (recipe, active, pool, pool_active), the recipe and each "
        "run's Dirichlet strength, the ensemble's disagreement and the plausibility of each run (active); "
        "empty for mixers that give none",
    )


class RecommendationIn(MixerChoice):
    fidelity: FidelityIn | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class RecommendationOut(BaseModel):
    weights: dict[str, float]
    predicted: float
    std: float | None
    mixer: str
    config: dict[str, Any]
    diagnostics: dict[str, Any]


class PredictionIn(MixerChoice):
    fidelity: FidelityIn | None = None
    mixtures: list[WeightsIn] = Field(min_length=1, max_length=100_000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


class PredictionOut(BaseModel):
    mean: float
    std: float | None


class PredictionsOut(BaseModel):
    predictions: list[PredictionOut]


class EvaluationIn(Strict):
    mixers: list[MixerChoice] = Field(min_length=1, max_length=16)
    folds: int = Field(5, ge=2, le=20)
    fidelity: FidelityIn | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)


class EvaluationError(BaseModel):
    code: str = Field(description="machine-readable, e.g. mixer_cannot_answer, fit_timeout")
    detail: str


class EvaluationResult(BaseModel):
    mixer: str
    config: dict[str, Any]
    spearman: float | None
    mae: float | None
    regret: float | None
    n_runs: int
    predicted: list[float | None] = Field(
        description="cross-validated prediction of every run, aligned with run_ids (empty when error is set)"
    )
    actual: list[float]
    run_ids: list[int]
    error: EvaluationError | None = Field(None, description="why this mixer could not be scored (others still are)")


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
    step: int = Field(ge=0)
    losses: dict[str, FiniteFloat] = Field(min_length=1)


class ReportOut(BaseModel):
    directive: DirectiveOut


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_page_token: str | None = None


# -- embeddings -----------------------------------------------------------------------------------


class EmbeddingsIn(Strict):
    vectors: list[list[FiniteFloat]] = Field(min_length=1)


class EmbeddingOut(BaseModel):
    name: str
    sha256: str
    shape: list[int]
