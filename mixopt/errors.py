"""Errors of the mixopt client: every error answer is a :class:`MixoptError` parsed from its RFC 9457 body."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from mixopt.types import JSON


@dataclass(frozen=True)
class FieldError:
    """One offending input item of a problem answer: ``loc`` such as ``runs[17].weights.x``; ``line``: its line in
    an imported file."""

    loc: str
    msg: str
    line: int | None = None


class MixoptError(Exception):
    """An error answer of the API (or a connection failure, ``status`` 0).

    ``code`` is the stable machine-readable code of the problem (e.g. ``project_not_found``), ``detail`` the
    human message, ``errors`` the offending fields of a validation failure, ``problem`` the raw problem body.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        problem: JSON | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.problem = problem or {}
        super().__init__(status, code, detail)

    def __str__(self) -> str:
        text = f"{self.status} {self.code}: {self.detail}"
        if self.errors:
            shown = "; ".join(f"{e.loc}: {e.msg}" for e in self.errors[:5])
            more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            text += f" [{shown}{more}]"
        return text


class Unauthorized(MixoptError):
    """401: no or a bad bearer token."""


class Forbidden(MixoptError):
    """403: the token is not valid for this project or action."""


class NotFound(MixoptError):
    """404: no such project, run or session."""


class Conflict(MixoptError):
    """409: the name exists, or a run/result/report was already recorded with other content."""


class ValidationFailed(MixoptError):
    """422: the request was understood but is invalid; see ``errors`` for the offending fields."""


class RateLimited(MixoptError):
    """429 after all retries."""


class ServerError(MixoptError):
    """5xx after all retries (or not retryable)."""


class ConnectionFailed(MixoptError):
    """The server could not be reached (``status`` 0); the underlying ``httpx`` error is ``__cause__``."""


_BY_STATUS: dict[int, type[MixoptError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def problem_json(resp: httpx.Response) -> JSON | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def error_from_response(resp: httpx.Response) -> MixoptError:
    """The exception for an error answer: parsed from an RFC 9457 problem, else from the status and text."""
    status = resp.status_code
    body = problem_json(resp)
    errors: list[FieldError] = []
    if body is not None and ("code" in body or "detail" in body or "title" in body):
        code = str(body.get("code") or "http_error")
        detail = str(body.get("detail") or body.get("title") or resp.reason_phrase)
        for e in body.get("errors") or []:
            if isinstance(e, dict):
                line = e.get("line")
                errors.append(FieldError(str(e.get("loc", "")), str(e.get("msg", "")),
                                         line if isinstance(line, int) else None))
    else:
        code = "http_error"
        detail = resp.text.strip()[:500] or resp.reason_phrase
        body = None
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else MixoptError)
    return cls(status, code, detail, errors, body)
