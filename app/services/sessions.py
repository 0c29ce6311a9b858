"""Online sessions: start one, apply reports (idempotently), read its history.

The mixer's state lives in the session row as JSON, so any API process can take the next report. A report
is applied with an optimistic version check: of two processes racing on one step, one writes and the other
returns the directive the winner stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from app.services import mixing, telemetry
from app.services.fitting import make_problem, parse_mixer, weights_array
from app.services.runs import normalize_weights
from mixers import MixerError, OnlineMixer
from mixers.types import Directive, Report
from store.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound, relocated
from store.records import NewSession, ProjectRecord, SessionRecord
from store.repository import Store


def directive_dict(project: ProjectRecord, d: Directive) -> dict[str, Any]:
    return {
        "weights": {n: float(w) for n, w in zip(project.domain_names, d.weights, strict=True)},
        "until_step": int(d.until_step),
        "done": bool(d.done),
    }


def _phase(online: OnlineMixer, state: dict[str, Any]) -> str | None:
    """The phase the mixer is in after ``state`` (e.g. Aioli's ``sweep`` for a probe stretch), when it says."""
    summarize = getattr(online, "summary", None)
    if not callable(summarize):
        return None
    phase = summarize(state).get("phase")
    return str(phase) if phase is not None else None


def _mixer(project: ProjectRecord, session_mixer: str, config: dict[str, Any] | None, seed: int | None) -> OnlineMixer:
    cls, cfg = parse_mixer(session_mixer, config, kind="online")
    mixer = cls(make_problem(project), cfg, seed)
    assert isinstance(mixer, OnlineMixer)
    return mixer


def _invalid(exc: MixerError, loc: str) -> InvalidInput:
    return InvalidInput(
        str(exc), code="invalid_report" if loc != "config" else "invalid_session", errors=[FieldError(loc, str(exc))]
    )


def _recommended_start(
    store: Store, project: ProjectRecord, choice: Mapping[str, Any], timeout: float
) -> dict[str, Any]:
    """The offline mixer's recommendation (the recommendations use case: its fit cache, worker pool and time
    limit); any failure becomes the same problem with every error located under ``from_recommendation``."""
    fidelity = choice.get("fidelity")
    seed = choice.get("seed")
    try:
        rec = mixing.recommend(store, project, str(choice["mixer"]), choice.get("config"), fidelity, seed, timeout)
    except NotFound:
        raise
    except DomainError as exc:
        loc = "from_recommendation"
        errors = [FieldError(f"{loc}.{e.loc}", e.msg) for e in exc.errors] or [FieldError(loc, exc.detail)]
        detail = f"{loc}: mixer {choice['mixer']!r} gave no recommendation to start from: {exc.detail}"
        raise relocated(exc, detail, errors) from exc
    return {
        "mixer": rec.mixer,
        "config": rec.config,
        "fidelity": None if fidelity is None else dict(fidelity),
        "seed": seed,
        "weights": rec.weights,
        "predicted": rec.predicted,
        "std": rec.std,
        "predicted_fidelity": rec.predicted_fidelity,
        "transfer": rec.transfer,
    }


def start_session(
    store: Store,
    project_name: str,
    mixer: str,
    config: dict[str, Any] | None,
    total_steps: int | None,
    initial_weights: dict[str, float] | None,
    seed: int | None,
    from_recommendation: Mapping[str, Any] | None = None,
    timeout: float = 300.0,
) -> SessionView:
    """Start ``mixer`` on the project from uniform, ``initial_weights``, or ``from_recommendation``
    (``{mixer, config?, fidelity?, seed?}``: an offline mixer's recommendation, fitted within ``timeout``)."""
    if initial_weights is not None and from_recommendation is not None:
        msg = "give initial_weights or from_recommendation, not both"
        raise InvalidInput(msg, code="conflicting_start", errors=[FieldError("from_recommendation", msg)])
    project = store.get_project(project_name)
    online = _mixer(project, mixer, config, seed)
    steps = total_steps or getattr(online.config, "total_steps", None)
    if not steps:
        raise InvalidInput(
            "total_steps is required (in the body or the mixer config)",
            code="total_steps_missing",
            errors=[FieldError("total_steps", "required")],
        )
    init = None
    source = "uniform"
    recommendation = None
    if initial_weights is not None:
        norm, _raw, errs = normalize_weights(project, initial_weights, "initial_weights")
        if errs or norm is None:
            raise InvalidInput(errs[0].msg, code="invalid_weights", errors=errs)
        init = weights_array(project, norm)
        source = "initial_weights"
    elif from_recommendation is not None:
        recommendation = _recommended_start(store, project, from_recommendation, timeout)
        init = weights_array(project, recommendation["weights"])
        source = "recommendation"
    try:
        state, directive = online.start(int(steps), init)
    except MixerError as exc:
        raise _invalid(exc, "config") from exc
    d = directive_dict(project, directive)
    if (phase := _phase(online, state)) is not None:
        d["phase"] = phase  # lets a viewer tell probe stretches (Aioli's sweeps) from training at the mixture
    record = store.create_session(
        NewSession(
            project_id=project.id,
            mixer=mixer,
            config=online.config.model_dump(mode="json"),
            seed=seed,
            status="done" if directive.done else "active",
            total_steps=int(steps),
            state=state,
            directive=d,
            start={"source": source, "weights": d["weights"], "recommendation": recommendation},
        )
    )
    return session_view(store, record, project)


def report(store: Store, session_id: int, step: int, losses: dict[str, float]) -> dict[str, Any]:
    """Apply the report at ``step``; a replay of an applied step returns the directive it produced."""
    session, project, replay = store.session_for_report(session_id, step)
    if replay is not None and step >= 0 and replay.losses is not None:
        if replay.losses != {k: float(v) for k, v in losses.items()}:
            raise Conflict(
                f"step {step} was already reported with other losses",
                code="report_conflict",
                errors=[FieldError("losses", "differs from the report already applied at this step")],
            )
        return replay.directive
    if session.status == "done":
        raise Conflict("the session is done", code="session_done")
    expected = int(session.directive["until_step"])
    if step != expected:
        raise InvalidInput(
            f"the last directive asked for a report at step {expected}, not {step}",
            code="unexpected_step",
            errors=[FieldError("step", f"expected {expected}")],
        )
    names = project.domain_names
    # Besides every domain, a report may carry the objective's own metrics (e.g. a held-out target loss).
    objective = project.objective.get("metrics") or {}
    errors = [
        FieldError(f"losses.{k}", f"unknown domain {k!r} (nor a metric of the project's objective)")
        for k in losses
        if k not in names and k not in objective
    ]
    errors += [FieldError("losses", f"missing loss for domain {n!r}") for n in names if n not in losses]
    if errors:
        raise InvalidInput(f"{errors[0].loc}: {errors[0].msg}", code="invalid_report", errors=errors)
    online = _mixer(project, session.mixer, session.config, session.seed)
    extra = {k: float(v) for k, v in losses.items() if k not in names}
    try:
        state, directive = online.observe(
            session.state,
            Report(step=step, losses=np.array([losses[n] for n in names], dtype=np.float64), metrics=extra),
        )
    except MixerError as exc:
        raise _invalid(exc, "losses") from exc
    d = directive_dict(project, directive)
    if (phase := _phase(online, state)) is not None:
        d["phase"] = phase
    applied = store.advance_session(
        session,
        step=step,
        losses={k: float(v) for k, v in losses.items()},
        state=state,
        directive=d,
        status="done" if directive.done else "active",
    )
    if not applied:
        # Another process applied this step first: answer with what it stored.
        winner = store.session_event(session_id, step)
        if winner is None:
            raise Conflict("the session moved on concurrently; read it and retry", code="session_race")
        return winner.directive
    telemetry.SESSION_REPORTS.labels(session.mixer).inc()
    return d


@dataclass(frozen=True)
class SessionEventView:
    """One report (``losses``; None for the first directive, at step -1) and the directive it produced."""

    step: int
    losses: dict[str, float] | None
    directive: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class SessionView:
    """An online session as clients see it: where it stands, the mixer's summary of its state, how it started and
    (when asked for) the history of its reports and directives."""

    id: int
    project: str
    mixer: str
    config: dict[str, Any]
    status: str
    step: int
    total_steps: int
    weights: dict[str, float]
    directive: dict[str, Any]
    summary: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None
    start: dict[str, Any] | None
    history: list[SessionEventView] | None = None


def session_view(
    store: Store, session: SessionRecord, project: ProjectRecord, with_history: bool = False
) -> SessionView:
    summary: dict[str, Any] = {}
    try:
        online = _mixer(project, session.mixer, session.config, session.seed)
        summary = dict(online.summary(session.state))
    except InvalidInput:
        summary = {}
    history = None
    if with_history:
        events = store.session_events(session.id)
        history = [SessionEventView(e.step, e.losses, e.directive, e.created_at) for e in events]
    return SessionView(
        id=session.id,
        project=project.name,
        mixer=session.mixer,
        config=session.config,
        status=session.status,
        step=session.step,
        total_steps=session.total_steps,
        weights=session.directive["weights"],
        directive=session.directive,
        summary=summary,
        created_at=session.created_at,
        updated_at=session.updated_at,
        start=session.start,
        history=history,
    )


def get_session(store: Store, session_id: int) -> SessionView:
    """The session with its history; a session of an archived project is 404 until the project is restored."""
    session, project = store.session_with_project(session_id)
    return session_view(store, session, project, with_history=True)


def list_sessions(store: Store, project_name: str) -> list[SessionView]:
    project = store.get_project(project_name)
    return [session_view(store, s, project) for s in store.list_sessions(project.id)]
