"""The history of answers: recommendations and evaluations as stored when they were answered, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from app.deps import ProjectName, StoreDep, get_scope
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import (
    ComparisonOut,
    EvaluationIn,
    EvaluationList,
    EvaluationOut,
    RecommendationIn,
    RecommendationList,
    RecommendationOut,
)
from app.services import comparison, history
from app.services.inputs import MAX_ID
from store.records import EvaluationRecord, ProjectRecord, RecommendationRecord

router = APIRouter(
    route_class=JsonRoute,
    prefix="/api/v1/projects/{name}",
    tags=["history"],
    dependencies=[Depends(get_scope)],
    responses=problem_responses(401, 403, 404, 422, 503),
)
AnswerId = Annotated[int, Path(ge=1, le=MAX_ID, description="the stored answer's id")]
MaxResults = Annotated[int, Query(ge=1, le=1000)]
PageToken = Annotated[str | None, Query(max_length=200)]


def _request_json(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True)


def answer_recommendation(
    store: StoreDep, project: ProjectRecord, body: RecommendationIn, out: RecommendationOut, timeout: float
) -> RecommendationOut:
    """The answer with its comparison at ``predicted_fidelity``, stored (its id and created_at set); ``project``
    as the recommendation read it (read once per request)."""
    found = comparison.compare(
        store, project, out.mixer, out.config, body.seed, out.predicted, out.predicted_fidelity, timeout
    )
    out = out.model_copy(
        update={"comparison": None if found is None else ComparisonOut.model_validate(found, from_attributes=True)}
    )
    kept = history.store_recommendation(
        store, project, _request_json(body), out.model_dump(mode="json", exclude={"id", "created_at"})
    )
    return out.model_copy(update={"id": kept.id, "created_at": kept.created_at})


def answer_evaluation(store: StoreDep, name: str, body: EvaluationIn, out: EvaluationOut) -> EvaluationOut:
    """The answer, stored (its id and created_at set)."""
    kept = history.store_evaluation(
        store, name, _request_json(body), out.model_dump(mode="json", exclude={"id", "created_at"})
    )
    return out.model_copy(update={"id": kept.id, "created_at": kept.created_at})


def _recommendation(r: RecommendationRecord) -> RecommendationOut:
    return RecommendationOut.model_validate({**r.response, "id": r.id, "created_at": r.created_at})


def _evaluation(r: EvaluationRecord) -> EvaluationOut:
    return EvaluationOut.model_validate({**r.response, "id": r.id, "created_at": r.created_at})


@router.get("/recommendations", response_model=RecommendationList)
def list_recommendations(
    name: ProjectName, store: StoreDep, max_results: MaxResults = 20, page_token: PageToken = None
) -> RecommendationList:
    """The recommendations answered on the project, newest first."""
    page = history.list_recommendations(store, name, max_results, page_token)
    return RecommendationList(
        recommendations=[_recommendation(r) for r in page.items], next_page_token=page.next_page_token
    )


@router.get("/recommendations/{answer_id}", response_model=RecommendationOut)
def get_recommendation(name: ProjectName, answer_id: AnswerId, store: StoreDep) -> RecommendationOut:
    return _recommendation(history.get_recommendation(store, name, answer_id))


@router.get("/evaluations", response_model=EvaluationList)
def list_evaluations(
    name: ProjectName, store: StoreDep, max_results: MaxResults = 20, page_token: PageToken = None
) -> EvaluationList:
    """The evaluations answered on the project, newest first."""
    page = history.list_evaluations(store, name, max_results, page_token)
    return EvaluationList(evaluations=[_evaluation(r) for r in page.items], next_page_token=page.next_page_token)


@router.get("/evaluations/{answer_id}", response_model=EvaluationOut)
def get_evaluation(name: ProjectName, answer_id: AnswerId, store: StoreDep) -> EvaluationOut:
    return _evaluation(history.get_evaluation(store, name, answer_id))
