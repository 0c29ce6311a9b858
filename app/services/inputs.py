"""Inputs of the use cases: validated, size-capped models of projects, runs and results.

The services take these; the HTTP face uses the same models as request bodies (``app.schemas`` re-exports them),
so one definition documents the contract's caps in OpenAPI and guards every caller (HTTP, CLI, demo, import).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    FiniteFloat,
    RootModel,
    ValidationInfo,
    field_validator,
    model_validator,
)

# the stores' bounds and the run statuses, re-exported for the request bodies
from store.records import MAX_ID as MAX_ID
from store.records import MAX_SEED as MAX_SEED
from store.records import RunStatus as RunStatus

# Size caps of the contract (documented in OpenAPI through these constraints). Integers are bounded so that
# they fit the database columns and orjson (int64); strings and maps so one field cannot bloat every read.
# Integers inside JSON documents (trajectory steps, tags) are exact in every JSON reader, JavaScript's included.
SAFE_INT_MAX = 2**53 - 1
MAX_DOMAINS = 1000
MAX_KEY = 200  # metric and fidelity names, map keys
MAX_TAGS = 100
MAX_TAG_VALUE = 1000  # characters of one string tag value
MAX_TRAJECTORY_KEYS = 1000
MAX_CONFIG_KEYS = 100
# Points of one run's trajectory unless the server sets MIXOPT_MAX_TRAJECTORY_POINTS (the schema's hard ceiling is
# MAX_TRAJECTORY_POINTS_CEILING).
DEFAULT_MAX_TRAJECTORY_POINTS = 10_000
MAX_TRAJECTORY_POINTS_CEILING = 100_000
# The limit in force while a request is validated (the server's setting; the default elsewhere).
_TRAJECTORY_POINTS: ContextVar[int] = ContextVar("max_trajectory_points", default=DEFAULT_MAX_TRAJECTORY_POINTS)


@contextlib.contextmanager
def trajectory_points_limit(limit: int) -> Iterator[None]:
    """Validate trajectories against ``limit`` points (per run) inside the block (this task or thread only)."""
    token = _TRAJECTORY_POINTS.set(limit)
    try:
        yield
    finally:
        _TRAJECTORY_POINTS.reset(token)


def _points_capped(value: Any) -> Any:
    """Refuse a trajectory over the limit before any of its points is validated (a large body stays cheap)."""
    limit = _TRAJECTORY_POINTS.get()
    if isinstance(value, list) and len(value) > limit:
        raise ValueError(f"{len(value)} trajectory points; at most {limit} per run (MIXOPT_MAX_TRAJECTORY_POINTS)")
    return value


# Text no database can store: NUL (PostgreSQL text and json cannot hold it) and lone surrogates (not Unicode).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
Loc = tuple[int | str, ...]


def _unstorable_reason(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return "contains a lone surrogate (not valid Unicode), which cannot be stored"


def find_unstorable(value: Any, loc: Loc = ()) -> tuple[Loc, str] | None:
    """The first string (value or key) in ``value`` that no database can store: ``(path to it, why)``, or None.

    Walks dicts and lists; nested models check their own fields.
    """
    if isinstance(value, str):
        reason = _unstorable_reason(value)
        return None if reason is None else (loc, reason)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and (reason := _unstorable_reason(key)) is not None:
                return (*loc, key), "key " + reason
            if not isinstance(item, int | float | None) and (found := find_unstorable(item, (*loc, key))):
                return found
        return None
    if isinstance(value, Sequence):  # lists and tuples (str was handled above)
        for i, item in enumerate(value):
            if not isinstance(item, int | float | None) and (found := find_unstorable(item, (*loc, i))):
                return found
        return None
    return None  # numbers, and models (which check their own fields)


# -- JSON documents -------------------------------------------------------------------------------


class DuplicateKeys(ValueError):
    """A JSON object names a key twice; ``locs`` are the paths of the repeated keys."""

    def __init__(self, locs: list[tuple[int | str, ...]]) -> None:
        super().__init__("duplicate key(s) in a JSON object: " + ", ".join(repr(loc[-1]) for loc in locs[:5]))
        self.locs = locs


class _Repeated(dict[str, Any]):
    """An object whose pairs repeated a key (the keys are kept for the error)."""

    repeated: list[str]


def _repeated_at(value: Any, loc: tuple[int | str, ...]) -> Iterator[tuple[int | str, ...]]:
    if isinstance(value, dict):
        if isinstance(value, _Repeated):
            yield from ((*loc, k) for k in value.repeated)
        for k, v in value.items():
            if isinstance(v, dict | list):
                yield from _repeated_at(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                yield from _repeated_at(v, (*loc, i))


def loads(body: bytes | str) -> Any:
    """``json.loads`` that raises ``DuplicateKeys`` when an object repeats a key (other errors as json's)."""
    repeated = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        out = dict(pairs)
        if len(out) == len(pairs):
            return out
        repeated = True
        marked = _Repeated(out)
        marked.repeated = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
        return marked

    value = json.loads(body, object_pairs_hook=hook)
    if repeated:  # walk the document only to name where
        raise DuplicateKeys(list(_repeated_at(value, ())))
    return value


def _no_unsafe_int(value: Any) -> Any:
    """Integers past 2**53-1 are refused, not turned into floats by a ``float`` member of a union."""
    if isinstance(value, int) and not isinstance(value, bool) and not -SAFE_INT_MAX <= value <= SAFE_INT_MAX:
        raise ValueError("integer past 2**53-1 (not exact in JSON); send it as a string")
    return value


def _unsigned_zero(value: float) -> float:
    return value + 0.0  # -0.0 + 0.0 is 0.0


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="URL-safe name: letters, digits, . _ -")]
# A domain name may carry a family prefix, one or more levels (``dclm/web/high``): segments as ``Name`` joined by
# ``/``. No segment is empty or starts with ``.``, so a name never reads as a relative path (``..``, ``a//b``).
DOMAIN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"
DomainName = Annotated[
    str,
    Field(
        max_length=100,
        pattern=DOMAIN_NAME_PATTERN,
        description="letters, digits, . _ - in segments joined by / (a family prefix: family/name, dclm/web/high)",
    ),
]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
FidelityIn = Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], PositiveFinite], Field(max_length=16)]
WeightsIn = Annotated[
    dict[Annotated[str, Field(max_length=100)], Annotated[FiniteFloat, AfterValidator(_unsigned_zero)]],
    Field(min_length=1, max_length=MAX_DOMAINS, description="domain name -> weight"),
]
MetricsIn = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_KEY)], FiniteFloat], Field(max_length=1000)
]
SafeInt = Annotated[int, Field(ge=-SAFE_INT_MAX, le=SAFE_INT_MAX)]
TagValue = Annotated[
    Annotated[str, Field(max_length=MAX_TAG_VALUE)] | bool | SafeInt | FiniteFloat, BeforeValidator(_no_unsafe_int)
]


