"""JSON request bodies and URLs: duplicate keys and text no database can store are 422s naming the place.

Every router uses ``JsonRoute``: before FastAPI reads a JSON body it is parsed here once (large bodies in a worker
thread), with an ``object_pairs_hook`` that notices repeated keys (``json.loads`` silently keeps the last one).
The path and query string are refused when they carry a NUL (PostgreSQL cannot store or compare it). The body is
validated under the server's ``max_trajectory_points``.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from app.services.inputs import DuplicateKeys, find_unstorable, loads, trajectory_points_limit

THREAD_PARSE_BYTES = 1 << 20  # bodies over 1 MiB are parsed in a worker thread, not on the event loop


def duplicate_errors(exc: DuplicateKeys, prefix: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    return [
        {"type": "duplicate_key", "loc": prefix + loc, "msg": f"duplicate key {loc[-1]!r} in a JSON object"}
        for loc in exc.locs[:100]
    ]


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type")
    if not ctype:
        return True  # FastAPI reads a body without a content type as JSON
    message = email.message.Message()
    message["content-type"] = ctype
    sub = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (sub == "json" or sub.endswith("+json"))


class _JsonRequest(Request):
    """A request whose ``json()`` is ``loads`` (cached, so FastAPI reuses what ``JsonRoute`` parsed)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await run_in_threadpool(loads, body) if len(body) > THREAD_PARSE_BYTES else loads(body)
        return self._json


def _url_errors(request: Request) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for where, items in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
        for key, value in items:
            if (found := find_unstorable({key: value})) is not None:
                errors.append({"loc": (where, key), "msg": found[1]})
    return errors


class JsonRoute(APIRoute):
    """Route class of every router: checks the URL and parses JSON bodies with ``loads`` (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        parses_body = self.body_field is not None

        async def route(request: Request) -> Response:
            if errors := _url_errors(request):
                raise RequestValidationError(errors)
            request = _JsonRequest(request.scope, request.receive)
            if parses_body and _is_json(request):
                try:
                    await request.json()
                except DuplicateKeys as exc:
                    raise RequestValidationError(duplicate_errors(exc)) from None
                except (ValueError, RecursionError):  # malformed or too deep: FastAPI reports it as before
                    pass
            settings = request.app.state.settings
            with trajectory_points_limit(settings.max_trajectory_points):  # read while the body is validated
                return await handler(request)

        return route
