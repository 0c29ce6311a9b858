"""Projects: create, list, read, update, archive (delete), restore, purge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from app.api.convert import project_out, summary_out
from app.deps import ProjectName, ScopeDep, StoreDep, admin_only
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import ProjectCreate, ProjectList, ProjectOut, ProjectPatch
from app.services import projects as svc

router = APIRouter(
    route_class=JsonRoute, prefix="/api/v1/projects", tags=["projects"], responses=problem_responses(401, 403, 422, 503)
)
BODY = problem_responses(400, 413)
NAMED = problem_responses(404)


@router.post(
    "",
    status_code=201,
    response_model=ProjectOut,
    dependencies=[Depends(admin_only)],
    responses={**BODY, **problem_responses(409)},
)
def create_project(body: ProjectCreate, store: StoreDep) -> ProjectOut:
    return project_out(svc.create_project(store, body))


@router.get("", response_model=ProjectList)
def list_projects(
    store: StoreDep,
    scope: ScopeDep,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
    include_archived: Annotated[bool, Query(description="also list archived (deleted, restorable) projects")] = False,
) -> ProjectList:
    page = svc.list_projects(store, max_results, page_token, include_archived)
    items = [p for p in page.items if scope.allows(p.id)]
    summaries = svc.summaries(store, items)
    return ProjectList(
        projects=[project_out(p).model_copy(update={"summary": summary_out(summaries[p.id])}) for p in items],
        next_page_token=page.next_page_token,
    )


@router.get("/{name}", response_model=ProjectOut, responses=NAMED)
def get_project(name: ProjectName, store: StoreDep) -> ProjectOut:
    return project_out(svc.get_project(store, name))


@router.patch("/{name}", response_model=ProjectOut, responses={**NAMED, **BODY})
def update_project(name: ProjectName, body: ProjectPatch, store: StoreDep) -> ProjectOut:
    return project_out(svc.update_project(store, name, body))


@router.delete("/{name}", status_code=204, dependencies=[Depends(admin_only)], responses=NAMED)
def delete_project(
    name: ProjectName,
    store: StoreDep,
    purge: Annotated[bool, Query(description="remove the project and everything in it for good")] = False,
    confirm: Annotated[str | None, Query(max_length=100, description="with purge: the project's name")] = None,
) -> Response:
    """Archive the project: it disappears from lists and reads until restored. Admin tokens only.

    ``?purge=true&confirm=<name>`` removes it (archived or not) and all its runs, sessions and embeddings.
    """
    svc.delete_project(store, name, purge=purge, confirm=confirm)
    return Response(status_code=204)


@router.post(
    "/{name}/restore",
    response_model=ProjectOut,
    dependencies=[Depends(admin_only)],
    responses=problem_responses(404),
)
def restore_project(name: Annotated[str, Path(max_length=100)], store: StoreDep) -> ProjectOut:
    """Bring back an archived project with everything it held. Admin tokens only."""
    return project_out(svc.restore_project(store, name))
