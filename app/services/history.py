"""The history of a project's answers: every recommendation and evaluation the API answered, stored with the
request and the response as sent, listed newest first."""

from __future__ import annotations

from typing import Any

from store.records import (
    EvaluationRecord,
    NewEvaluation,
    NewRecommendation,
    Page,
    ProjectRecord,
    RecommendationRecord,
)
from store.repository import Store


def store_recommendation(
    store: Store, project: ProjectRecord, request: dict[str, Any], response: dict[str, Any]
) -> RecommendationRecord:
    """Keep a recommendation answered on ``project`` (``response``: the JSON body, without id and created_at)."""
    new = NewRecommendation(
        mixer=str(response.get("mixer") or request.get("mixer") or ""),
        config=dict(response.get("config") or {}),
        request=request,
        response=response,
    )
    return store.add_recommendation(project.id, new)


def store_evaluation(store: Store, project: str, request: dict[str, Any], response: dict[str, Any]) -> EvaluationRecord:
    """Keep an evaluation answered on ``project``: its mixers and their configs, in the order of the results."""
    record = store.get_project(project)
    results = list(response.get("results") or [])
    new = NewEvaluation(
        mixers=[str(r.get("mixer")) for r in results],
        config=[dict(r.get("config") or {}) for r in results],
        request=request,
        response=response,
    )
    return store.add_evaluation(record.id, new)


def list_recommendations(
    store: Store, project: str, max_results: int, page_token: str | None
) -> Page[RecommendationRecord]:
    return store.list_recommendations(store.get_project(project).id, max_results, page_token)


def list_evaluations(store: Store, project: str, max_results: int, page_token: str | None) -> Page[EvaluationRecord]:
    return store.list_evaluations(store.get_project(project).id, max_results, page_token)


def get_recommendation(store: Store, project: str, answer_id: int) -> RecommendationRecord:
    return store.get_recommendation(store.get_project(project).id, answer_id)


def get_evaluation(store: Store, project: str, answer_id: int) -> EvaluationRecord:
    return store.get_evaluation(store.get_project(project).id, answer_id)
