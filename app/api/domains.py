"""The domain set's versions: ``PATCH /projects/{name}/domains`` (one change: add, remove, split, merge) and
``GET /projects/{name}/domains/versions`` (the change log)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from app.api.convert import project_out
from app.deps import ProjectName, StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.problems import format_loc
from app.schemas import DomainChangeIn, DomainOut, DomainVersionList, DomainVersionOut, ProjectOut
from app.services import domains as svc
from app.services.inputs import DOMAIN_CHANGE_OPS
from store.errors import FieldError, InvalidInput


def _change_loc(error: dict[str, Any]) -> str:
    """A validation error's field in the change's own terms: without the union's tag (``add.domains[0]`` is
    ``domains[0]``); a missing or unknown ``op`` is ``op``."""
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        return "op"
    loc = [p for p in error.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))]
    if len(loc) >= 2 and loc[0] == "body" and loc[1] in DOMAIN_CHANGE_OPS:
        loc = [loc[0], *loc[2:]]
    return format_loc(loc)


class ChangeRoute(JsonRoute):
    """A body that is no valid change is a 422 ``invalid_domain_change`` naming the field, like the changes that
    parse but cannot apply."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [FieldError(_change_loc(e), str(e.get("msg", "invalid"))) for e in exc.errors()]
                errors = errors or [FieldError("body", "invalid domain change")]
                raise InvalidInput(
                    f"invalid domain change: {errors[0].loc}: {errors[0].msg}",
                    code="invalid_domain_change",
                    errors=errors[:100],
                ) from None

        return route


router = APIRouter(
    route_class=ChangeRoute,
    prefix="/api/v1/projects/{name}/domains",
    tags=["projects"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


@router.patch("", response_model=ProjectOut, responses=problem_responses(400, 409, 413))
def change_domains(name: ProjectName, body: DomainChangeIn, store: StoreDep) -> ProjectOut:
    """Change the domain set by one step, as a new numbered version: ``add`` domains, ``remove`` some, ``split``
    one into parts (with their token counts), ``merge`` several into one. Runs keep the version they were trained
    on; mixers map older runs onto the current version (``diagnostics.domain_mapping``)."""
    return project_out(svc.change_domains(store, name, body.root))


@router.get("/versions", response_model=DomainVersionList)
def domain_versions(name: ProjectName, store: StoreDep) -> DomainVersionList:
    """Every version of the domain set with the change that made it, oldest first."""
    return DomainVersionList(
        items=[
            DomainVersionOut(
                version=v.version,
                domains=[DomainOut(**d) for d in v.domains],
                change=v.change,
                note=v.note,
                created_at=v.created_at,
            )
            for v in svc.domain_versions(store, name)
        ]
    )
