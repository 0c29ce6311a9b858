"""Offline mixer use cases: recommend, predict and propose (the mixer runs through ``app.services.fitting``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from app.services import telemetry
from app.services.fitting import (
    Deadline,
    FitTimeout,
    cache_key,
    cached,
    finite_or_none,
    fitted,
    jsonable,
    load_context,
    mixer_call,
    mixture_matrix,
    parse_mixer,
    run_limited,
    weights_array,
    weights_dict,
)
from app.services.reuse import with_reuse
from app.services.runs import content_hash, sweep_leases
from mixers.extrapolation import extrapolation
from mixers.simplex import novel_mask
from mixers.types import Objective, Observation, fidelity_key
from store.errors import InvalidInput
from store.records import MAX_ID, OPEN_STATUSES, NewProposal, NewRun, ProjectRecord, ProposalRecord, RunRecord
from store.repository import Store


@dataclass(frozen=True)
class RecommendationAnswer:
    """A mixer's best mixture for a fidelity: the predicted objective there (``predicted_fidelity``), its std where
    the mixer has one, and how the numbers transfer to that fidelity (``observed``, ``assumed``, ``extrapolated``)."""

    weights: dict[str, float]
    predicted: float
    std: float | None
    mixer: str
    config: dict[str, Any]
    diagnostics: dict[str, Any]
    predicted_fidelity: dict[str, float]
    transfer: str
    std_meaning: str | None = None
    observed_range: dict[str, Any] | None = None
    beyond_observed: bool = False


@dataclass(frozen=True)
class Prediction:
    mean: float | None
    std: float | None
    beyond_observed: bool = False


@dataclass(frozen=True)
class PredictionsAnswer:
    """Predictions of the objective for the asked mixtures, in their order."""

    predictions: list[Prediction]
    predicted_fidelity: dict[str, float]
    transfer: str
    diagnostics: dict[str, Any]
    std_meaning: str | None = None
    observed_range: dict[str, Any] | None = None


def observed_range(
    observations: Sequence[Observation], objective: Objective, fidelity: Mapping[str, float]
) -> dict[str, Any] | None:
    """``{min, max, fidelity}`` of the objective over the completed runs at ``fidelity``; None without one."""
    key = fidelity_key(fidelity)
    values = [objective.value(o.metrics) for o in observations if fidelity_key(o.fidelity) == key]
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None
    return {"min": float(min(finite)), "max": float(max(finite)), "fidelity": dict(fidelity)}


def beyond_observed(mean: float | None, span: Mapping[str, Any] | None) -> bool:
    """Whether ``mean`` lies outside the observed range ``span`` (False without a range or a mean)."""
    if mean is None or span is None:
        return False
    return bool(mean < span["min"] or mean > span["max"])


def recommend(
    store: Store,
    project: str | ProjectRecord,
    mixer: str,
    config: dict[str, Any] | None,
    fidelity: dict[str, float] | None,
    seed: int | None,
    timeout: float,
) -> RecommendationAnswer:
    """The mixer's recommendation on ``project`` (its name, or the record a caller already read)."""
    deadline = Deadline(timeout)
    project, config = with_reuse(store, project, config)  # reuse: true filled from the domain-set history
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project, cls)
    seed = 0 if seed is None else seed
    key = cache_key(
        "recommendation", ctx.project.uid, ctx.project.data_version, cls.name, cfg.model_dump(mode="json"), seed,
        fidelity,
    )

    def compute() -> RecommendationAnswer:
        model = fitted(store, ctx, cls, cfg, seed, deadline)
        rec = mixer_call(lambda: run_limited(lambda: model.recommend(fidelity), deadline, ctx.project.uid))
        predicted = finite_or_none(rec.predicted)
        if predicted is None:
            raise InvalidInput("the mixer produced no finite prediction", code="mixer_cannot_answer")
        answer = mixer_call(lambda: model.fidelity_answer(fidelity))
        span = observed_range(ctx.observations, ctx.objective, answer.fidelity)
        diagnostics = dict(rec.diagnostics)
        if answer.note:
            diagnostics["transfer_note"] = answer.note
        diagnostics["extrapolation"] = extrapolation(rec.weights, answer.fidelity, ctx.observations)
        if ctx.domain_mapping is not None:
            diagnostics["domain_mapping"] = ctx.domain_mapping
        return RecommendationAnswer(
            weights=weights_dict(ctx.project, rec.weights),
            predicted=predicted,
            std=finite_or_none(rec.std),
            mixer=cls.name,
            config=cfg.model_dump(mode="json"),
            diagnostics=jsonable(diagnostics),
            predicted_fidelity=dict(answer.fidelity),
            transfer=answer.transfer,
            std_meaning=model.std_meaning(),
            observed_range=span,
            beyond_observed=beyond_observed(predicted, span),
        )

    return cached(store, ctx.project.id, key, compute, cls.name)


