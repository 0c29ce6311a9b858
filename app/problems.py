"""RFC 9457 problem responses: every error the API returns goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from store.errors import DomainError, FieldError, loc_text

PROBLEM_TYPE = "https://mixopt.dev/problems/"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

STATUS = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "invalid": 422,
    "busy": 429,
    "unavailable": 503,
    "timeout": 504,
}
"""The HTTP status of each kind of domain error (``store.errors.DomainError.kind``)."""


def problem(
    status: int, code: str, detail: str, errors: Sequence[FieldError] = (), headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [
            {"loc": e.loc, "msg": e.msg} | ({} if e.line is None else {"line": e.line}) for e in errors
        ]
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def format_loc(loc: Sequence[int | str]) -> str:
    """``('body', 'runs', 17, 'weights', 'x')`` -> ``runs[17].weights.x``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return loc_text(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errs = []
    for e in exc.errors():
        # pydantic appends the validator name for unions/function validators; drop those tags.
        loc = [p for p in e.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))]
        errs.append(FieldError(format_loc(loc), str(e.get("msg", "invalid"))))
    return errs


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return problem(STATUS.get(exc.kind, 400), exc.code, exc.detail, exc.errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = _validation_errors(exc)
        detail = "; ".join(f"{e.loc}: {e.msg}" for e in errs[:5]) or "invalid request"
        return problem(422, "validation_error", detail, errs)

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        # The transaction was rolled back with the connection: nothing of the request was written.
        return problem(
            503, "database_unavailable", "the database is unreachable; retry later", headers={"Retry-After": "5"}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(exc.status_code, code, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (probed through the router, which nests included routers).

    Starlette's 405 names only the methods of the first route whose path matched; FastAPI makes one route per
    method, so ``PUT /api/v1/projects/{name}`` would say ``Allow: GET``.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
