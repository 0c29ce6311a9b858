"""Request and response bodies of the HTTP API (DESIGN.md section 5). Field names are a public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, FiniteFloat

from app.services.catalog import mixer_names
from app.services.inputs import (
    MAX_CONFIG_KEYS,
    MAX_DOMAINS,
    MAX_ID,
    MAX_SEED,
    MAX_TAGS,
    FidelityIn,
    Strict,
    TagValue,
    WeightsIn,
)
from app.services.inputs import (
    MAX_TAG_VALUE as MAX_TAG_VALUE,
)

# The use cases' inputs double as request bodies (re-exported for the routes).
from app.services.inputs import (
    DomainChangeIn as DomainChangeIn,
)
from app.services.inputs import (
    DomainIn as DomainIn,
)
from app.services.inputs import (
    EmbeddingsIn as EmbeddingsIn,
)
from app.services.inputs import (
    ObjectiveIn as ObjectiveIn,
)
from app.services.inputs import (
    ProjectCreate as ProjectCreate,
)
from app.services.inputs import (
    ProjectPatch as ProjectPatch,
)
from app.services.inputs import (
    ResultIn as ResultIn,
)
from app.services.inputs import (
    RunIn as RunIn,
)
from app.services.inputs import (
    RunStatus as RunStatus,
)
from app.services.inputs import (
    TagsIn as TagsIn,
)
from app.services.inputs import (
    TrajectoryPoint as TrajectoryPoint,
)


class DomainOut(BaseModel):
    name: str
    tokens: float | None = None
    min_weight: float | None = None
    max_weight: float | None = None
    max_epochs: float | None = None


class FamilyOut(BaseModel):
    """A family the domain names imply (a name prefix before ``/``), its member domains and its bounds."""

    name: str
    domains: list[str]
    min_weight: float | None = None
    max_weight: float | None = None


class DomainVersionOut(BaseModel):
    version: int
    domains: list[DomainOut]
    change: dict[str, Any] | None = Field(description="the change that made this version (null for version 1)")
    note: str
    created_at: datetime | None


class DomainVersionList(BaseModel):
    items: list[DomainVersionOut] = Field(description="oldest first")


class FidelityBestOut(BaseModel):
    """The best completed run at one fidelity."""

    fidelity: dict[str, float]
    value: float = Field(description="its objective value")
    run_id: int
    n_completed: int = Field(description="completed runs at this fidelity that report the objective")


class ProjectSummaryOut(BaseModel):
    """What the project list shows of a project's runs (``GET /projects`` only)."""

    runs: int
    completed: int
    open: int = Field(description="pending or running")
    best_value: float | None = Field(description="best objective over completed runs, in the objective's direction")
    last_activity: datetime | None = Field(description="when a run of the project last changed")
    best_by_fidelity: list[FidelityBestOut] = Field(
        default_factory=list,
        description="the best completed run at each fidelity, the fidelity with the most completed runs first "
        "(best_value ignores fidelity: compare values at one fidelity)",
    )


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
    default_mixer: str | None = Field(None, description="the project's default offline mixer (null: none chosen)")
    families: list[FamilyOut] = Field(
        default_factory=list, description="every family the domain names imply (outer before inner), with its bounds"
    )
    domain_version: int = Field(1, description="the current version of the domain set (1 at creation)")


class ProjectList(BaseModel):
    projects: list[ProjectOut]
    next_page_token: str | None


# -- runs -----------------------------------------------------------------------------------------


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
    domain_version: int = Field(1, description="the version of the project's domain set the weights are over")


class RunList(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None


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
    names = mixer_names()
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
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    tags: dict[Annotated[str, Field(max_length=100)], TagValue] | None = Field(
        None,
        max_length=MAX_TAGS,
        description="tags given to every proposed run (e.g. a campaign's name); the run's `mixer` tag stays the "
        "mixer's name",
    )


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
    diagnostics: dict[str, Any] = Field(
        default_factory=dict,
        description="how the batch was chosen: method (recipe, active, pool, pool_active), the recipe and each "
        "run's Dirichlet strength, the ensemble's disagreement and the plausibility of each run (active); and "
        "runs, aligned with runs: {run_id, role (recipe, random, explore, exploit, screen, pair, target), "
        "predicted, std} with the mixer's predicted objective and sd at the run's fidelity (null where it "
        "cannot predict)",
    )


class RecommendationIn(MixerChoice):
    fidelity: FidelityIn | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)


Transfer = Literal["observed", "assumed", "extrapolated"]
TRANSFER_DOC = (
    "observed: runs exist at predicted_fidelity; assumed: carried over from another fidelity with no model of "
    "the shift; extrapolated: a fitted model across fidelities"
)


STD_DOC = "1 standard deviation of the predictive distribution of the objective at predicted_fidelity (std_meaning)"
STD_MEANING_DOC = "what std is for this mixer (how it was obtained and calibrated), or why there is none"
OBSERVED_RANGE_DOC = (
    "min and max objective of the completed runs at predicted_fidelity (null when none is there)"
)
BEYOND_DOC = "the predicted mean lies outside observed_range: better than the best or worse than the worst run there"


