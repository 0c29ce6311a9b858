"""The import use case: runs from an uploaded file into a project (``POST .../runs:import``, the CLI's ``import``
and the dashboard's file import).

The file is read whole (:mod:`app.services.table_import`), the rows already stored are dropped (importing a file
twice is a no-op), every remaining run is checked, and all of them are written in one transaction: a bad row or
a conflicting run writes nothing. With ``create``, a missing project is first made from the file's columns, in
its own transaction (it stays when the runs are then refused, so that the corrected file imports into it).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import ValidationError

from app.services import projects as project_svc
from app.services import runs as run_svc
from app.services.inputs import DomainIn, ObjectiveIn, ProjectCreate
from app.services.table_import import (
    ParsedRuns,
    csv_columns,
    decode,
    file_format,
    jsonl_domains,
    read_csv_runs,
    read_jsonl_runs,
    read_token_shares,
)
from store.errors import DomainError, FieldError, InvalidInput, NotFound
from store.records import ProjectRecord
from store.repository import Store

FileFormat = Literal["csv", "jsonl"]
RUN_LOC = re.compile(r"^runs\[(\d+)\]")


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name (which tells CSV from JSON lines) and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file, as the CLI's ``import`` flags name them.

    ``key`` joins the ``metrics`` file and becomes ``external_id``; weight columns are ``<domain_prefix><domain>``
    (or ``weight.<domain>``); with ``metric_prefix`` only those columns are metrics; ``fidelity`` is every run's
    fidelity unless a row names its own; ``format`` defaults from the file name. ``create`` makes a missing project
    from the columns, minimizing ``objective``, with the ``token_shares`` file as the domains' tokens. ``preview``
    reads the file and writes nothing.
    """

    key: str | None = None
    domain_prefix: str = ""
    metric_prefix: str | None = None
    fidelity: dict[str, float] | None = None
    format: FileFormat | None = None
    create: bool = False
    objective: str | None = None
    preview: bool = False


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: ``rows`` runs read, ``already_there`` of them skipped as stored before, ``stored`` sent
    to the store (``new`` of which the project did not hold: the rest were replays by ``external_id``)."""

    project: str
    rows: int
    already_there: int
    stored: int
    new: int
    total_runs: int
    created: bool
    preview: bool
    metrics: list[str] = field(default_factory=list)
    fidelities: list[dict[str, float]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def import_runs(
    store: Store,
    project_name: str,
    upload: Upload,
    options: ImportOptions,
    *,
    metrics: Upload | None = None,
    token_shares: Upload | None = None,
    lease_seconds: float,
) -> ImportSummary:
    """Import the runs of ``upload`` into ``project_name`` (see the module); problems name ``runs[i]`` (the i-th
    run of the file) and its line."""
    text = decode(upload.data, "file")
    fmt = options.format or file_format(upload.name)
    if fmt == "jsonl" and metrics is not None:
        raise InvalidInput(
            "a metrics file joins a CSV, not JSON lines", code="invalid_import",
            errors=[FieldError("metrics", "only with a CSV file")],
        )
    project, created = _project(store, project_name, text, fmt, options, token_shares)
    if fmt == "jsonl":
        parsed = read_jsonl_runs(text, options.fidelity)
    else:
        parsed = read_csv_runs(
            io.StringIO(text),
            project,
            metrics_path=None if metrics is None else io.StringIO(decode(metrics.data, "metrics")),
            key=options.key,
            domain_prefix=options.domain_prefix,
            metric_prefix=options.metric_prefix,
            fidelity=options.fidelity,
        )
    summary = ImportSummary(
        project=project.name,
        rows=len(parsed.runs),
        already_there=0,
        stored=0,
        new=0,
        total_runs=store.count_runs(project.id),
        created=created,
        preview=options.preview,
        metrics=parsed.metric_names,
        fidelities=parsed.fidelities,
        ignored=parsed.ignored,
    )
    if options.preview:
        return summary
    keep = new_rows(store, project, parsed)
    runs = [parsed.runs[i] for i in keep]
    try:
        # one transaction for the whole file: its size is bounded by the body limit, not by max_runs_per_request
        run_svc.ingest_runs(store, project.name, runs, lease_seconds=lease_seconds, max_runs=max(len(runs), 1))
    except DomainError as exc:
        _in_file_terms(exc, keep, parsed)
        raise
    total = store.count_runs(project.id)
    return replace(
        summary,
        already_there=len(parsed.runs) - len(runs),
        stored=len(runs),
        new=total - summary.total_runs,
        total_runs=total,
    )


def _project(
    store: Store, name: str, text: str, fmt: str, options: ImportOptions, token_shares: Upload | None
) -> tuple[ProjectRecord, bool]:
    """The project, or with ``create`` a new one whose domains are the file's weight columns."""
    try:
        return store.get_project(name), False
    except NotFound as exc:
        if not options.create or options.preview:
            raise NotFound(
                f"project {name!r} does not exist (import with create, `mixopt import --create`, to make it from "
                f"the file's columns)",
                code="project_not_found",
            ) from exc
    if fmt == "jsonl":
        names = jsonl_domains(read_jsonl_runs(text))
    else:
        columns = csv_columns(text)
        prefix = options.domain_prefix
        if any(c.startswith("weight.") for c in columns):
            names = [c.removeprefix("weight.") for c in columns if c.startswith("weight.")]
        else:
            names = [c.removeprefix(prefix) for c in columns if prefix and c.startswith(prefix)]
    if not names:
        raise InvalidInput(
            "cannot tell the domain columns: pass a domain prefix (e.g. train_the_pile_)",
            code="import_columns",
            errors=[FieldError("domain_prefix", "no column is weight.<domain> or starts with the prefix")],
        )
    if not options.objective:
        raise InvalidInput(
            "creating the project needs the objective: the metric to minimize",
            code="import_objective_missing",
            errors=[FieldError("objective", "name the metric to minimize")],
        )
    shares = {} if token_shares is None else read_token_shares(decode(token_shares.data, "token_shares"),
                                                                 options.domain_prefix)
    try:
        body = ProjectCreate(
            name=name,
            domains=[DomainIn(name=n, tokens=shares.get(n)) for n in names],
            objective=ObjectiveIn(metric=options.objective),
        )
    except ValidationError as exc:
        errors = [FieldError(".".join(map(str, e["loc"])) or "project", e["msg"]) for e in exc.errors()]
        raise InvalidInput(
            f"cannot make a project of the file's columns: {errors[0].loc}: {errors[0].msg}",
            code="invalid_project", errors=errors,
        ) from exc
    return project_svc.create_project(store, body), True


