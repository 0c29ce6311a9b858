"""Request encoding of the mixopt client: JSON bodies, URL pieces, ``Retry-After`` and error locations."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from mixopt.errors import FieldError, MixoptError
from mixopt.types import JSON, Domain, Fidelity


def json_default(obj: Any) -> Any:
    """numpy/torch scalars and arrays (``.tolist()``) become plain JSON numbers and lists."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode(body: Any) -> bytes:
    # NaN/inf are sent as-is (Python's JSON extension): the server then names the offending field in its 422.
    return json.dumps(body, default=json_default, separators=(",", ":")).encode()


def segment(name: str | int) -> str:
    return quote(str(name), safe="")


def fidelity_query(fidelity: Fidelity | str | None) -> str | None:
    if fidelity is None or isinstance(fidelity, str):
        return fidelity
    return ",".join(f"{k}={float(v)!r}" for k, v in fidelity.items())


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), ``None`` if absent or bad."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def mixer_choice(m: str | Mapping[str, Any]) -> JSON:
    return {"mixer": m} if isinstance(m, str) else dict(m)


def domain_body(d: str | Mapping[str, Any] | Domain) -> JSON:
    if isinstance(d, str):
        return {"name": d}
    if isinstance(d, Domain):
        return {k: v for k, v in d.__dict__.items() if v is not None}
    return dict(d)


def objective_body(objective: str | Mapping[str, Any]) -> JSON:
    return {"metric": objective, "direction": "minimize"} if isinstance(objective, str) else dict(objective)


def with_values(body: JSON, **values: Any) -> JSON:
    """``body`` plus the values that are not ``None``."""
    body.update({k: v for k, v in values.items() if v is not None})
    return body


RUN_LOC = re.compile(r"^runs\[(\d+)\]")


def shift_run_locs(exc: MixoptError, offset: int) -> MixoptError:
    """The error of a later chunk with ``runs[i]`` locations renumbered to the caller's whole list."""
    errors = [FieldError(RUN_LOC.sub(lambda m: f"runs[{int(m.group(1)) + offset}]", e.loc), e.msg) for e in exc.errors]
    detail = f"{exc.detail} (in the chunk starting at run {offset}; earlier chunks were written)"
    return type(exc)(exc.status, exc.code, detail, errors, exc.problem)