class Strict(BaseModel):
    """Request bodies: unknown fields and mistyped values (``"1"`` for 1, ``0`` for false) are 422s, as documented."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        """Every field, once for all bodies: text the databases cannot store is refused, naming the key."""
        found = find_unstorable(value)
        if found is not None:
            where, reason = found
            inner = "".join(f"[{p}]" if isinstance(p, int) else f"[{p!r}]" for p in where)
            raise ValueError(f"{info.field_name}{inner} {reason}")
        return value


# -- projects -------------------------------------------------------------------------------------


class DomainIn(Strict):
    name: DomainName
    tokens: PositiveFinite | None = None
    min_weight: Fraction | None = None
    max_weight: Fraction | None = None
    max_epochs: PositiveFinite | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> DomainIn:
        if self.min_weight is not None and self.max_weight is not None and self.min_weight > self.max_weight:
            raise ValueError("min_weight is larger than max_weight")
        return self


class FamilyIn(Strict):
    """Bounds on a family's total weight (a family is a name prefix of the domains: ``dclm`` of ``dclm/web``)."""

    name: DomainName
    min_weight: Fraction | None = None
    max_weight: Fraction | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> FamilyIn:
        if self.min_weight is not None and self.max_weight is not None and self.min_weight > self.max_weight:
            raise ValueError("min_weight is larger than max_weight")
        return self


FAMILIES_DOC = "bounds on family totals: [{name, min_weight, max_weight}] (a family is a prefix of domain names)"


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
    default_mixer: str | None = Field(
        None, min_length=1, max_length=64, description="the project's default offline mixer (a registered name)"
    )
    families: list[FamilyIn] | None = Field(None, max_length=MAX_DOMAINS, description=FAMILIES_DOC)


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
    default_mixer: str | None = Field(
        None, min_length=1, max_length=64,
        description="the project's default offline mixer (a registered name; null removes it)",
    )
    families: list[FamilyIn] | None = Field(
        None, max_length=MAX_DOMAINS, description=FAMILIES_DOC + "; replaces the bounds (null or [] removes them)"
    )


# -- domain set changes ---------------------------------------------------------------------------

NOTE = Field("", max_length=10_000, description="why the domain set changed (kept in the change log)")


class AddDomainsIn(Strict):
    """New domains (old runs had weight 0 on them)."""

    op: Literal["add"]
    domains: list[DomainIn] = Field(min_length=1, max_length=MAX_DOMAINS)
    note: str = NOTE


