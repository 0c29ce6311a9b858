"""The application factory: ``create_app()`` wires settings, the store, routes, errors and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics, openapi, problems
from app.services import fitting, schema
from app.services.runs import sweep_leases
from app.services.schema import SchemaBehindError
from app.services.version import VERSION
from app.settings import Settings, get_settings
from store.repository import Store

__all__ = ["VERSION", "SchemaBehindError", "create_app", "open_store"]

log = logging.getLogger("mixopt")


def open_store(settings: Settings, *, create_if_fresh: bool = True) -> Store:
    """The store on the configured database (created at head when fresh; refused when behind head)."""
    return schema.open_store(settings.resolved_database_url, create_if_fresh=create_if_fresh)


async def sweep_leases_every(store: Store, seconds: float) -> None:
    """Write ``abandoned`` into lapsed runs every ``seconds``, off the event loop. Reads never need it (they compute
    a lapsed lease's status); it keeps the stored status, and the abandoned-runs counter, current. A failed sweep
    (the database away) is logged and tried again at the next tick."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(sweep_leases, store)
        except Exception:
            log.exception("sweeping lapsed leases failed; retrying in %g s", seconds)


class BodySizeLimit:
    """Reject bodies over ``limit`` bytes with 413 before they are read into memory.

    Hand-written because Starlette has no body-size setting; checks Content-Length, or buffers a chunked
    body up to the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._reject(scope, receive, send)
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit first, then replay the body to the app.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                await self._reject(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = problems.problem(413, "body_too_large", f"request body is over the limit of {self.limit} bytes")
        await resp(scope, receive, send)


LARGE_BODY_BYTES = 1 << 20


def _content_length(scope: Scope) -> int:
    value = dict(scope.get("headers") or []).get(b"content-length", b"")
    return int(value) if value.isdigit() else 0


def release_memory() -> None:
    """Give the heap a large body's objects used back to the OS: glibc keeps freed memory, so without this the
    RSS of a process that once parsed a 60 MB body stays hundreds of MB higher (bench/service/large_bodies.py).
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class Observe:
    """Request metrics (count, latency, errors by route) and security headers on every response.

    Plain ASGI: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) runs the route in a separate task
    and costs about a millisecond a request, a tenth of the session-report latency budget.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if _content_length(scope) > LARGE_BODY_BYTES:
                await run_in_threadpool(release_memory)
            # the router records the matched route in the scope (one label per route, not per URL)
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(scope["method"], path, str(status)).inc()
            metrics.LATENCY.labels(path).observe(time.perf_counter() - start)
            if status >= 400:
                metrics.ERRORS.labels(path, str(status)).inc()


def create_app(settings: Settings | None = None, store: Store | None = None, auth: bool | None = None) -> FastAPI:
    """Build the app. ``store`` and ``auth`` may be injected (tests); otherwise they come from ``settings``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if getattr(app.state, "store", None) is None:
            app.state.store = open_store(settings)
        sweeper = None
        if settings.lease_sweep_seconds > 0:
            sweeper = asyncio.create_task(sweep_leases_every(app.state.store, settings.lease_sweep_seconds))
        yield
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        app.state.store.engine.dispose()

    # fastapi-offline serves Swagger UI and ReDoc from the package's own files: /docs works without a network.
    app = FastAPIOffline(
        title="mixopt",
        version=VERSION,
        description="Data-mixture optimization for language-model training. Errors are RFC 9457 problems.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth_enabled = bool(auth) if auth is not None else settings.auth == "on"
    fitting.configure(settings.fits_per_project, settings.blas_threads)
    problems.install(app)
    openapi.install(app)

    from app import dashboard
    from app.api import (
        domains,
        embeddings,
        health,
        history,
        importance,
        imports,
        mixers,
        project_mixers,
        projects,
        runs,
        sessions,
    )

    for module in (
        health, projects, domains, runs, imports, mixers, history, project_mixers, importance, sessions, embeddings,
        dashboard,
    ):
        app.include_router(module.router)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(Observe)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    return app
