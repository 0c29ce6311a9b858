"""Bearer tokens: created by ``mixopt token create``, stored as sha256 hashes, scoped to a project or admin."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Request

from store.errors import DomainError
from store.repository import Store

TOKEN_PREFIX = "mxo_"


class Unauthorized(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, "unauthorized", [], 401)


class Forbidden(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, "forbidden", [], 403)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(store: Store, name: str = "", project: str | None = None) -> str:
    """Create a token (admin when ``project`` is None); returns the secret, which is not stored."""
    project_id = store.get_project(project).id if project else None
    token = new_token()
    store.create_token(hash_token(token), name, project_id)
    return token


@dataclass(frozen=True)
class Scope:
    """Who is calling: ``project_id`` None means every project (admin or auth off)."""

    project_id: int | None
    authenticated: bool

    def allows(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id


def resolve_scope(request: Request) -> Scope:
    if not request.app.state.auth_enabled:
        return Scope(None, False)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("this server needs a bearer token: Authorization: Bearer <token>")
    store: Store = request.app.state.store
    found, project_id = store.token_scope(hash_token(token.strip()))
    if not found:
        raise Unauthorized("unknown or revoked token")
    return Scope(project_id, True)
