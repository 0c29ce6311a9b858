"""``mixopt domains``: a project's domain set and its versions (issue 26): ``versions``, ``add``, ``remove``,
``split``, ``merge``. Each change makes a new numbered version (``PATCH /projects/{p}/domains``); runs keep the
version they were trained on, and the mixers map them onto the current set (``diagnostics.domain_mapping``).

A domain on the command line is ``NAME`` or ``NAME=TOKENS`` (``web/high=2.5e9``). Bad input is one line
``error: <field>: <message>`` naming the field of the change (``into[1].tokens``, ``names[0]``), and nothing is
written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

import typer

from app.cli.common import Format, FormatOpt, TokenOpt, UrlOpt, connect, console, emit, fail
from app.cli.errors import USAGE
from mixopt.types import DomainVersion

ProjectArg = Annotated[str, typer.Argument(help="the project's name")]
NoteOpt = Annotated[str, typer.Option("--note", help="why the domain set changed (kept in the change log)")]


def parse_domain(text: str, loc: str) -> dict[str, Any]:
    """``"web/high=2.5e9"`` as ``{"name": "web/high", "tokens": 2.5e9}``; ``"books"`` as ``{"name": "books"}``.
    A value that is no number ends the command with ``error: <loc>.tokens: ...`` (the change's field)."""
    name, sep, tokens = text.partition("=")
    if not sep:
        return {"name": name}
    try:
        return {"name": name, "tokens": float(tokens)}
    except ValueError:
        fail(f"{loc}.tokens: a domain is NAME or NAME=TOKENS with a number of tokens, got {text!r}", USAGE)


def describe(change: Mapping[str, Any] | None) -> str:
    """A change in words: ``"split web into web/high, web/low"``; ``"created"`` for the first version."""
    if not change:
        return "created"
    op = change.get("op")
    if op == "add":
        return "added " + ", ".join(d["name"] for d in change["domains"])
    if op == "remove":
        return "removed " + ", ".join(change["names"])
    if op == "split":
        return f"split {change['name']} into " + ", ".join(c["name"] for c in change["into"])
    if op == "merge":
        return "merged " + ", ".join(change["names"]) + f" into {change['into']['name']}"
    return str(op)


def _apply(project: str, change: dict[str, Any], note: str, url: str | None, token: str | None) -> None:
    with connect(url, token) as client:
        updated = client.change_domains(project, change, note=note)
    console.print(
        f"{project}: {describe(change)} (domain set version {updated.domain_version}, {len(updated.domains)} domains)"
    )


def version_json(v: DomainVersion) -> dict[str, Any]:
    """A version as ``GET .../domains/versions`` sends it: ``{version, domains, change, note, created_at}``."""
    return {
        "version": v.version,
        "domains": [asdict(d) for d in v.domains],
        "change": v.change,
        "note": v.note,
        "created_at": None if v.created_at is None else v.created_at.isoformat().replace("+00:00", "Z"),
    }


def versions(project: ProjectArg, fmt: FormatOpt = Format.table, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """The change log of a project's domain set, oldest first (``--format json``: every version with its
    domains, change, note and time)."""
    with connect(url, token) as client:
        items = client.domain_versions(project)
    if fmt is Format.json:
        emit([version_json(v) for v in items], fmt)
        return
    rows = [
        {
            "version": v.version,
            "change": describe(v.change),
            "domains": len(v.domains),
            "note": v.note,
            "created_at": None if v.created_at is None else f"{v.created_at:%Y-%m-%d %H:%M}",
        }
        for v in items
    ]
    emit(rows, fmt, ["version", "change", "domains", "note", "created_at"], f"domain set of {project}")


def add(
    project: ProjectArg,
    domains: Annotated[list[str], typer.Argument(help="NAME or NAME=TOKENS, one or more")],
    note: NoteOpt = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add domains (earlier runs had weight 0 on them: they map exactly).

    Example: mixopt domains add PROJECT math=2e9 wiki --note "new sources"
    """
    _apply(
        project,
        {"op": "add", "domains": [parse_domain(d, f"domains[{i}]") for i, d in enumerate(domains)]},
        note,
        url,
        token,
    )


def remove(
    project: ProjectArg,
    names: Annotated[list[str], typer.Argument(help="domain names, one or more")],
    note: NoteOpt = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove domains (earlier runs with weight on them are no longer used).

    Example: mixopt domains remove PROJECT wiki --note "not licensed"
    """
    _apply(project, {"op": "remove", "names": list(names)}, note, url, token)


def split(
    project: ProjectArg,
    name: Annotated[str, typer.Argument(help="the domain to split")],
    into: Annotated[list[str], typer.Argument(help="its parts, NAME=TOKENS (two or more)")],
    note: NoteOpt = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Split a domain into parts; earlier runs' weight on it is divided by the parts' token shares (an assumption,
    said in the mixers' diagnostics).

    Example: mixopt domains split PROJECT web web/high=2e9 web/low=4e9 --note "quality split"
    """
    _apply(
        project,
        {"op": "split", "name": name, "into": [parse_domain(d, f"into[{i}]") for i, d in enumerate(into)]},
        note,
        url,
        token,
    )


def merge(
    project: ProjectArg,
    names: Annotated[list[str], typer.Argument(help="the domains to merge (two or more)")],
    into: Annotated[str, typer.Option("--into", help="the merged domain, NAME or NAME=TOKENS")],
    note: NoteOpt = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Merge domains into one (earlier runs map exactly: the weights add).

    Example: mixopt domains merge PROJECT code books --into codebooks=4e9
    """
    _apply(project, {"op": "merge", "names": list(names), "into": parse_domain(into, "into")}, note, url, token)