def predict(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    fidelity: dict[str, float] | None,
    mixtures: Sequence[Mapping[str, float]],
    seed: int | None,
    timeout: float,
) -> PredictionsAnswer:
    """The objective predicted for each of ``mixtures`` at ``fidelity``."""
    deadline = Deadline(timeout)
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project_name, cls)
    x = mixture_matrix(ctx.project, mixtures, "mixtures")
    model = fitted(store, ctx, cls, cfg, 0 if seed is None else seed, deadline)
    pred = mixer_call(lambda: run_limited(lambda: model.predict(x, fidelity), deadline, ctx.project.uid))
    answer = mixer_call(lambda: model.fidelity_answer(fidelity))
    std = pred.std if pred.std is not None else [None] * len(pred.mean)
    span = observed_range(ctx.observations, ctx.objective, answer.fidelity)
    means = [finite_or_none(float(m)) for m in pred.mean]
    return PredictionsAnswer(
        predictions=[
            Prediction(m, finite_or_none(s), beyond_observed(m, span)) for m, s in zip(means, std, strict=True)
        ],
        predicted_fidelity=dict(answer.fidelity),
        transfer=answer.transfer,
        diagnostics={
            **({"transfer_note": answer.note} if answer.note else {}),
            **({"domain_mapping": ctx.domain_mapping} if ctx.domain_mapping is not None else {}),
        },
        std_meaning=model.std_meaning(),
        observed_range=span,
    )


def default_fidelities(
    project: ProjectRecord,
    runs: Sequence[RunRecord],
    fidelity: dict[str, float] | None,
    fidelities: list[dict[str, float]] | None,
) -> tuple[list[dict[str, float]] | None, str]:
    """The fidelities offered to a mixer's ``propose`` and where they come from (DESIGN 5).

    The request's ``fidelity``/``fidelities`` (``request``); else the project's ladder (``project_ladder``); else
    the fidelities the project's completed and open runs use, most used first (``runs``); else, with no run yet,
    the target (``target``) or nothing (``none``). Never the target while runs or a ladder exist.
    """
    if fidelity is not None or fidelities:
        return fidelities, "request"
    if project.fidelities:
        return [dict(f) for f in project.fidelities], "project_ladder"
    counts: dict[str, tuple[int, dict[str, float]]] = {}
    for r in runs:
        if r.status == "completed" or r.status in OPEN_STATUSES:
            key = fidelity_key(r.fidelity)
            n, fid = counts.get(key, (0, dict(r.fidelity)))
            counts[key] = (n + 1, fid)
    if counts:
        order = sorted(counts, key=lambda k: (-counts[k][0], -_log_size(counts[k][1]), k))
        return [counts[k][1] for k in order], "runs"
    if project.target_fidelity:
        return [dict(project.target_fidelity)], "target"
    return None, "none"


def _log_size(fid: Mapping[str, float]) -> float:
    return float(sum(np.log(v) for v in fid.values() if v > 0))


