"""FastAPI dependencies: the store, the settings and the caller's scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.auth import Forbidden, Scope, resolve_scope
from app.services import access
from app.services.inputs import MAX_ID
from app.settings import Settings
from store.repository import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_scope(request: Request) -> Scope:
    return resolve_scope(request)


def project_access(
    name: Annotated[str, Path(description="project name")],
    scope: Annotated[Scope, Depends(get_scope)],
) -> str:
    """The project name of the path, after checking the caller may use that project: another project answers the
    same 404 as a missing one, so a project token cannot probe names."""
    if not scope.allows_name(name):
        raise access.project_not_found(name)
    return name


def admin_only(scope: Annotated[Scope, Depends(get_scope)]) -> Scope:
    if scope.project_id is not None:
        raise Forbidden("this needs an admin token (created without --project)")
    return scope


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ScopeDep = Annotated[Scope, Depends(get_scope)]
ProjectName = Annotated[str, Depends(project_access)]
# A larger id than the columns hold is a 422, not a driver overflow.
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="run id")]
SessionId = Annotated[int, Path(ge=1, le=MAX_ID, description="session id")]
