"""Response models of the mixopt client: frozen views of the HTTP API's JSON (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]
Weights = Mapping[str, float]
Fidelity = Mapping[str, float]

def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _floats(value: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in (value or {}).items()}


@dataclass(frozen=True)
class Domain:
    name: str
    tokens: float | None = None
    min_weight: float | None = None
    max_weight: float | None = None
    max_epochs: float | None = None

    @classmethod
    def from_json(cls, d: JSON) -> Domain:
        return cls(
            name=str(d["name"]),
            tokens=_opt_float(d.get("tokens")),
            min_weight=_opt_float(d.get("min_weight")),
            max_weight=_opt_float(d.get("max_weight")),
            max_epochs=_opt_float(d.get("max_epochs")),
        )


@dataclass(frozen=True)
class Family:
    """A family the domain names imply (a prefix before ``/``), its member domains and bounds on its total."""

    name: str
    domains: tuple[str, ...]
    min_weight: float | None = None
    max_weight: float | None = None

    @classmethod
    def from_json(cls, d: JSON) -> Family:
        return cls(
            name=str(d["name"]),
            domains=tuple(str(x) for x in d.get("domains") or []),
            min_weight=_opt_float(d.get("min_weight")),
            max_weight=_opt_float(d.get("max_weight")),
        )


@dataclass(frozen=True)
class DomainVersion:
    """One version of a project's domain set: its domains and the change that made it (``None`` for version 1)."""

    version: int
    domains: tuple[Domain, ...]
    change: JSON | None
    note: str = ""
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, d: JSON) -> DomainVersion:
        return cls(
            version=int(d["version"]),
            domains=tuple(Domain.from_json(x) for x in d.get("domains") or []),
            change=d.get("change"),
            note=str(d.get("note") or ""),
            created_at=_dt(d.get("created_at")),
        )


@dataclass(frozen=True)
class Project:
    """A study: its domains (in order), objective and target fidelity. ``raw`` is the full answer."""

    id: int
    name: str
    description: str
    domains: tuple[Domain, ...]
    objective: JSON
    target_fidelity: dict[str, float] | None
    allow_missing_domains: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    archived_at: datetime | None = None  # set while archived (deleted, restorable)
    fidelities: list[dict[str, float]] | None = None
    default_mixer: str | None = None
    """The project's default offline mixer (``None``: none chosen)."""
    families: tuple[Family, ...] = ()
    """Every family the domain names imply, with its bounds."""
    domain_version: int = 1
    """The current version of the domain set."""

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    @classmethod
    def from_json(cls, d: JSON) -> Project:
        tf = d.get("target_fidelity")
        return cls(
            id=int(d["id"]),
            name=str(d["name"]),
            description=str(d.get("description") or ""),
            domains=tuple(Domain.from_json(x) for x in d.get("domains") or []),
            objective=dict(d.get("objective") or {}),
            target_fidelity=None if tf is None else _floats(tf),
            allow_missing_domains=bool(d.get("allow_missing_domains", False)),
            created_at=_dt(d.get("created_at")),
            updated_at=_dt(d.get("updated_at")),
            raw=d,
            archived_at=_dt(d.get("archived_at")),
            fidelities=None if d.get("fidelities") is None else [_floats(f) for f in d["fidelities"]],
            default_mixer=d.get("default_mixer"),
            families=tuple(Family.from_json(f) for f in d.get("families") or []),
            domain_version=int(d.get("domain_version") or 1),
        )


@dataclass(frozen=True)
class Run:
    """One training run as stored: ``weights`` renormalized, ``weights_sum`` the raw sum sent."""

    id: int
    external_id: str | None
    weights: dict[str, float]
    fidelity: dict[str, float]
    status: str
    metrics: dict[str, float]
    cost: float | None = None
    weights_sum: float | None = None
    trajectory: list[JSON] | None = None
    tags: JSON = field(default_factory=dict)
    proposal_id: int | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    domain_version: int = 1
    """The version of the project's domain set the weights are over."""

    @classmethod
    def from_json(cls, d: JSON) -> Run:
        pid = d.get("proposal_id")
        return cls(
            id=int(d["id"]),
            external_id=d.get("external_id"),
            weights=_floats(d.get("weights")),
            fidelity=_floats(d.get("fidelity")),
            status=str(d["status"]),
            metrics=_floats(d.get("metrics")),
            cost=_opt_float(d.get("cost")),
            weights_sum=_opt_float(d.get("weights_sum")),
            trajectory=d.get("trajectory"),
            tags=dict(d.get("tags") or {}),
            proposal_id=None if pid is None else int(pid),
            lease_expires_at=_dt(d.get("lease_expires_at")),
            created_at=_dt(d.get("created_at")),
            updated_at=_dt(d.get("updated_at")),
            raw=d,
            domain_version=int(d.get("domain_version") or 1),
        )