class ProposalMade(NamedTuple):
    """What :func:`propose` created: the proposal row, its pending runs, where the fidelities offered to the mixer
    came from (:func:`default_fidelities`) and the mixer's diagnostics of how it chose the batch."""

    proposal: ProposalRecord
    runs: list[RunRecord]
    fidelity_source: str
    diagnostics: dict[str, Any]


def propose(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    n: int,
    fidelity: dict[str, float] | None,
    fidelities: list[dict[str, float]] | None,
    candidates: Sequence[Mapping[str, float]] | None,
    seed: int | None,
    lease_seconds: float,
    timeout: float,
    tags: Mapping[str, Any] | None = None,
) -> ProposalMade:
    """Ask the mixer for ``n`` runs and create them ``pending`` in one transaction, each tagged with ``tags``
    (the ``mixer`` tag stays the mixer's name).

    Dedup is checked again inside the write transaction (which holds the project's write lock), so two
    concurrent proposals cannot create the same pending mixture twice. Returns the proposal, its runs, where the
    fidelities offered to the mixer came from (:func:`default_fidelities`) and the mixer's diagnostics of how the
    batch was chosen (``runs`` entries aligned with the created runs).
    """
    deadline = Deadline(timeout)
    project, config = with_reuse(store, project_name, config)  # reuse: true filled from the domain-set history
    cls, cfg = parse_mixer(mixer, config)
    ctx = load_context(store, project, cls)
    sweep_leases(store, ctx.project.id)  # a write path: the stored statuses catch up with what reads see
    pool = mixture_matrix(ctx.project, candidates, "candidates") if candidates else None
    if seed is None:
        seed = int(np.random.default_rng().integers(0, MAX_ID))
    model = fitted(store, ctx, cls, cfg, seed, deadline)
    offered, source = default_fidelities(ctx.project, ctx.runs, fidelity, fidelities)
    if source in ("project_ladder", "runs") and not model.takes_default_fidelities():
        offered, source = None, "target"
    proposed = mixer_call(
        lambda: run_limited(lambda: model.propose(n, fidelity, ctx.pending, pool, offered), deadline, ctx.project.uid)
    )
    rows = []
    for p in proposed:
        w = weights_dict(ctx.project, p.weights)
        fid = dict(p.fidelity)
        content = {
            "weights": {k: round(v, 12) for k, v in w.items()},
            "fidelity": fid,
            "status": "pending",
            "mixer": cls.name,
            "seed": seed,
        }
        rows.append(
            NewRun(
                external_id=None,
                weights=w,
                weights_sum=1.0,
                fidelity=fid,
                fidelity_key=fidelity_key(fid),
                cost=None,
                status="pending",
                metrics={},
                trajectory=None,
                tags={**(tags or {}), "mixer": cls.name},
                content_hash=content_hash(content),
                result_hash=None,
                domain_version=ctx.project.domain_version,
            )
        )
    proposal, runs = store.create_proposal(
        ctx.project.id,
        NewProposal(mixer=cls.name, config=cfg.model_dump(mode="json"), seed=seed),
        rows,
        lease_seconds,
        dedupe=lambda existing: _drop_known(ctx.project, rows, existing),
    )
    telemetry.PROPOSALS.labels(cls.name).inc()
    telemetry.PROPOSED_RUNS.labels(cls.name).inc(len(runs))
    predictions = _predict_proposed(model, proposed, deadline, ctx.project.uid)
    diagnostics = _proposal_diagnostics(ctx.project, proposed, runs, predictions)
    if ctx.proposal_mapping is not None:
        diagnostics["domain_mapping"] = ctx.proposal_mapping
    return ProposalMade(proposal, runs, source, diagnostics)


# The role of every run of a batch chosen by one method, for mixers that give no role per run.
ROLE_BY_METHOD = {
    "recipe": "recipe",  # drawn from the RegMix recipe (random Dirichlet draws around the prior)
    "pool": "random",  # a random eligible row of the caller's candidates
    "active": "explore",  # where an ensemble of models disagrees most
    "pool_active": "explore",
    "diverse_top": "exploit",  # the best predicted, spread out
    "pool_diverse_top": "exploit",
}


