"""Errors the store and the services raise. They say what went wrong, never how a protocol answers it: the HTTP
layer maps each error's ``kind`` to a status (``app.problems.STATUS``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


def loc_text(parts: Sequence[int | str]) -> str:
    """A validation location as text: ``("runs", 17, "weights", "x")`` -> ``runs[17].weights.x``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


@dataclass
class FieldError:
    """One offending input item: ``loc`` such as ``runs[17].weights.x``, a human message, and for an item read
    from a file, its ``line`` there."""

    loc: str
    msg: str
    line: int | None = None


class DomainError(Exception):
    """Base of every expected failure.

    ``kind`` is the stable class of failure (``invalid``, ``not_found``, ``conflict``, ...), set by each subclass;
    ``code`` is the stable machine-readable reason within it (``project_not_found``, ``external_id_conflict``);
    ``detail`` is for people; ``errors`` name the offending input items; ``retry_after`` (seconds) hints when a
    retry may succeed.
    """

    kind: ClassVar[str] = "bad_request"
    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        detail: str,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = list(errors or [])
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.detail


class NotFound(DomainError):
    kind = "not_found"
    default_code = "not_found"


class Conflict(DomainError):
    kind = "conflict"
    default_code = "conflict"


class InvalidInput(DomainError):
    kind = "invalid"
    default_code = "invalid"


class TooLarge(DomainError):
    """An input over a size limit."""

    kind = "too_large"
    default_code = "too_large"


class Busy(DomainError):
    """The work cannot start now (its share of the workers is taken); ``retry_after`` says when to retry."""

    kind = "busy"
    default_code = "busy"


class TimedOut(DomainError):
    """The work did not finish within its time limit (and was cancelled)."""

    kind = "timeout"
    default_code = "timeout"


class Unavailable(DomainError):
    kind = "unavailable"
    default_code = "unavailable"


def relocated(exc: DomainError, detail: str, errors: list[FieldError]) -> DomainError:
    """A copy of ``exc`` (same class, kind and code) with another ``detail`` and ``errors``: a failure of a nested
    request, reported at the outer request's field."""
    out = copy.copy(exc)
    out.args = (detail,)
    out.detail = detail
    out.errors = list(errors)
    return out


class MissingDriverError(RuntimeError):
    """The database URL names a driver that is not installed."""
