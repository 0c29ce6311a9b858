"""Domain errors say what failed (a kind and a code); the HTTP layer alone maps kinds to statuses."""

from __future__ import annotations

from fastapi.testclient import TestClient

import app.auth
import app.services.fitting
from app.problems import STATUS
from mixers import available
from store.errors import DomainError, FieldError, NotFound, relocated


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_kind_of_domain_error_has_a_status() -> None:
    subclasses = _subclasses(DomainError)
    assert app.auth.Forbidden in subclasses and app.services.fitting.TooManyFits in subclasses
    kinds = {DomainError.kind} | {sub.kind for sub in _subclasses(DomainError)}
    assert kinds <= set(STATUS), kinds - set(STATUS)


def test_domain_errors_carry_no_http_status() -> None:
    err = NotFound("gone", code="project_not_found")
    assert not hasattr(err, "status") and (err.kind, err.code) == ("not_found", "project_not_found")


def test_a_relocated_error_keeps_its_class_kind_and_code() -> None:
    busy = app.services.fitting.too_many_fits(2, 5)
    moved = relocated(busy, "from_recommendation: busy", [FieldError("from_recommendation", "busy")])
    assert type(moved) is type(busy) and moved.code == "too_many_fits" and moved.retry_after == 5
    assert str(moved) == "from_recommendation: busy" and busy.detail != moved.detail


def test_the_problem_body_keeps_its_shape(sqlite_client: TestClient) -> None:
    r = sqlite_client.get("/api/v1/projects/nope")
    assert r.status_code == 404
    assert r.json() == {
        "type": "https://mixopt.dev/problems/project_not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "project 'nope' does not exist",
        "code": "project_not_found",
    }


def test_mixers_declare_the_embedding_sets_they_need() -> None:
    needs = {name: cls.required_embedding_sets(["a", "b"]) for name, cls in available().items()}
    assert needs["ot"] == ["a", "b", "target"]
    assert needs["regmix"] == [] and needs["aioli"] == []