def _predict_proposed(
    model: Any, proposed: Sequence[Any], deadline: Deadline, project_uid: str
) -> list[tuple[float | None, float | None]]:
    """The fitted mixer's predicted objective and sd for each proposed run at its own fidelity (None where the mixer
    cannot predict)."""
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(proposed)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(proposed):
        groups.setdefault(fidelity_key(p.fidelity), []).append(i)
    for idx in groups.values():
        x = np.vstack([np.asarray(proposed[i].weights, dtype=np.float64) for i in idx])
        fid = dict(proposed[idx[0]].fidelity) or None
        def call(x: Any = x, fid: dict[str, float] | None = fid) -> Any:
            return run_limited(lambda: model.predict(x, fid), deadline, project_uid)

        try:
            pred = mixer_call(call)
        except (InvalidInput, FitTimeout):
            continue  # the mixer cannot predict here (e.g. no run to fit yet) or ran out of time: predicted is null
        std = pred.std if pred.std is not None else [None] * len(idx)
        for i, m, sd in zip(idx, pred.mean, std, strict=True):
            out[i] = (finite_or_none(float(m)), finite_or_none(sd))
    return out


def _proposal_diagnostics(
    project: ProjectRecord,
    proposed: Sequence[Any],
    runs: Sequence[RunRecord],
    predictions: Sequence[tuple[float | None, float | None]],
) -> dict[str, Any]:
    """The mixer's batch diagnostics (empty when it gives none), with one entry per created run (a concurrent
    proposal may have taken some mixtures), labelled with its id: the mixer's own per-run entries, its ``role``
    (the mixer's, else :data:`ROLE_BY_METHOD` of the batch's method) and the ``predicted`` objective and ``std``
    at the run's fidelity."""
    diag = dict(getattr(proposed, "diagnostics", None) or {})
    per_run = diag.pop("runs", None)
    if per_run is None or len(per_run) != len(proposed):
        per_run = [{} for _ in proposed]
    default_role = ROLE_BY_METHOD.get(str(diag.get("method", "")), "random" if not diag else "proposed")
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for p, entry, (mean, sd) in zip(proposed, per_run, predictions, strict=True):
        key = (*np.round(p.weights, 9), fidelity_key(p.fidelity))
        by_key[key] = {**entry, "role": entry.get("role", default_role), "predicted": mean, "std": sd}
    diag["runs"] = [
        {"run_id": r.id, **by_key.get((*np.round(weights_array(project, r.weights), 9), fidelity_key(r.fidelity)),
                                      {"role": default_role, "predicted": None, "std": None})}
        for r in runs
    ]
    return jsonable(diag)


def _drop_known(
    project: ProjectRecord, rows: list[NewRun], existing: list[tuple[dict[str, float], str]]
) -> list[NewRun]:
    """Rows whose (mixture, fidelity) no completed or open run of the project holds yet; ``existing`` holds the
    ``(weights, fidelity_key)`` of those runs.

    Runs under the project's write lock: one matrix per fidelity and one k-d tree query per fidelity, so the cost
    grows with (runs + rows), not with their product.
    """
    names = project.domain_names
    known: dict[str, list[list[float]]] = {}
    for weights, key in existing:
        known.setdefault(key, []).append([weights.get(n, 0.0) for n in names])
    keep = np.ones(len(rows), dtype=bool)
    by_fid: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_fid.setdefault(row.fidelity_key, []).append(i)
    for key, idx in by_fid.items():
        if key in known:
            new = np.array([[rows[i].weights.get(n, 0.0) for n in names] for i in idx], dtype=np.float64)
            keep[idx] = novel_mask(new, np.array(known[key], dtype=np.float64), tol=1e-9)
    return [row for row, ok in zip(rows, keep, strict=True) if ok]
