"""The configured database on this machine, for commands run here (the CLI without ``--url``).

Two doors, neither needing a server process:

- :func:`api`: the HTTP API in this process (the app behind an httpx transport), so that a use case runs
  exactly as it runs on a server, through :class:`mixopt.Client`. Auth is off there, so the CLI needs no token
  on its own database: whoever runs it holds the database itself (its file, or its URL and password), which is
  more than any token grants, and nothing listens on a network (a server keeps its own auth setting).
- the administration of the server itself (:func:`prepare_to_serve`, the schema, the tokens): what the HTTP API
  deliberately does not offer, done here through the services on the store.

Whatever keeps the database from being used (a missing driver, a schema behind the code) and every refusal of a
service becomes a :class:`LocalError` whose message is for people.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from app.main import SchemaBehindError, create_app, open_store
from app.services import access, schema
from app.services.demo import ensure_demo
from app.settings import Settings
from store.errors import DomainError, MissingDriverError
from store.records import TokenRecord

LOCAL_URL = "http://mixopt.local"
Token = TokenRecord
"""A token as ``mixopt token list`` shows it (never the secret)."""


class LocalError(Exception):
    """The local database could not do what was asked; ``str()`` says why, with the offending items."""


@contextmanager
def _told() -> Iterator[None]:
    """Database and service failures as :class:`LocalError`."""
    try:
        yield
    except (SchemaBehindError, MissingDriverError) as exc:
        raise LocalError(str(exc)) from exc
    except DomainError as exc:
        raise LocalError("\n".join([exc.detail] + [f"  {e.loc}: {e.msg}" for e in exc.errors[:10]])) from exc


class _InProcess(httpx.BaseTransport):
    """httpx's ASGI transport (an async one) driven from synchronous code: each request runs on the event loop
    of an anyio portal, where the app runs as under a server. App errors propagate as they are."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._send, request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)


@contextmanager
def api(settings: Settings) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` onto the API served in this process from the configured database (created at the
    schema's head when fresh), without auth (see the module)."""
    with _told():
        store = open_store(settings)
    try:
        app = create_app(settings, store=store, auth=False)
        with start_blocking_portal() as portal, httpx.Client(
            transport=_InProcess(app, portal), base_url=LOCAL_URL
        ) as http:
            yield http
    finally:
        store.engine.dispose()


def prepare_to_serve(settings: Settings, demo: bool) -> str | None:
    """Check the database before ``serve`` starts the workers (a fresh one gets the schema); with ``demo``, make
    the demo project if it is missing and return its name."""
    with _told():
        store = open_store(settings)
        try:
            return ensure_demo(store, settings.lease_seconds).name if demo else None
        finally:
            store.engine.dispose()


def upgrade_schema(settings: Settings, revision: str = "head") -> str | None:
    """Apply the migrations up to ``revision``; returns the database's revision after."""
    with _told():
        return schema.upgrade(settings.resolved_database_url, revision)


def schema_revisions(settings: Settings) -> tuple[str | None, str | None]:
    """``(database's revision, code's head)``."""
    with _told():
        return schema.revisions(settings.resolved_database_url)


def create_token(settings: Settings, name: str, project: str | None, expires_in: str | None) -> str:
    """A new bearer token (admin when ``project`` is None) valid for ``expires_in`` (``30d``, ``12h``; None: until
    revoked); returns the secret, which is stored only hashed."""
    with _told():
        lifetime: timedelta | None = None if expires_in is None else access.parse_duration(expires_in)
        store = open_store(settings)
        try:
            return access.create_token(store, name, project, lifetime)
        finally:
            store.engine.dispose()


def list_tokens(settings: Settings) -> list[Token]:
    """Every token, never the secret."""
    with _told():
        store = open_store(settings)
        try:
            return access.list_tokens(store)
        finally:
            store.engine.dispose()


def revoke_token(settings: Settings, token_id: int) -> Token:
    """Revoke token ``token_id``: it answers 401 from now on."""
    with _told():
        store = open_store(settings)
        try:
            return access.revoke_token(store, token_id)
        finally:
            store.engine.dispose()