class ObservedRange(BaseModel):
    min: float
    max: float
    fidelity: dict[str, float]


class ComparisonOut(BaseModel):
    """What a recommendation's prediction is compared with, at its own fidelity."""

    kind: Literal["observed", "predicted"] = Field(
        description="observed: the best completed run at predicted_fidelity; predicted: none exists there, so the "
        "model's prediction at predicted_fidelity for the best run observed at another fidelity"
    )
    fidelity: dict[str, float] = Field(description="the fidelity of value (always predicted_fidelity)")
    value: float = Field(description="the observed objective (observed) or the model's prediction (predicted)")
    run_id: int | None = Field(description="the run compared with")
    delta: float = Field(description="predicted - value (negative: lower than the run)")
    detail: str = Field(description="one sentence saying what was compared")


STORED_DOC = "set when the answer was stored (GET .../{id} reads it back)"
DOMAIN_MAPPING_DOC = (
    "domain_mapping, when some runs read are from an older version of the domain set: {version, counts: {exact, "
    "assumed, dropped}, assumed_run_ids, dropped_run_ids, notes}"
)


class RecommendationOut(BaseModel):
    weights: dict[str, float]
    predicted: float
    std: float | None = Field(description=STD_DOC)
    mixer: str
    config: dict[str, Any]
    diagnostics: dict[str, Any]
    predicted_fidelity: dict[str, float] = Field(description="the fidelity the predicted numbers are for")
    transfer: Transfer = Field(description=TRANSFER_DOC)
    std_meaning: str | None = Field(None, description=STD_MEANING_DOC)
    observed_range: ObservedRange | None = Field(None, description=OBSERVED_RANGE_DOC)
    beyond_observed: bool = Field(False, description=BEYOND_DOC)
    comparison: ComparisonOut | None = Field(
        None, description="the prediction against a run at predicted_fidelity (null: no completed run anywhere)"
    )
    id: int | None = Field(None, description=STORED_DOC)
    created_at: datetime | None = Field(None, description=STORED_DOC)


class RecommendationList(BaseModel):
    recommendations: list[RecommendationOut] = Field(description="newest first")
    next_page_token: str | None


class PredictionIn(MixerChoice):
    fidelity: FidelityIn | None = None
    mixtures: list[WeightsIn] = Field(min_length=1, max_length=100_000)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)


class PredictionOut(BaseModel):
    mean: float
    std: float | None = Field(description=STD_DOC)
    beyond_observed: bool = Field(False, description=BEYOND_DOC)


class PredictionsOut(BaseModel):
    predictions: list[PredictionOut]
    predicted_fidelity: dict[str, float] = Field(description="the fidelity the predicted numbers are for")
    transfer: Transfer = Field(description=TRANSFER_DOC)
    diagnostics: dict[str, Any] = Field(default_factory=dict, description="how the fidelity was answered")
    std_meaning: str | None = Field(None, description=STD_MEANING_DOC)
    observed_range: ObservedRange | None = Field(None, description=OBSERVED_RANGE_DOC)


MixerName = Annotated[str, Field(min_length=1, max_length=64, json_schema_extra=_registered_mixers)]