@dataclass(frozen=True)
class RunPage:
    """One page of runs; pass ``next_page_token`` to get the next (``None``: last page)."""

    runs: list[Run]
    next_page_token: str | None


@dataclass(frozen=True)
class Proposal:
    """A batch of runs a mixer asked for; each is a ``pending`` run to train and post a result to.

    ``diagnostics``: how the mixer chose the batch (method, recipe, per-run strength and disagreement)."""

    id: int
    mixer: str
    config: JSON
    seed: int | None
    runs: tuple[Run, ...]
    diagnostics: JSON = field(default_factory=dict, compare=False)
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    fidelity_source: str | None = None

    @classmethod
    def from_json(cls, d: JSON) -> Proposal:
        seed = d.get("seed")
        return cls(
            id=int(d["id"]),
            mixer=str(d["mixer"]),
            config=dict(d.get("config") or {}),
            seed=None if seed is None else int(seed),
            runs=tuple(Run.from_json(r) for r in d.get("runs") or []),
            diagnostics=dict(d.get("diagnostics") or {}),
            raw=d,
            fidelity_source=d.get("fidelity_source"),
        )


@dataclass(frozen=True)
class Recommendation:
    """A mixer's best mixture: predicted objective value, its std where the mixer has one, and diagnostics.

    ``predicted_fidelity`` is the fidelity the numbers are for; ``transfer`` says how they got there:
    ``observed`` (runs exist at that fidelity), ``assumed`` (carried over from another fidelity without a model
    of the shift) or ``extrapolated`` (a fitted model across fidelities).
    """

    weights: dict[str, float]
    predicted: float
    std: float | None
    mixer: str
    config: JSON
    diagnostics: JSON
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    predicted_fidelity: dict[str, float] = field(default_factory=dict)
    transfer: str | None = None
    std_meaning: str | None = None
    """What ``std`` is for this mixer, or why there is none."""
    observed_range: JSON | None = None
    """``{min, max, fidelity}`` of the completed runs' objective at ``predicted_fidelity`` (None: no run there)."""
    beyond_observed: bool = False
    """``predicted`` lies outside ``observed_range``."""
    comparison: JSON | None = None
    """``{kind, fidelity, value, run_id, delta, detail}``: the prediction against the best completed run at
    ``predicted_fidelity`` (kind ``observed``) or, with none there, against the model's prediction there for the
    best run of another fidelity (kind ``predicted``); ``None`` when nothing could be compared."""
    id: int | None = None
    """The stored answer's id (``Client.recommendations`` lists them)."""
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, d: JSON) -> Recommendation:
        return cls(
            weights=_floats(d.get("weights")),
            predicted=float(d["predicted"]),
            std=_opt_float(d.get("std")),
            mixer=str(d.get("mixer", "")),
            config=dict(d.get("config") or {}),
            diagnostics=dict(d.get("diagnostics") or {}),
            raw=d,
            predicted_fidelity=_floats(d.get("predicted_fidelity")),
            transfer=d.get("transfer"),
            std_meaning=d.get("std_meaning"),
            observed_range=None if d.get("observed_range") is None else dict(d["observed_range"]),
            beyond_observed=bool(d.get("beyond_observed", False)),
            comparison=None if d.get("comparison") is None else dict(d["comparison"]),
            id=None if d.get("id") is None else int(d["id"]),
            created_at=_dt(d.get("created_at")),
        )


@dataclass(frozen=True)
class Prediction:
    """One predicted objective value; ``predicted_fidelity``, ``transfer``, ``std_meaning``, ``observed_range`` and
    ``beyond_observed`` as in :class:`Recommendation`."""

    mean: float
    std: float | None = None
    predicted_fidelity: dict[str, float] = field(default_factory=dict)
    transfer: str | None = None
    beyond_observed: bool = False
    std_meaning: str | None = None
    observed_range: JSON | None = None

    @classmethod
    def from_json(cls, d: JSON, page: JSON | None = None) -> Prediction:
        page = page or {}
        span = page.get("observed_range")
        return cls(mean=float(d["mean"]), std=_opt_float(d.get("std")),
                   predicted_fidelity=_floats(page.get("predicted_fidelity")), transfer=page.get("transfer"),
                   beyond_observed=bool(d.get("beyond_observed", False)), std_meaning=page.get("std_meaning"),
                   observed_range=None if span is None else dict(span))


