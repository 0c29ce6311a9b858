"""Access use cases: bearer tokens (created once, stored as sha256 hashes) and who owns what.

The HTTP face (``app.auth``, ``app.deps``) and the CLI call these; neither queries the store for access.
"""

from __future__ import annotations

import hashlib
import secrets

from store.repository import Store

TOKEN_PREFIX = "mxo_"


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


def token_scope(store: Store, token: str) -> tuple[bool, int | None]:
    """``(known, project_id)`` of a presented token; ``project_id`` None is an admin token."""
    return store.token_scope(hash_token(token.strip()))


def project_id(store: Store, name: str) -> int:
    """The id of project ``name`` (``NotFound`` if there is none)."""
    return store.get_project(name).id


def session_project_id(store: Store, session_id: int) -> int:
    """The id of the project that online session ``session_id`` belongs to (``NotFound`` if none)."""
    return store.get_session(session_id).project_id
