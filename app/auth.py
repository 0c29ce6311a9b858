"""Who is calling: the bearer token of a request resolved to a scope (a project, or admin).

Tokens are created by ``mixopt token create`` and looked up through ``app.services.access``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.services import access
from store.errors import DomainError


class Unauthorized(DomainError):
    kind = "unauthenticated"
    default_code = "unauthorized"


class Forbidden(DomainError):
    kind = "forbidden"
    default_code = "forbidden"


@dataclass(frozen=True)
class Scope:
    """Who is calling: ``project_id`` (and ``project_name``) None means every project (admin or auth off)."""

    project_id: int | None
    authenticated: bool
    project_name: str | None = None

    def allows(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id

    def allows_name(self, name: str) -> bool:
        """Whether the caller may use project ``name``, known from the token's side (no lookup of ``name``, so the
        answer says nothing about whether it exists)."""
        return self.project_id is None or self.project_name == name


def resolve_scope(request: Request) -> Scope:
    if not request.app.state.auth_enabled:
        return Scope(None, False)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("this server needs a bearer token: Authorization: Bearer <token>")
    grant = access.token_scope(request.app.state.store, token)
    if grant is None:
        raise Unauthorized("unknown, revoked or expired token")
    return Scope(grant.project_id, True, grant.project_name)
