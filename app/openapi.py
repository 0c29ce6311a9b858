"""OpenAPI that tells the truth about errors: every 4xx/5xx an operation can answer, as ``application/problem+json``.

Routes declare their error answers with ``responses=problem_responses(404, 409, ...)`` (routers declare the ones
all their routes share); ``install`` adds the ``Problem`` schema those answers reference to the components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"

_DESCRIPTIONS = {
    400: "Bad Request: the body is not parseable JSON, or the input breaks a rule of the service",
    401: "Unauthorized: a bearer token is needed (auth on)",
    403: "Forbidden: this needs an admin token",
    404: "Not Found: the project, run or session does not exist (or is not the token's project)",
    409: "Conflict: the request contradicts stored state (same id with other content, a finished run...)",
    413: "Content Too Large: the body is over MIXOPT_MAX_BODY_BYTES",
    422: "Unprocessable Content: a field is invalid; `errors` names each one",
    429: "Too Many Requests: the project has MIXOPT_FITS_PER_PROJECT computations running (retry after Retry-After)",
    503: "Service Unavailable: the database is unreachable (retry after Retry-After)",
    504: "Gateway Timeout: the mixer did not finish within MIXOPT_FIT_TIMEOUT_SECONDS of the request; it was cancelled",
}


class ProblemFieldError(BaseModel):
    loc: str = Field(description="the offending input, e.g. runs[17].weights.web")
    msg: str
    line: int | None = Field(None, description="for an item read from an imported file: its line there")


class Problem(BaseModel):
    """An RFC 9457 problem: every error answer of the API."""

    type: str = Field(description="a URI naming the kind of problem (ends with `code`)")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable, machine-readable")
    errors: list[ProblemFieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router: each status answered with a problem document."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for status in statuses
    }


def install(app: FastAPI) -> None:
    """Add ``Problem`` (and the model it nests) to the components of ``app``'s OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(problem.pop("$defs", {}))
            components["Problem"] = problem
            # every 422 is documented as a problem: FastAPI's own validation-error models are unused
            for unused in ("HTTPValidationError", "ValidationError"):
                if unused in components and f'"#/components/schemas/{unused}"' not in _refs(schema):
                    del components[unused]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _refs(schema: dict[str, Any]) -> str:
    import json

    paths = json.dumps(schema.get("paths", {}))
    others = json.dumps({k: v for k, v in schema["components"]["schemas"].items() if "Validation" not in k})
    return paths + others
