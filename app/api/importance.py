"""``POST /api/v1/projects/{name}/importance``: which domains drive a fitted mixer's predicted objective."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.deps import ProjectName, SettingsDep, StoreDep, get_scope
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import ImportanceIn, ImportanceOut
from app.services import importance as svc

router = APIRouter(
    route_class=JsonRoute,
    tags=["mixers"],
    dependencies=[Depends(get_scope)],
    responses=problem_responses(401, 403, 422, 503),
)


@router.post(
    "/api/v1/projects/{name}/importance",
    response_model=ImportanceOut,
    responses=problem_responses(400, 404, 413, 429, 504),
)
def importance(name: ProjectName, body: ImportanceIn, store: StoreDep, settings: SettingsDep) -> ImportanceOut:
    """Per-domain importance of the mixer fitted on the project's completed runs (its own measure where it has
    one: LightGBM SHAP, GP lengthscales, the law's slopes; else permutation importance of its predictions) and
    the partial dependence of its prediction on one domain."""
    out = svc.importance(
        store, name, body.mixer, body.config, body.fidelity, body.seed, body.domain, settings.fit_timeout_seconds
    )
    return ImportanceOut.model_validate(out, from_attributes=True)
