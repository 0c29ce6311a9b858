"""Online sessions: start, report, read."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ProjectName, ScopeDep, SessionId, SettingsDep, StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import ReportIn, ReportOut, SessionDetailOut, SessionIn, SessionList, SessionOut
from app.services import access
from app.services import sessions as svc

router = APIRouter(route_class=JsonRoute, tags=["sessions"], responses=problem_responses(401, 403, 404, 422, 503))
BODY = problem_responses(400, 409, 413)
# a from_recommendation whose offline mixer runs past MIXOPT_FIT_TIMEOUT_SECONDS answers 504
START = problem_responses(400, 409, 413, 504)


def _check_scope(store: StoreDep, scope: ScopeDep, session_id: SessionId) -> None:
    """Another project's session answers the same 404 as a missing one."""
    if scope.project_id is not None and not scope.allows(access.session_project_id(store, session_id)):
        raise access.session_not_found(session_id)


@router.post("/api/v1/projects/{name}/sessions", status_code=201, response_model=SessionOut, responses=START)
def start_session(name: ProjectName, body: SessionIn, store: StoreDep, settings: SettingsDep) -> SessionOut:
    view = svc.start_session(
        store,
        name,
        body.mixer,
        body.config,
        body.total_steps,
        body.initial_weights,
        body.seed,
        None if body.from_recommendation is None else body.from_recommendation.model_dump(),
        settings.fit_timeout_seconds,
    )
    return SessionOut.model_validate(view, from_attributes=True)


@router.get("/api/v1/projects/{name}/sessions", response_model=SessionList)
def list_sessions(name: ProjectName, store: StoreDep) -> SessionList:
    views = svc.list_sessions(store, name)
    return SessionList(sessions=[SessionOut.model_validate(v, from_attributes=True) for v in views])


@router.post("/api/v1/sessions/{session_id}/reports", response_model=ReportOut, responses=BODY)
def post_report(session_id: SessionId, body: ReportIn, store: StoreDep, scope: ScopeDep) -> ReportOut:
    _check_scope(store, scope, session_id)
    return ReportOut(directive=svc.report(store, session_id, body.step, body.losses))


@router.get("/api/v1/sessions/{session_id}", response_model=SessionDetailOut)
def get_session(session_id: SessionId, store: StoreDep, scope: ScopeDep) -> SessionDetailOut:
    _check_scope(store, scope, session_id)
    return SessionDetailOut.model_validate(svc.get_session(store, session_id), from_attributes=True)
