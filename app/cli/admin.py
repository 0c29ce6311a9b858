"""Commands that administer the server itself: ``serve``, ``db upgrade|current``, ``token create|list|revoke``.

They work on the configured database through :mod:`app.local` rather than through the HTTP API: starting the
server, migrating its schema and minting its bearer tokens come before (or beneath) any API, which deliberately
offers none of them, and they need the database itself, which whoever runs them holds.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import uvicorn

from app import local
from app.cli.common import Format, FormatOpt, console, emit, fail
from app.settings import get_settings

TOKEN_COLUMNS = ["id", "name", "prefix", "project", "created_at", "expires_at", "revoked_at", "state"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    demo: Annotated[bool, typer.Option(help="create the RegMix demo project if missing")] = False,
    insecure: Annotated[bool, typer.Option(help="allow a non-loopback address without auth")] = False,
) -> None:
    """Run the API and dashboard (uvicorn). Creates the schema on a fresh database."""
    settings = get_settings()
    auth = settings.auth == "on" or (settings.auth == "auto" and not _is_loopback(host))
    if not _is_loopback(host) and not auth and not insecure:
        fail(f"refusing to listen on {host} with MIXOPT_AUTH=off; drop it, or pass --insecure")
    try:
        demo_project = local.prepare_to_serve(settings, demo)
    except local.LocalError as exc:
        fail(str(exc))
    if demo_project is not None:
        console.print(f"demo project [bold]{demo_project}[/bold] ready")
    # Workers are separate processes: they read the decision through the environment.
    os.environ["MIXOPT_AUTH"] = "on" if auth else "off"
    get_settings.cache_clear()
    console.print(f"mixopt on http://{host}:{port}  (API docs /docs, dashboard /)  auth={'on' if auth else 'off'}")
    uvicorn.run(
        "app.main:create_app", factory=True, host=host, port=port, workers=workers, log_level=settings.log_level
    )


def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply Alembic migrations to the configured database."""
    try:
        console.print(f"database at {local.upgrade_schema(get_settings(), revision)}")
    except local.LocalError as exc:
        fail(str(exc))


def db_current() -> None:
    """Show the database's schema revision and the code's head."""
    try:
        current, head = local.schema_revisions(get_settings())
    except local.LocalError as exc:
        fail(str(exc))
    console.print(f"database: {current}  head: {head}")


def token_create(
    project: Annotated[str | None, typer.Option(help="limit the token to one project")] = None,
    name: Annotated[str, typer.Option(help="a label for the token")] = "",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="lifetime such as 30d, 12h or 90m (default: until revoked)")
    ] = None,
) -> None:
    """Create a bearer token; it is printed once and stored hashed."""
    try:
        secret = local.create_token(get_settings(), name, project, expires_in)
    except local.LocalError as exc:
        fail(str(exc))
    sys.stdout.write(secret + "\n")


def _token_row(t: local.Token) -> dict[str, Any]:
    if t.revoked_at is not None:
        state = "revoked"
    elif t.expires_at is not None and t.expires_at <= datetime.now(UTC):
        state = "expired"
    else:
        state = "active"
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "project": t.project or "(admin)",
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "state": state,
    }


def token_list(fmt: FormatOpt = Format.table) -> None:
    """Every token: id, label, the secret's first characters, project, created, expires, revoked (never the secret)."""
    try:
        tokens = local.list_tokens(get_settings())
    except local.LocalError as exc:
        fail(str(exc))
    emit([_token_row(t) for t in tokens], fmt, TOKEN_COLUMNS, "tokens")


def token_revoke(token_id: Annotated[int, typer.Argument(help="the token's id, as `mixopt token list` shows")]) -> None:
    """Revoke a token: from now on it answers 401."""
    try:
        revoked = local.revoke_token(get_settings(), token_id)
    except local.LocalError as exc:
        fail(str(exc))
    emit([_token_row(revoked)], Format.table, TOKEN_COLUMNS, "revoked")
