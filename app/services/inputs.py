"""Inputs of the use cases: validated, size-capped models of projects, runs and results.

The services take these; the HTTP face uses the same models as request bodies (``app.schemas`` re-exports them),
so one definition documents the contract's caps in OpenAPI and guards every caller (HTTP, CLI, demo, import).
"""

from __future__ import annotations

from typing import Annotated, Literal

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


class ResultIn(Strict):
    metrics: MetricsIn
    trajectory: list[TrajectoryPoint] | None = Field(None, max_length=100_000)
    status: Literal["completed", "failed"] = "completed"
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="what the run cost (any unit, e.g. FLOPs or GPU-hours); kept when omitted"
    )
