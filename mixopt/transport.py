"""The client's transport: one ``httpx`` connection to a mixopt server, with bearer auth, retries of what is safe to
repeat (exponential backoff, ``Retry-After``) and problem answers raised as :class:`~mixopt.errors.MixoptError`.
:class:`mixopt.client.Client` builds the API's calls on it."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from mixopt.errors import ConnectionFailed, error_from_response, problem_json
from mixopt.wire import encode, retry_after, segment

DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"
MAX_RUNS_PER_REQUEST = 10_000
RETRY_STATUSES = frozenset({429, 502, 503, 504})
NEVER_RETRY_CODES = frozenset({"fit_timeout"})  # a deterministic server-side limit: the retry would time out too
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is cut to this
USER_AGENT = "mixopt-client/0.1"




class Transport:
    """One server's connection (see :class:`mixopt.client.Client` for the arguments)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must be >= 0")
        if http is not None:
            self.base_url = str(http.base_url)
        else:
            self.base_url = base_url or os.environ.get("MIXOPT_URL") or DEFAULT_URL
        self.retries = int(retries)
        self.backoff = float(backoff)
        token = token if token is not None else os.environ.get("MIXOPT_TOKEN") or None
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._owns_http = http is None
        self._http = (
            http if http is not None else httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        )
        self._sleep: Callable[[float], None] = time.sleep  # replaced in tests
        self._rng = random.Random()

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (not an ``http`` client passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        after = retry_after(resp) if resp is not None else None
        if after is not None:
            return min(after, MAX_RETRY_AFTER)
        return self.backoff * (2**attempt) * self._rng.uniform(0.5, 1.0)

    @staticmethod
    def _retryable_status(resp: httpx.Response) -> bool:
        if resp.status_code not in RETRY_STATUSES:
            return False
        body = problem_json(resp)
        return not (body is not None and body.get("code") in NEVER_RETRY_CODES)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request (with retries) and return the successful response; raise :class:`MixoptError`.

        ``body`` is sent as JSON; ``content`` as raw bytes with ``content_type``; ``files`` (``{field: (file name,
        bytes)}``) with ``form`` fields as ``multipart/form-data``. ``idempotent`` (default: the method is not
        ``POST``) allows retrying after an answer or a failure mid-request.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        headers = dict(self._headers)
        if body is not None:
            content = encode(body)
            headers["Content-Type"] = "application/json"
        elif content is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    method, path, content=content, params=query, headers=headers, files=files, data=form
                )
            except httpx.TransportError as exc:
                # A failed connect never sent the request, so even a POST may go again.
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if (idempotent or unsent) and attempt < self.retries:
                    self._sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise ConnectionFailed(0, "connection_error", f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code < 400:
                return resp
            if idempotent and attempt < self.retries and self._retryable_status(resp):
                self._sleep(self._delay(attempt, resp))
                attempt += 1
                continue
            raise error_from_response(resp)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @staticmethod
    def _project_path(project: str) -> str:
        return f"{API}/projects/{segment(project)}"

