"""Cooperative cancellation of a computation that its caller gave up on.

The caller (the service's worker pool) runs a mixer call under :func:`cancel_when` with a plain check, e.g.
"the request's deadline has passed"; the mixers' long loops call :func:`checkpoint`, which raises
:class:`Cancelled` once the check says so. The computation then stops at its next checkpoint and its thread is
free for other work. Without an installed check (a mixer used as a library), :func:`checkpoint` does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_local = threading.local()
P = ParamSpec("P")
R = TypeVar("R")


class Cancelled(Exception):
    """The caller no longer wants this result (deliberately not a :class:`mixers.base.MixerError`)."""


@contextmanager
def cancel_when(check: Callable[[], bool]) -> Iterator[None]:
    """Within this block (in this thread), :func:`checkpoint` raises :class:`Cancelled` once ``check()`` is true."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def checkpoint() -> None:
    """Raise :class:`Cancelled` if this thread's computation has been given up on; cheap enough for any loop."""
    check = getattr(_local, "check", None)
    if check is not None and check():
        raise Cancelled("cancelled by the caller")


def is_cancelled() -> bool:
    """Whether this thread's computation has been given up on (for loops that stop early instead of raising)."""
    check = getattr(_local, "check", None)
    return bool(check is not None and check())


def carry(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` wrapped to run under this thread's check, for work this computation hands to a thread of its own."""
    check = getattr(_local, "check", None)
    if check is None:
        return fn

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with cancel_when(check):
            return fn(*args, **kwargs)

    return run
