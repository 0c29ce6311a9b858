"""Commands on projects and their runs: list, archive, restore, import, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from app.cli.common import (
    Format,
    FormatOpt,
    TokenOpt,
    UrlOpt,
    connect,
    console,
    emit,
    err_console,
    fail,
    parse_kv,
    top,
)


def list_projects(
    fmt: FormatOpt = Format.table,
    archived: Annotated[bool, typer.Option("--archived", help="also list archived (deleted) projects")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List projects."""
    columns = ["name", "domains", "runs", "objective", "created_at"] + (["archived_at"] if archived else [])
    with connect(url, token) as client:
        found = client.list_projects(include_archived=archived)
    rows = [
        {
            "name": p.name,
            "domains": len(p.domains),
            "runs": (p.raw.get("summary") or {}).get("runs"),
            "objective": p.objective.get("metric") or p.objective["metrics"],
            "created_at": p.created_at,
            "archived_at": p.archived_at,
        }
        for p in found
    ]
    emit(rows, fmt, columns, "projects")


def project_delete(
    name: str,
    purge: Annotated[bool, typer.Option("--purge", help="remove it and all its runs for good")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="with --purge: do not ask")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Archive a project (``mixopt project restore`` brings it back); ``--purge`` removes it for good."""
    if purge and not yes:
        typer.confirm(f"purge project {name!r} and every run in it for good?", abort=True)
    with connect(url, token) as client:
        client.delete_project(name, purge=purge)
    console.print(f"project {name} {'purged' if purge else 'archived (mixopt project restore ' + name + ')'}")


def project_restore(name: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Bring back an archived project with everything it held."""
    with connect(url, token) as client:
        client.restore_project(name)
    console.print(f"project {name} restored")


def list_runs(
    project: str,
    status: Annotated[str | None, typer.Option(help="filter by status")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List a project's runs (``--format json``: every field, full precision)."""
    with connect(url, token) as client:
        page = client.runs_page(project, status=status, max_results=limit)
    if fmt is Format.json:  # the data as the API returns it, lossless
        emit([r.raw for r in page.runs], fmt)
        return
    rows = [
        {
            "id": r.id,
            "external_id": r.external_id,
            "status": r.status,
            "fidelity": r.fidelity,
            "metrics": r.metrics,
            "weights": top(r.weights),
        }
        for r in page.runs
    ]
    emit(rows, fmt, ["id", "external_id", "status", "fidelity", "metrics", "weights"], f"runs of {project}")


def import_runs(
    project: str,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="wide CSV, the mixture CSV, or JSON lines (.jsonl)")
    ],
    metrics: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="metrics CSV to join")] = None,
    key: Annotated[str | None, typer.Option(help="join column (becomes external_id)")] = None,
    domain_prefix: Annotated[str, typer.Option(help="weight columns are <prefix><domain>")] = "",
    metric_prefix: Annotated[str | None, typer.Option(help="only columns with this prefix are metrics")] = None,
    fidelity: Annotated[list[str] | None, typer.Option(help="fidelity of every run, e.g. tokens=1e9")] = None,
    create: Annotated[
        bool, typer.Option(help="create the project if missing (from an export's settings line, else the columns)")
    ] = False,
    objective: Annotated[
        str | None, typer.Option(help="with --create: the metric to minimize (replaces an export's objective)")
    ] = None,
    token_shares: Annotated[
        Path | None, typer.Option(exists=True, help="with --create: CSV domain,token_share (the prior)")
    ] = None,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Import runs from a CSV or JSON-lines file; importing it again is a no-op (runs already there are skipped).

    \b
    CSV, one run per row (README: "Import your runs"):
      weights   <prefix><domain> columns (--domain-prefix train_: the column
                train_dclm/web/high is the domain dclm/web/high), or
                weight.<domain>; a row sums to 1 (+-0.01)
      run id    the --key column, or external_id (read as text)
      fidelity  fidelity.<key> columns, or --fidelity tokens=1e9 (repeat)
      metrics   every other numeric column (with --metric-prefix: only
                those starting with it), or metric.<name>
      optional  status, cost, tag.<key> (JSON), trajectory (JSON)
    RegMix's two files: the mixtures as FILE, --metrics FILE, joined on --key.
    JSON lines: one run per line as POST .../runs takes it, or mixopt's
    export, whose first line holds the project's settings.
    --create makes a missing project: from an export's settings line
    (lossless), else from the weight columns, minimizing --objective; a file
    whose completed runs never report the objective is refused.
    """
    fid = parse_kv(fidelity, "--fidelity")
    # no bar when stderr is not a terminal: a log or a pipe gets only the answer (and errors as one line)
    with connect(url, token) as client, Progress(
        console=err_console, transient=True, disable=not err_console.is_terminal
    ) as progress:
        task = progress.add_task("importing", total=None)
        result = client.import_file(
            project,
            file,
            metrics=metrics,
            key=key,
            domain_prefix=domain_prefix,
            metric_prefix=metric_prefix,
            fidelity=fid,
            create=create,
            objective=objective,
            token_shares=token_shares,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    emit(
        [
            {
                "project": project,
                "rows": result.rows,
                "written": result.written,
                "already_there": result.already_there,
                "total_runs": result.total_runs,
                "created": result.created,
            }
        ],
        fmt,
    )


def export_runs(
    project: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write every run of a project as CSV or JSON lines."""
    if format not in ("csv", "jsonl"):
        fail("--format must be csv or jsonl")
    with connect(url, token) as client:
        text = client.export(project, "csv" if format == "csv" else "jsonl")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err_console.print(f"wrote {output}")