class RemoveDomainsIn(Strict):
    """Domains to drop (a run that trained on one is left out of later fits)."""

    op: Literal["remove"]
    names: list[DomainName] = Field(min_length=1, max_length=MAX_DOMAINS)
    note: str = NOTE


class SplitDomainIn(Strict):
    """One domain into parts (an old run's weight on it divided by the parts' token shares: an assumption)."""

    op: Literal["split"]
    name: DomainName
    into: list[DomainIn] = Field(min_length=1, max_length=MAX_DOMAINS, description="at least 2 parts")
    note: str = NOTE


class MergeDomainsIn(Strict):
    """Several domains into one (an old run's weights summed: exact)."""

    op: Literal["merge"]
    names: list[DomainName] = Field(min_length=1, max_length=MAX_DOMAINS, description="at least 2 domains")
    into: DomainIn
    note: str = NOTE


class DomainChangeIn(RootModel[Annotated[AddDomainsIn | RemoveDomainsIn | SplitDomainIn | MergeDomainsIn,
                                         Discriminator("op")]]):
    """One change of a project's domain set, chosen by ``op`` (``mixers.domain_sets``)."""
DOMAIN_CHANGE_OPS = ("add", "remove", "split", "merge")


# -- runs -----------------------------------------------------------------------------------------


class TrajectoryPoint(BaseModel):
    """``{"step": 100, "<metric>": value, ...}``: at most 1000 metrics of finite numbers (integers JSON-safe)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"maxProperties": MAX_TRAJECTORY_KEYS + 1})
    step: int = Field(ge=0, le=SAFE_INT_MAX, strict=True)

    @model_validator(mode="after")
    def _finite_metrics(self) -> TrajectoryPoint:
        import math

        extra = self.model_extra or {}
        if len(extra) > MAX_TRAJECTORY_KEYS:
            raise ValueError(f"at most {MAX_TRAJECTORY_KEYS} metrics per trajectory point")
        for key, value in extra.items():
            if len(key) > MAX_KEY:
                raise ValueError(f"trajectory metric names are at most {MAX_KEY} characters")
            if (reason := _unstorable_reason(key)) is not None:
                raise ValueError(f"trajectory metric name {key!r} {reason}")
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"trajectory metric {key!r} must be a finite number")
            if isinstance(value, int) and not -SAFE_INT_MAX <= value <= SAFE_INT_MAX:
                raise ValueError(f"trajectory metric {key!r} is an integer past 2**53-1 (not exact in JSON)")
        return self


class RunIn(Strict):
    external_id: str | None = Field(None, min_length=1, max_length=200)
    domain_version: int | None = Field(
        None, ge=1, le=MAX_ID,
        description="the version of the project's domain set the weights are over (default: the current one)",
    )
    weights: WeightsIn
    fidelity: FidelityIn = Field(default_factory=dict)
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    status: RunStatus | None = Field(None, description="default: completed when metrics are given, else pending")
    metrics: MetricsIn = Field(default_factory=dict)
    trajectory: Annotated[list[TrajectoryPoint] | None, BeforeValidator(_points_capped)] = Field(
        None,
        max_length=MAX_TRAJECTORY_POINTS_CEILING,
        description=f"at most {DEFAULT_MAX_TRAJECTORY_POINTS:,} points unless the server sets "
        "MIXOPT_MAX_TRAJECTORY_POINTS",
    )
    tags: dict[Annotated[str, Field(max_length=100)], TagValue] = Field(
        default_factory=dict,
        max_length=MAX_TAGS,
        description=f"at most {MAX_TAGS} tags; string values at most {MAX_TAG_VALUE} characters",
    )


class TagsIn(Strict):
    """Tags to merge into a run's tags (a key given again takes the new value)."""

    tags: dict[Annotated[str, Field(max_length=100)], TagValue] = Field(
        default_factory=dict,
        max_length=MAX_TAGS,
        description=f"at most {MAX_TAGS} tags; string values at most {MAX_TAG_VALUE} characters",
    )


class ResultIn(Strict):
    metrics: MetricsIn
    trajectory: Annotated[list[TrajectoryPoint] | None, BeforeValidator(_points_capped)] = Field(
        None,
        max_length=MAX_TRAJECTORY_POINTS_CEILING,
        description=f"at most {DEFAULT_MAX_TRAJECTORY_POINTS:,} points unless the server sets "
        "MIXOPT_MAX_TRAJECTORY_POINTS",
    )
    status: Literal["completed", "failed"] = "completed"
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None, description="what the run cost (any unit, e.g. FLOPs or GPU-hours); kept when omitted"
    )


# -- embeddings -----------------------------------------------------------------------------------


class EmbeddingsIn(Strict):
    vectors: list[Annotated[list[FiniteFloat], Field(min_length=1, max_length=65_536)]] = Field(
        min_length=1, max_length=1_000_000
    )