class EvaluationIn(Strict):
    mixers: list[MixerName | MixerChoice] = Field(
        min_length=1, max_length=16, description='mixer names or {mixer, config}: ["regmix", {"mixer": "mfbo"}]'
    )
    folds: int = Field(5, ge=2, le=20)
    fidelity: FidelityIn | None = Field(
        None, description="evaluate on the completed runs at this fidelity (default: the fidelity with the most)"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    default_mixer: str | None = Field(
        None, min_length=1, max_length=64,
        description="the mixer a tie keeps (one of mixers; default: the project's default_mixer setting if it is "
        "evaluated, else the first listed)",
    )

    def choices(self) -> list[tuple[str, dict[str, Any] | None]]:
        """``(mixer, config)`` of each entry of ``mixers``."""
        return [(m, None) if isinstance(m, str) else (m.mixer, m.config) for m in self.mixers]


class EvaluationError(BaseModel):
    code: str = Field(description="machine-readable, e.g. mixer_cannot_answer, fit_timeout")
    detail: str


def no_coverage() -> dict[str, float | None]:
    return {"68": None, "95": None}


class FoldScoreOut(BaseModel):
    fold: int
    n: int = Field(description="held-out runs in this fold")
    spearman: float | None
    mae: float | None
    regret: float | None


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
    std: list[float | None] = Field(
        default_factory=list,
        description="held-out predictive sd of every run, aligned with run_ids (null where the mixer gives none)",
    )
    coverage: dict[str, float | None] = Field(
        default_factory=no_coverage,
        description='"68" and "95": share (0..1) of the held-out runs inside predicted +- 0.994 std and +- 1.96 std '
        "(null when the mixer gives no std)",
    )
    folds: list[FoldScoreOut] = Field(default_factory=list, description="each fold's held-out runs scored alone")
    spearman_se: float | None = Field(None, description="standard error of the mean Spearman over folds")
    mae_se: float | None = Field(None, description="standard error of the mean MAE over folds")


class WinnerOut(BaseModel):
    mixer: str | None = Field(description="the winning mixer (null when none was scored)")
    index: int | None = Field(None, description="its position in results")
    metric: Literal["spearman"] = "spearman"
    rule: str = Field(description="the rule, in words, and how it decided here")
    default_mixer: str = Field(description="the mixer a tie keeps")


class EvaluationOut(BaseModel):
    results: list[EvaluationResult]
    fidelity: dict[str, float] | None = Field(None, description="the fidelity evaluated: only runs there were scored")
    fidelities: list[dict[str, float]] = Field(
        default_factory=list,
        description="the fidelities that could be chosen (with at least folds completed runs), most runs first",
    )
    fidelity_runs: list[int] = Field(default_factory=list, description="completed runs at each of fidelities")
    winner: WinnerOut | None = None
    diagnostics: dict[str, Any] = Field(default_factory=dict, description=DOMAIN_MAPPING_DOC)
    id: int | None = Field(None, description=STORED_DOC)
    created_at: datetime | None = Field(None, description=STORED_DOC)


class EvaluationList(BaseModel):
    evaluations: list[EvaluationOut] = Field(description="newest first")
    next_page_token: str | None


# -- sessions -------------------------------------------------------------------------------------


class FromRecommendationIn(RecommendationIn):
    """An offline mixer's recommendation to start an online session from (the body of POST .../recommendations)."""


class SessionIn(MixerChoice):
    total_steps: int | None = Field(None, ge=1, le=10**9)
    initial_weights: WeightsIn | None = None
    from_recommendation: FromRecommendationIn | None = Field(
        None,
        description="start from this offline mixer's recommendation on the project (not with initial_weights): "
        "static proportions learned on short runs, adjusted online over the full run",
    )
    seed: int | None = Field(None, ge=0, le=MAX_SEED)


class DirectiveOut(BaseModel):
    weights: dict[str, float]
    until_step: int
    done: bool = False
    phase: str | None = Field(None, description="the mixer's phase for this stretch, e.g. aioli's 'sweep' (probes)")


class SessionStartRecommendation(BaseModel):
    mixer: str
    config: dict[str, Any]
    fidelity: dict[str, float] | None = Field(None, description="the fidelity asked for (null: the target)")
    seed: int | None = None
    weights: dict[str, float] = Field(description="the recommended mixture, before the online mixer's bounds")
    predicted: float
    std: float | None = None
    predicted_fidelity: dict[str, float]
    transfer: Transfer


class SessionStartOut(BaseModel):
    source: Literal["uniform", "initial_weights", "recommendation"]
    weights: dict[str, float] = Field(description="the mixture the session started from (its first directive)")
    recommendation: SessionStartRecommendation | None = None


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
    start: SessionStartOut | None = Field(
        None, description="how the session started (null for sessions made before this was recorded)"
    )


class SessionEventOut(BaseModel):
    step: int
    losses: dict[str, float] | None
    directive: DirectiveOut
    created_at: datetime | None


class SessionDetailOut(SessionOut):
    history: list[SessionEventOut]


class ReportIn(Strict):
    step: int = Field(ge=0, le=MAX_ID)
    losses: dict[Annotated[str, Field(max_length=100)], FiniteFloat] = Field(min_length=1, max_length=MAX_DOMAINS)


class ReportOut(BaseModel):
    directive: DirectiveOut


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_page_token: str | None = None


# -- embeddings -----------------------------------------------------------------------------------


class EmbeddingOut(BaseModel):
    name: str
    sha256: str
    shape: list[int]


# -- importance -----------------------------------------------------------------------------------


class ImportanceIn(MixerChoice):
    fidelity: FidelityIn | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    domain: str | None = Field(
        None, min_length=1, max_length=200,
        description="the domain of the partial dependence (default: the most important one)",
    )


class DomainImportanceOut(BaseModel):
    domain: str
    value: float = Field(description="share of the importance, non-negative; the shares sum to 1")


class PartialDependenceOut(BaseModel):
    domain: str
    grid: list[float] = Field(description="weights of the domain probed (the range the observed runs span)")
    mean: list[float] = Field(
        description="predicted objective with the domain at each grid weight and the other domains renormalised "
        "proportionally, averaged over the observed mixtures"
    )
    std: list[float | None] = Field(description="mean predictive sd at each grid weight (null: the mixer gives none)")


class ImportanceOut(BaseModel):
    mixer: str
    config: dict[str, Any]
    method: str = Field(
        description="lightgbm_shap, lightgbm_shap+law_slope, linear_coefficients, law_slope, "
        "gp_inverse_lengthscale or permutation"
    )
    method_detail: str = Field(description="how the importance was measured, in a sentence")
    importance: list[DomainImportanceOut] = Field(description="every domain, most important first")
    partial_dependence: PartialDependenceOut | None
    predicted_fidelity: dict[str, float] = Field(description="the fidelity the predicted numbers are for")
    transfer: Transfer = Field(description=TRANSFER_DOC)
    diagnostics: dict[str, Any] = Field(default_factory=dict, description=DOMAIN_MAPPING_DOC)
