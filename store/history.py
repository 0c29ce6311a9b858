"""The answers the API gave: stored recommendations and evaluations, listed newest first.

Rows belong to a project (``ON DELETE CASCADE``): a purge removes them with the project, so a new project of
the same name starts with an empty history; an archived project's history is hidden with it (its routes 404).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from store.base import StoreBase, decode_page_token, encode_page_token
from store.errors import NotFound
from store.mapping import record_of, row_values
from store.models import EvaluationRow, RecommendationRow
from store.records import (
    EvaluationRecord,
    NewEvaluation,
    NewRecommendation,
    Page,
    RecommendationRecord,
)

R = TypeVar("R")


class HistoryStore(StoreBase):
    def add_recommendation(self, project_id: int, new: NewRecommendation) -> RecommendationRecord:
        return self._add(RecommendationRow, RecommendationRecord, project_id, new)

    def add_evaluation(self, project_id: int, new: NewEvaluation) -> EvaluationRecord:
        return self._add(EvaluationRow, EvaluationRecord, project_id, new)

    def list_recommendations(
        self, project_id: int, max_results: int, page_token: str | None
    ) -> Page[RecommendationRecord]:
        return self._page(RecommendationRow, RecommendationRecord, project_id, max_results, page_token)

    def list_evaluations(self, project_id: int, max_results: int, page_token: str | None) -> Page[EvaluationRecord]:
        return self._page(EvaluationRow, EvaluationRecord, project_id, max_results, page_token)

    def get_recommendation(self, project_id: int, answer_id: int) -> RecommendationRecord:
        return self._one(RecommendationRow, RecommendationRecord, project_id, answer_id, "recommendation")

    def get_evaluation(self, project_id: int, answer_id: int) -> EvaluationRecord:
        return self._one(EvaluationRow, EvaluationRecord, project_id, answer_id, "evaluation")

    def _add(self, row_cls: Any, rec_cls: type[R], project_id: int, new: Any) -> R:
        with self.tx() as s:
            row = row_cls(project_id=project_id, **row_values(new))
            s.add(row)
            s.flush()
            s.refresh(row)
            return record_of(rec_cls, row)

    def _page(
        self, row_cls: Any, rec_cls: type[R], project_id: int, max_results: int, page_token: str | None
    ) -> Page[R]:
        """Newest first: a page token holds the smallest id shown so far, the next page starts below it."""
        before = decode_page_token(page_token)
        stmt = select(row_cls).where(row_cls.project_id == project_id)
        if before:
            stmt = stmt.where(row_cls.id < before)
        with self.read() as s:
            rows = s.scalars(stmt.order_by(row_cls.id.desc()).limit(max_results + 1)).all()
            items = [record_of(rec_cls, r) for r in rows[:max_results]]
        last: Any = items[-1] if items else None
        nxt = encode_page_token(last.id) if len(rows) > max_results else None
        return Page(items, nxt)

    def _one(self, row_cls: Any, rec_cls: type[R], project_id: int, answer_id: int, kind: str) -> R:
        with self.read() as s:
            row = s.get(row_cls, answer_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"{kind} {answer_id} does not exist in this project", code=f"{kind}_not_found")
            return record_of(rec_cls, row)
