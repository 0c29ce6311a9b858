"""Access use cases: bearer tokens (created once, stored as sha256 hashes) and who owns what.

The HTTP face (``app.auth``, ``app.deps``) and the CLI call these; neither queries the store for access.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

from store.errors import FieldError, InvalidInput

# What a missing project or session answers: a project token asking about another project's gets exactly this.
from store.projects import project_not_found as project_not_found
from store.records import TokenGrant, TokenRecord
from store.repository import Store
from store.sessions import session_not_found as session_not_found

TOKEN_PREFIX = "mxo_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


PREFIX_CHARS = len(TOKEN_PREFIX) + 6  # shown by ``mixopt token list``; 36 bits of 256 do not help a guesser
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``1d12h``, ``2w`` (or ISO 8601 such as ``P30D``) as a positive timedelta."""
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if parts and "".join(n + u for n, u in parts).lower() == compact.lower():
        delta = timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))
    else:
        try:
            delta = TypeAdapter(timedelta).validate_python(text)
        except ValidationError:
            delta = timedelta(0)
    if delta <= timedelta(0):
        raise InvalidInput(
            f"{text!r} is not a duration such as 30d, 12h or 90m",
            code="invalid_duration",
            errors=[FieldError("expires_in", "a positive duration such as 30d, 12h or 90m")],
        )
    return delta


def create_token(
    store: Store, name: str = "", project: str | None = None, expires_in: timedelta | None = None
) -> str:
    """Create a token (admin when ``project`` is None), valid for ``expires_in`` (None: until revoked).

    Returns the secret, which is not stored (only its hash and its first characters).
    """
    project_id = store.get_project(project).id if project else None
    token = new_token()
    seconds = None if expires_in is None else expires_in.total_seconds()
    store.create_token(hash_token(token), name, project_id, token[:PREFIX_CHARS], seconds)
    return token


def list_tokens(store: Store) -> list[TokenRecord]:
    return store.list_tokens()


def revoke_token(store: Store, token_id: int) -> TokenRecord:
    """Revoke token ``token_id`` (by the id ``mixopt token list`` shows); it answers 401 from now on."""
    return store.revoke_token(token_id)


def token_scope(store: Store, token: str) -> TokenGrant | None:
    """What a presented token may use (its project, or every project for an admin token); None when unknown,
    revoked or expired."""
    return store.token_scope(hash_token(token.strip()))


def project_id(store: Store, name: str) -> int:
    """The id of project ``name`` (``NotFound`` if there is none)."""
    return store.get_project(name).id


def session_project_id(store: Store, session_id: int) -> int:
    """The id of the project that online session ``session_id`` belongs to (``NotFound`` if none)."""
    return store.get_session(session_id).project_id