@dataclass(frozen=True)
class EvaluationResult:
    """A mixer's cross-validated accuracy; ``predicted``/``actual`` are aligned with ``run_ids``."""

    mixer: str
    config: JSON
    spearman: float | None
    mae: float | None
    regret: float | None
    n_runs: int = 0
    predicted: list[float] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)
    error: JSON | None = None
    """``{code, detail}`` when this mixer could not be scored (the others still were)."""
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    std: list[float | None] = field(default_factory=list)
    """Held-out predictive sd of every run, aligned with ``run_ids`` (None where the mixer gives none)."""
    coverage: dict[str, float | None] = field(default_factory=dict)
    """``{"68": x, "95": y}``: share of held-out runs inside predicted +- 0.994 / 1.96 std (None without std)."""
    folds: list[JSON] = field(default_factory=list)
    """Per fold: ``{fold, n, spearman, mae, regret}``."""
    spearman_se: float | None = None
    mae_se: float | None = None

    @classmethod
    def from_json(cls, d: JSON) -> EvaluationResult:
        return cls(
            mixer=str(d["mixer"]),
            config=dict(d.get("config") or {}),
            spearman=_opt_float(d.get("spearman")),
            mae=_opt_float(d.get("mae")),
            regret=_opt_float(d.get("regret")),
            n_runs=int(d.get("n_runs", 0)),
            predicted=[float("nan") if x is None else float(x) for x in d.get("predicted") or []],
            actual=[float(x) for x in d.get("actual") or []],
            run_ids=[int(x) for x in d.get("run_ids") or []],
            error=None if d.get("error") is None else dict(d["error"]),
            raw=d,
            std=[_opt_float(x) for x in d.get("std") or []],
            coverage={str(k): _opt_float(v) for k, v in (d.get("coverage") or {}).items()},
            folds=[dict(f) for f in d.get("folds") or []],
            spearman_se=_opt_float(d.get("spearman_se")),
            mae_se=_opt_float(d.get("mae_se")),
        )