def new_rows(store: Store, project: ProjectRecord, parsed: ParsedRuns) -> list[int]:
    """The positions of the rows that are not yet runs of ``project``, so that importing a file twice is a no-op.

    A row with an ``external_id`` is left to the ingest, which returns a replay as stored. A row without one
    (a pending run, say) is the same run when its exported ``id`` names a run of this project (an export
    re-imported into its own project: the server's current state is kept), or when its content equals that of
    a run without ``external_id`` already here (an export imported into another project, again), counted
    with multiplicity so that deliberate duplicates in the file stay.
    """
    runs, source_ids = parsed.runs, parsed.source_ids
    here = store.run_ids_in(project.id, [i for i in source_ids if i is not None])
    rows = [i for i, source in enumerate(source_ids) if source is None or source not in here]
    anonymous = [i for i in rows if runs[i].external_id is None]
    if not anonymous:
        return rows
    stored = Counter(store.anonymous_content_hashes(project.id))
    try:  # the content hash of a run is taken from its checked form, so a bad run is refused here already
        prepared = run_svc.prepare_runs(project, [runs[i] for i in anonymous])
    except DomainError as exc:
        _in_file_terms(exc, anonymous, parsed)
        raise
    hashes = {i: row.content_hash for i, row in zip(anonymous, prepared, strict=True)}
    out: list[int] = []
    for i in rows:
        digest = hashes.get(i)
        if digest is not None and stored[digest] > 0:
            stored[digest] -= 1
            continue
        out.append(i)
    return out


def _in_file_terms(exc: DomainError, keep: list[int], parsed: ParsedRuns) -> None:
    """Rename the ingest's ``runs[i]`` (the i-th run sent) to the file's run and its line, in place (the error
    keeps its kind and status)."""
    errors: list[FieldError] = []
    for e in exc.errors:
        m = RUN_LOC.match(e.loc)
        if m and int(m.group(1)) < len(keep):
            row = keep[int(m.group(1))]
            errors.append(FieldError(f"runs[{row}]" + e.loc[m.end() :], e.msg, parsed.lines[row]))
        else:
            errors.append(e)
    if errors:
        first = errors[0]
        line = f" (line {first.line})" if first.line is not None else ""
        base = exc.detail.split(". First: ")[0].rstrip(".").replace("in the batch", "in the file")
        exc.detail = f"{base}. First: {first.loc}{line}: {first.msg}"
    exc.errors = errors
