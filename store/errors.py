"""Errors the store and services raise; the HTTP layer maps each to a problem response."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    """One offending input item: ``loc`` such as ``runs[17].weights.x``, a human message, and for an item read
    from a file, its ``line`` there."""

    loc: str
    msg: str
    line: int | None = None


@dataclass
class DomainError(Exception):
    """Base: ``code`` is stable and machine-readable; ``detail`` is for people."""

    detail: str
    code: str = "error"
    errors: list[FieldError] = field(default_factory=list)
    status: int = 400

    def __str__(self) -> str:
        return self.detail


class NotFound(DomainError):
    def __init__(self, detail: str, code: str = "not_found") -> None:
        super().__init__(detail, code, [], 404)


class Conflict(DomainError):
    def __init__(self, detail: str, code: str = "conflict", errors: list[FieldError] | None = None) -> None:
        super().__init__(detail, code, errors or [], 409)


class InvalidInput(DomainError):
    def __init__(self, detail: str, code: str = "invalid", errors: list[FieldError] | None = None) -> None:
        super().__init__(detail, code, errors or [], 422)


class Unavailable(DomainError):
    def __init__(self, detail: str, code: str = "unavailable") -> None:
        super().__init__(detail, code, [], 503)


class MissingDriverError(RuntimeError):
    """The database URL names a driver that is not installed."""
