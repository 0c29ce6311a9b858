"""What the commands share: output (a table or JSON), errors, common options, and the connection to the API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from app import local
from app.cli.errors import REFUSED, problem_line, say
from app.settings import get_settings
from mixopt.client import Client, MixoptError

console = Console()
err_console = Console(stderr=True)
# A mixer's work on a server may take up to its MIXOPT_FIT_TIMEOUT_SECONDS (300 s by default) before it answers.
REMOTE_TIMEOUT = httpx.Timeout(900.0, connect=30.0)


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="table or json")]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="talk to this running mixopt server (e.g. http://host:8000) instead of the database"),
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="MIXOPT_TOKEN", help="with --url: bearer token", show_default=False)
]


def fail(message: str, code: int = REFUSED) -> NoReturn:
    """One line ``error: ...`` on stderr, and the exit ``code`` (:mod:`app.cli.errors`)."""
    say(message)
    raise typer.Exit(code)


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[Client]:
    """The API as a :class:`mixopt.Client`: the server at ``url``, or without it the API in this process on the
    configured database (:func:`app.local.api`). An error answer ends the command with a one-line error."""
    try:
        if url:
            with Client(url, token=token or "", timeout=REMOTE_TIMEOUT) as client:
                yield client
        else:
            with local.api(get_settings()) as http, Client(http=http) as client:
                yield client
    except MixoptError as exc:
        if exc.status == 0 and url:  # no answer at all
            fail(f"--url: cannot reach {url} ({exc.detail})")
        fail(problem_line(exc))
    except local.LocalError as exc:
        fail(str(exc))


def emit(rows: list[dict[str, Any]], fmt: Format, columns: list[str] | None = None, title: str = "") -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(title=title or None)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[cell(row.get(c)) for c in columns])
    console.print(table)


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def parse_kv(pairs: list[str] | None, what: str) -> dict[str, float] | None:
    """``["tokens=1e9", ...]`` as ``{"tokens": 1e9}``; None when no pair is given."""
    if not pairs:
        return None
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            if not sep:
                raise ValueError(pair)
            out[key] = float(value)
        except ValueError:
            fail(f"{what} must be key=value with a number, got {pair!r}")
    return out


def top(weights: dict[str, float], k: int = 3) -> str:
    best = sorted(weights.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{n}={w:.3f}" for n, w in best)
