"""The import use case: runs from an uploaded file into a project (``POST .../runs:import``, the CLI's ``import``
and the dashboard's file import).

The file is read whole (:mod:`app.services.table_import`), the rows already stored are dropped (importing a file
twice is a no-op), every remaining run is checked, and all of them are written in one transaction: a bad row or
a conflicting run writes nothing. With ``create``, a missing project is first made, in its own transaction: from a
JSON-lines export's first line, losslessly (every setting, the proposals and each run's proposal and lease), else
from the file's weight columns. A file that cannot be read, or whose completed runs all lack the objective
(``objective_not_reported``), makes no project; when the runs are refused later (a weight sum, a conflict), the
project stays, so that the corrected file imports into it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from app.services import import_versions, objective
from app.services import projects as project_svc
from app.services import runs as run_svc
from app.services.inputs import ProjectCreate, ProjectPatch
from app.services.runs import RunOrigin
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
from app.services.tabular import SETTINGS_KEY, VERSIONS_KEY
from store.errors import DomainError, FieldError, InvalidInput, NotFound, loc_text
from store.records import MAX_SEED, NewProposal, ProjectRecord
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
    """What an import did: ``rows`` runs read; ``written`` of them new runs of the project, ``already_there`` the
    rest (runs it held already: by exported id, by content, or an ``external_id`` stored with the same content);
    ``stored`` rows sent to the store (new runs and replays by ``external_id``); ``new`` is ``written``."""

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
    written: int = 0


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
    fmt = options.format or file_format(upload.name, upload.data[:64])
    if fmt == "jsonl" and metrics is not None:
        raise InvalidInput(
            "a metrics file joins a CSV, not JSON lines", code="invalid_import",
            errors=[FieldError("metrics", "only with a CSV file")],
        )
    metrics_text = None if metrics is None else decode(metrics.data, "metrics")

    def read(project: ProjectRecord) -> ParsedRuns:
        if fmt == "jsonl":
            return read_jsonl_runs(text, options.fidelity)
        return read_csv_runs(
            io.StringIO(text),
            project,
            metrics_path=None if metrics_text is None else io.StringIO(metrics_text),
            key=options.key,
            domain_prefix=options.domain_prefix,
            metric_prefix=options.metric_prefix,
            fidelity=options.fidelity,
        )

    origins: list[RunOrigin | None] | None = None
    try:
        project, created = store.get_project(project_name), False
    except NotFound as exc:
        if not options.create or options.preview:
            raise NotFound(
                f"project {project_name!r} does not exist (import with create, `mixopt import --create`, to make it "
                f"from the file's columns)",
                code="project_not_found",
            ) from exc
        project, parsed, origins = _create(store, project_name, text, fmt, options, token_shares, read)
        created = True
    else:
        parsed = read(project)
        if parsed.settings is not None:  # an export's settings line: the project exists, its settings stay
            import_versions.check_against(store, project.id, project.domain_version, parsed)
            parsed = replace(parsed, ignored=sorted({*parsed.ignored, SETTINGS_KEY}))
    before = store.count_runs(project.id)
    summary = ImportSummary(
        project=project.name,
        rows=len(parsed.runs),
        already_there=0,
        stored=0,
        new=0,
        total_runs=before,
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
    # rows whose external_id is stored come back as replays (or conflict): already there, not written
    replays = store.stored_external_ids(project.id, [r.external_id for r in runs if r.external_id is not None])
    written = sum(1 for r in runs if r.external_id is None or r.external_id not in replays)
    try:
        # one transaction for the whole file: its size is bounded by the body limit, not by max_runs_per_request
        run_svc.ingest_runs(
            store, project.name, runs, lease_seconds=lease_seconds, max_runs=max(len(runs), 1),
            origins=None if origins is None else [origins[i] for i in keep],
        )
    except DomainError as exc:
        _in_file_terms(exc, keep, parsed)
        raise
    return replace(
        summary,
        already_there=len(parsed.runs) - written,
        stored=len(runs),
        new=written,
        written=written,
        total_runs=store.count_runs(project.id),
    )


def _create(
    store: Store,
    name: str,
    text: str,
    fmt: str,
    options: ImportOptions,
    token_shares: Upload | None,
    read: Callable[[ProjectRecord], ParsedRuns],
) -> tuple[ProjectRecord, ParsedRuns, list[RunOrigin | None] | None]:
    """Make the missing project: from a JSON-lines export's settings line (every setting, and its proposals, which
    the runs then point at again), else from the file's weight columns (or the runs' domains) minimizing
    ``objective``. The file is read, and its completed runs must report the objective, before the project is
    made: a misspelt objective leaves nothing behind."""
    settings = read_jsonl_runs(text).settings if fmt == "jsonl" else None
    later: ProjectPatch | None = None
    unknown: list[str] = []
    versions = None
    if settings is not None:
        # the change log is restored, and the current version follows from it
        fields = {k: v for k, v in settings[SETTINGS_KEY].items() if k not in (VERSIONS_KEY, "domain_version")}
        body, later, unknown = _from_settings(name, fields, options.objective)
        versions = import_versions.history(settings[SETTINGS_KEY].get(VERSIONS_KEY), [d.name for d in body.domains])
    else:
        body = _from_columns(name, text, fmt, options, token_shares)
    draft = draft_record(body)
    parsed = read(draft)
    import_versions.check_run_versions(parsed, 1 if versions is None else len(versions))
    if unknown:  # settings of a newer version that this server cannot set
        parsed = replace(parsed, ignored=sorted({*parsed.ignored, *(f"{SETTINGS_KEY}.{k}" for k in unknown)}))
    done = [r.metrics for r in parsed.runs if (r.status or ("completed" if r.metrics else "pending")) == "completed"]
    objective.check_batch(draft, done, project_reports_it=False)
    if versions is not None:
        # made at version 1's domains; the versions restored in order; then the current domains (their bounds may
        # have changed since the last version) and the family bounds, once the domains they need exist
        first = ProjectCreate.model_validate({**body.model_dump(exclude={"families"}), "domains": versions[0].domains})
        families = None if body.families is None else [f.model_dump() for f in body.families]
        current = {"domains": [d.model_dump() for d in body.domains], "families": families}
        rest = {} if later is None else later.model_dump(exclude_unset=True)
        later = ProjectPatch.model_validate({**rest, **current})
        project = project_svc.create_project(store, first)
        store.restore_domain_versions(project.id, versions)
    else:
        project = project_svc.create_project(store, body)
    if later is not None:
        project = project_svc.update_project(store, project.name, later)
    if settings is None:
        return project, parsed, None
    # restored here, not ignored as in an import into an existing project
    parsed = replace(parsed, ignored=[c for c in parsed.ignored if c not in ("proposal_id", "lease_expires_at")])
    mapping = _restore_proposals(store, project, settings.get("proposals"))
    origins: list[RunOrigin | None] = [
        None
        if o is None
        else RunOrigin(None if o.proposal_id is None else mapping.get(o.proposal_id), o.lease_expires_at)
        for o in parsed.origins
    ]
    return project, parsed, origins


def _invalid_project(exc: ValidationError, where: str) -> InvalidInput:
    errors = [
        FieldError(loc_text(e["loc"]) or "project", e["msg"] + (f" (got {e['input']!r})" if isinstance(e["input"], str)
                                                              else ""))
        for e in exc.errors()
    ]
    return InvalidInput(
        f"cannot make a project of {where}: {errors[0].loc}: {errors[0].msg}", code="invalid_project", errors=errors
    )


def _from_columns(
    name: str, text: str, fmt: str, options: ImportOptions, token_shares: Upload | None
) -> ProjectCreate:
    """A project whose domains are the file's weight columns (or the JSON-lines runs' domains)."""
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
            "cannot tell the domain columns: name them weight.<domain>, or pass the prefix they share as the domain "
            "prefix (e.g. train_the_pile_)",
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
        return ProjectCreate.model_validate(
            {
                "name": name,
                "domains": [{"name": n, "tokens": shares.get(n)} for n in names],
                "objective": {"metric": options.objective},
            }
        )
    except ValidationError as exc:
        raise _invalid_project(exc, "the file's columns") from exc


def _from_settings(
    name: str, settings: dict[str, Any], objective_name: str | None
) -> tuple[ProjectCreate, ProjectPatch | None, list[str]]:
    """The project of an export's settings line, named ``name``; settings that creation does not take but an
    update does come back as that update, and the names of those neither takes. ``objective_name`` replaces the
    objective."""
    fields = {k: v for k, v in settings.items() if k != "name"}
    obj = fields.get("objective")
    if objective_name:
        fields["objective"] = {"metric": objective_name}
    elif isinstance(obj, dict) and obj.get("metric") is not None:  # the normal form names a single metric twice
        fields["objective"] = {k: v for k, v in obj.items() if k != "metrics"}
    create = {k: v for k, v in fields.items() if k in ProjectCreate.model_fields}
    rest = {k: v for k, v in fields.items() if k not in ProjectCreate.model_fields and k in ProjectPatch.model_fields}
    unknown = sorted(k for k in fields if k not in ProjectCreate.model_fields and k not in ProjectPatch.model_fields)
    try:
        body = ProjectCreate.model_validate({**create, "name": name})
        later = ProjectPatch.model_validate(rest) if rest else None
    except ValidationError as exc:
        raise _invalid_project(exc, "the file's settings line") from exc
    return body, later, unknown


def draft_record(body: ProjectCreate) -> ProjectRecord:
    """The project ``body`` would make, unsaved (id 0): a file is read against it before the project exists."""
    return ProjectRecord(
        id=0,
        name=body.name,
        description=body.description,
        domains=[d.model_dump() for d in body.domains],
        objective=project_svc.objective_dict(body.objective),
        target_fidelity=body.target_fidelity,
        allow_missing_domains=body.allow_missing_domains,
        data_version=0,
        created_at=None,
        updated_at=None,
        fidelities=body.fidelities,
    )


def _restore_proposals(store: Store, project: ProjectRecord, exported: Any) -> dict[int, int]:
    """Create the exported proposals in ``project``: their ids in the export -> the new ones."""
    if not isinstance(exported, list):
        return {}
    keep = [
        p for p in exported if isinstance(p, dict) and isinstance(p.get("id"), int) and isinstance(p.get("mixer"), str)
    ]
    made = store.add_proposals(
        project.id,
        [
            NewProposal(
                mixer=p["mixer"][:64],
                config=p["config"] if isinstance(p.get("config"), dict) else {},
                seed=p["seed"] if isinstance(p.get("seed"), int) and 0 <= p["seed"] <= MAX_SEED else None,
            )
            for p in keep
        ],
    )
    return {p["id"]: m.id for p, m in zip(keep, made, strict=True)}


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
        batch = [runs[i] for i in anonymous]
        prepared = run_svc.prepare_runs(project, batch, versions=run_svc.version_domains(store, project, batch))
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