@dataclass(frozen=True)
class Evaluation:
    """A comparison of mixers: each one's :class:`EvaluationResult`, the ``fidelity`` evaluated, the ``fidelities``
    that could be chosen (``fidelity_runs``: completed runs at each) and the ``winner``
    (``{mixer, index, metric, rule, default_mixer}``); ``id`` and ``created_at`` once stored
    (``Client.evaluations`` lists them)."""

    results: list[EvaluationResult]
    fidelity: dict[str, float] | None = None
    fidelities: list[dict[str, float]] = field(default_factory=list)
    fidelity_runs: list[int] = field(default_factory=list)
    winner: JSON | None = None
    id: int | None = None
    created_at: datetime | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: JSON) -> Evaluation:
        fid = d.get("fidelity")
        return cls(
            results=[EvaluationResult.from_json(r) for r in d.get("results") or []],
            fidelity=None if fid is None else _floats(fid),
            fidelities=[_floats(f) for f in d.get("fidelities") or []],
            fidelity_runs=[int(n) for n in d.get("fidelity_runs") or []],
            winner=None if d.get("winner") is None else dict(d["winner"]),
            id=None if d.get("id") is None else int(d["id"]),
            created_at=_dt(d.get("created_at")),
            raw=d,
        )


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``rows`` runs read from the file, ``written`` of them new runs of the project,
    ``already_there`` the rest (runs it held already); ``stored`` rows sent to the store, ``new`` equals ``written``.

    ``created``: the project was made from the file's columns; ``preview``: nothing was written. ``metrics``,
    ``fidelities`` and ``ignored`` (columns no run field takes) describe the file; ``raw`` holds the answer to
    each part the file was sent in.
    """

    project: str
    rows: int
    already_there: int
    stored: int
    new: int
    total_runs: int
    created: bool = False
    preview: bool = False
    metrics: list[str] = field(default_factory=list)
    fidelities: list[dict[str, float]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    raw: list[JSON] = field(default_factory=list, repr=False, compare=False)
    written: int = 0


@dataclass(frozen=True)
class Directive:
    """What the training loop does next: train at ``weights`` until ``until_step``, then report losses there.

    ``done``: the session is over and ``weights`` is the final mixture.
    """

    weights: dict[str, float]
    until_step: int
    done: bool = False

    @classmethod
    def from_json(cls, d: JSON) -> Directive:
        return cls(weights=_floats(d.get("weights")), until_step=int(d["until_step"]), done=bool(d.get("done")))


@dataclass(frozen=True)
class SessionEvent:
    """A report (``losses`` ``None`` for the start) and the directive it produced."""

    step: int
    losses: dict[str, float] | None
    directive: Directive
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, d: JSON) -> SessionEvent:
        losses = d.get("losses")
        return cls(
            step=int(d["step"]),
            losses=None if losses is None else _floats(losses),
            directive=Directive.from_json(d["directive"]),
            created_at=_dt(d.get("created_at")),
        )


@dataclass(frozen=True)
class SessionStart:
    """How a session started: ``source`` is ``uniform``, ``initial_weights`` or ``recommendation``; ``weights``
    the mixture of its first directive; ``recommendation`` the offline answer it started from
    (``{mixer, config, fidelity, seed, weights, predicted, std, predicted_fidelity, transfer}``) or ``None``."""

    source: str
    weights: dict[str, float]
    recommendation: JSON | None = None

    @classmethod
    def from_json(cls, d: JSON) -> SessionStart:
        rec = d.get("recommendation")
        return cls(source=str(d["source"]), weights=_floats(d.get("weights")), recommendation=rec and dict(rec))


@dataclass(frozen=True)
class Session:
    """An online-mixing session; ``history`` is filled by :meth:`Client.get_session` only."""

    id: int
    project: str
    mixer: str
    config: JSON
    status: str
    step: int
    total_steps: int
    weights: dict[str, float]
    directive: Directive
    summary: JSON = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    history: tuple[SessionEvent, ...] = ()
    raw: JSON = field(default_factory=dict, repr=False, compare=False)
    start: SessionStart | None = None
    """How the session started; ``None`` for sessions from before the server recorded it."""

    @property
    def done(self) -> bool:
        return self.status == "done"

    @classmethod
    def from_json(cls, d: JSON) -> Session:
        return cls(
            id=int(d["id"]),
            project=str(d.get("project", "")),
            mixer=str(d["mixer"]),
            config=dict(d.get("config") or {}),
            status=str(d["status"]),
            step=int(d.get("step", 0)),
            total_steps=int(d.get("total_steps", 0)),
            weights=_floats(d.get("weights")),
            directive=Directive.from_json(d["directive"]),
            summary=dict(d.get("summary") or {}),
            created_at=_dt(d.get("created_at")),
            updated_at=_dt(d.get("updated_at")),
            history=tuple(SessionEvent.from_json(e) for e in d.get("history") or []),
            raw=d,
            start=None if d.get("start") is None else SessionStart.from_json(d["start"]),
        )


@dataclass(frozen=True)
class MixerInfo:
    name: str
    kind: str
    description: str
    config_schema: JSON

    @classmethod
    def from_json(cls, d: JSON) -> MixerInfo:
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            description=str(d.get("description", "")),
            config_schema=dict(d.get("config_schema") or {}),
        )


@dataclass(frozen=True)
class EmbeddingSet:
    name: str
    sha256: str
    shape: tuple[int, ...]

    @classmethod
    def from_json(cls, d: JSON) -> EmbeddingSet:
        return cls(name=str(d["name"]), sha256=str(d["sha256"]), shape=tuple(int(x) for x in d["shape"]))


@dataclass(frozen=True)
class PartialDependence:
    """The predicted objective with ``domain`` at each weight of ``grid`` (the other domains renormalised
    proportionally), averaged over the observed mixtures; ``std`` the mean predictive sd (None: the mixer gives
    none)."""

    domain: str
    grid: list[float]
    mean: list[float]
    std: list[float | None]

    @classmethod
    def from_json(cls, d: JSON) -> PartialDependence:
        return cls(
            domain=str(d["domain"]),
            grid=[float(x) for x in d.get("grid") or []],
            mean=[float(x) for x in d.get("mean") or []],
            std=[_opt_float(x) for x in d.get("std") or []],
        )


@dataclass(frozen=True)
class Importance:
    """Which domains drive a fitted mixer's predicted objective: ``importance`` maps every domain to its share
    (non-negative, summing to 1), most important first; ``method`` names the measure (``lightgbm_shap``,
    ``gp_inverse_lengthscale``, ``law_slope``, ``permutation``, ...) and ``method_detail`` says how it was taken;
    ``partial_dependence`` is on the asked domain (default: the most important one)."""

    mixer: str
    config: JSON
    method: str
    method_detail: str
    importance: dict[str, float]
    partial_dependence: PartialDependence | None
    predicted_fidelity: dict[str, float] = field(default_factory=dict)
    transfer: str | None = None
    raw: JSON = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: JSON) -> Importance:
        pd = d.get("partial_dependence")
        return cls(
            mixer=str(d.get("mixer", "")),
            config=dict(d.get("config") or {}),
            method=str(d.get("method", "")),
            method_detail=str(d.get("method_detail", "")),
            importance={str(e["domain"]): float(e["value"]) for e in d.get("importance") or []},
            partial_dependence=None if pd is None else PartialDependence.from_json(pd),
            predicted_fidelity=_floats(d.get("predicted_fidelity")),
            transfer=d.get("transfer"),
            raw=d,
        )
