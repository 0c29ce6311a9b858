"""``GET /api/v1/projects/{name}/mixers``: which mixers can answer on this project, and why not."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ProjectName, StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import MixerAvailability
from app.services.availability import mixer_availability

router = APIRouter(route_class=JsonRoute, tags=["mixers"], responses=problem_responses(401, 403, 404, 422, 503))


@router.get("/api/v1/projects/{name}/mixers", response_model=list[MixerAvailability])
def project_mixers(name: ProjectName, store: StoreDep) -> list[MixerAvailability]:
    return [MixerAvailability.model_validate(m, from_attributes=True) for m in mixer_availability(store, name)]
