"""The ``mixopt`` command line (typer).

Verbs other than ``serve`` work on the configured database directly (``MIXOPT_DATABASE_URL`` or the SQLite
file under ``MIXOPT_DATA_DIR``), like Optuna's ``--storage``: the same service functions the API calls, no
server needed. ``projects``, ``project``, ``runs``, ``export``, ``recommend`` and ``propose`` also take
``--url`` (and ``--token`` / ``MIXOPT_TOKEN``) to talk to a running server through the Python client instead.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.settings import get_settings
from store.errors import DomainError

app = typer.Typer(help="mixopt: data-mixture optimization for language-model training.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
console = Console()
err_console = Console(stderr=True)


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


def _client(url: str, token: str | None) -> Any:
    from mixopt.client import Client

    return Client(url, token=token or "")


def _remote(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the Python client; an error answer of the server becomes a one-line CLI error."""
    from mixopt.client import MixoptError

    try:
        return fn(*args, **kwargs)
    except MixoptError as exc:
        _fail(str(exc))


def _store() -> Any:
    from app.main import SchemaBehindError, open_store
    from store.errors import MissingDriverError

    try:
        return open_store(get_settings())
    except (SchemaBehindError, MissingDriverError) as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 1) -> Any:
    # escaped: messages hold brackets (runs[17].weights, psycopg[binary]) that rich would take for markup
    err_console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _emit(rows: list[dict[str, Any]], fmt: Format, columns: list[str] | None = None, title: str = "") -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(title=title or None)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_cell(row.get(c)) for c in columns])
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _parse_kv(pairs: list[str] | None, what: str) -> dict[str, float] | None:
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
            _fail(f"{what} must be key=value with a number, got {pair!r}")
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    demo: Annotated[bool, typer.Option(help="create the RegMix demo project if missing")] = False,
    insecure: Annotated[bool, typer.Option(help="allow a non-loopback address without auth")] = False,
) -> None:
    """Run the API and dashboard (uvicorn). Creates the schema on a fresh database."""
    import os

    import uvicorn

    from app.main import SchemaBehindError, open_store

    settings = get_settings()
    auth = settings.auth == "on" or (settings.auth == "auto" and not _is_loopback(host))
    if not _is_loopback(host) and not auth and not insecure:
        _fail(f"refusing to listen on {host} with MIXOPT_AUTH=off; drop it, or pass --insecure")
    from store.errors import MissingDriverError

    try:
        store = open_store(settings)
    except (SchemaBehindError, MissingDriverError) as exc:
        _fail(str(exc))
    if demo:
        from app.services.demo import ensure_demo

        project = ensure_demo(store, settings.lease_seconds)
        console.print(f"demo project [bold]{project.name}[/bold] ready")
    store.engine.dispose()
    # Workers are separate processes: they read the decision through the environment.
    os.environ["MIXOPT_AUTH"] = "on" if auth else "off"
    get_settings.cache_clear()
    console.print(f"mixopt on http://{host}:{port}  (API docs /docs, dashboard /)  auth={'on' if auth else 'off'}")
    uvicorn.run(
        "app.main:create_app", factory=True, host=host, port=port, workers=workers, log_level=settings.log_level
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply Alembic migrations to the configured database."""
    from app.services import schema

    console.print(f"database at {schema.upgrade(get_settings().resolved_database_url, revision)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the code's head."""
    from app.services import schema

    current, head = schema.revisions(get_settings().resolved_database_url)
    console.print(f"database: {current}  head: {head}")


@app.command("projects")
def list_projects(
    fmt: FormatOpt = Format.table,
    archived: Annotated[bool, typer.Option("--archived", help="also list archived (deleted) projects")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List projects."""
    columns = ["name", "domains", "runs", "objective", "created_at"] + (["archived_at"] if archived else [])
    if url:
        remote = _remote(_client(url, token).list_projects, include_archived=archived)
        rows = [
            {
                "name": p.name,
                "domains": len(p.domains),
                "runs": None,  # not part of the API's project answer
                "objective": p.objective.get("metric") or p.objective["metrics"],
                "created_at": p.created_at,
                "archived_at": p.archived_at,
            }
            for p in remote
        ]
        _emit(rows, fmt, columns, "projects")
        return
    store = _store()
    page = store.list_projects(1000, None, include_archived=archived)
    rows = [
        {
            "name": p.name,
            "domains": len(p.domains),
            "runs": store.count_runs(p.id),
            "objective": p.objective.get("metric") or p.objective["metrics"],
            "created_at": p.created_at,
            "archived_at": p.archived_at,
        }
        for p in page.items
    ]
    _emit(rows, fmt, columns, "projects")


project_app = typer.Typer(help="One project: archive (delete), restore, purge.", no_args_is_help=True)
app.add_typer(project_app, name="project")


@project_app.command("delete")
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
    if url:
        _remote(_client(url, token).delete_project, name, purge=purge)
    else:
        from app.services import projects as psvc

        _call(psvc.delete_project, _store(), name, purge=purge, confirm=name if purge else None)
    console.print(f"project {name} {'purged' if purge else 'archived (mixopt project restore ' + name + ')'}")


@project_app.command("restore")
def project_restore(name: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Bring back an archived project with everything it held."""
    if url:
        _remote(_client(url, token).restore_project, name)
    else:
        _call(_store().restore_project, name)
    console.print(f"project {name} restored")


@app.command("runs")
def list_runs(
    project: str,
    status: Annotated[str | None, typer.Option(help="filter by status")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List a project's runs (``--format json``: every field, full precision)."""
    from app.services import runs as svc
    from app.services.wire import run_wire

    if url:
        page = _remote(_client(url, token).runs_page, project, status=status, max_results=limit)
        if fmt is Format.json:
            _emit([r.raw for r in page.runs], fmt)
            return
        items = page.runs
    else:
        found = _call(
            svc.list_runs, _store(), project, status=status, fidelity=None, max_results=limit, page_token=None
        )
        if fmt is Format.json:  # the data as the API returns it, lossless
            _emit([run_wire(r) for r in found.items], fmt)
            return
        items = found.items
    rows = [
        {
            "id": r.id,
            "external_id": r.external_id,
            "status": r.status,
            "fidelity": r.fidelity,
            "metrics": r.metrics,
            "weights": _top(r.weights),
        }
        for r in items
    ]
    _emit(rows, fmt, ["id", "external_id", "status", "fidelity", "metrics", "weights"], f"runs of {project}")


def _top(weights: dict[str, float], k: int = 3) -> str:
    best = sorted(weights.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{n}={w:.3f}" for n, w in best)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except DomainError as exc:
        lines = [exc.detail] + [f"  {e.loc}: {e.msg}" for e in exc.errors[:10]]
        _fail("\n".join(lines))


@app.command("import")
def import_runs(
    project: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="wide CSV, or the mixture CSV")],
    metrics: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="metrics CSV to join")] = None,
    key: Annotated[str | None, typer.Option(help="join column (becomes external_id)")] = None,
    domain_prefix: Annotated[str, typer.Option(help="weight columns are <prefix><domain>")] = "",
    metric_prefix: Annotated[str | None, typer.Option(help="only columns with this prefix are metrics")] = None,
    fidelity: Annotated[list[str] | None, typer.Option(help="fidelity of every run, e.g. tokens=1e9")] = None,
    create: Annotated[bool, typer.Option(help="create the project from the columns if missing")] = False,
    objective: Annotated[str | None, typer.Option(help="with --create: the metric to minimize")] = None,
    token_shares: Annotated[
        Path | None, typer.Option(exists=True, help="with --create: CSV domain,token_share (the prior)")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import runs from CSV in one transaction per 10,000 runs (RegMix layout or mixopt's export)."""
    import pandas as pd
    from rich.progress import Progress

    from app.schemas import DomainIn, ObjectiveIn, ProjectCreate
    from app.services import projects as psvc
    from app.services import runs as rsvc
    from app.services import tabular
    from store.errors import NotFound

    store = _store()
    settings = get_settings()
    try:
        proj = store.get_project(project)
    except NotFound:
        if not create:
            _fail(f"project {project!r} does not exist (pass --create to make it from the file's columns)")
        columns = list(pd.read_csv(file, nrows=0).columns)
        if any(c.startswith("weight.") for c in columns):
            names = [c.removeprefix("weight.") for c in columns if c.startswith("weight.")]
        else:
            names = [c.removeprefix(domain_prefix) for c in columns if domain_prefix and c.startswith(domain_prefix)]
        if not names:
            _fail("cannot tell the domain columns: pass --domain-prefix (e.g. train_the_pile_)")
        shares: dict[str, float] = {}
        if token_shares is not None:
            table = pd.read_csv(token_shares)
            shares = {str(r[0]).removeprefix(domain_prefix): float(r[1]) for r in table.itertuples(index=False)}
        if not objective:
            _fail("--create needs --objective METRIC")
        proj = _call(
            psvc.create_project,
            store,
            ProjectCreate(
                name=project,
                domains=[DomainIn(name=n, tokens=shares.get(n)) for n in names],
                objective=ObjectiveIn(metric=objective),
            ),
        )
    loaded, source_ids = _call(
        tabular.read_table_with_ids,
        file,
        proj,
        metrics_path=metrics,
        key=key,
        domain_prefix=domain_prefix,
        metric_prefix=metric_prefix,
        fidelity=_parse_kv(fidelity, "--fidelity"),
    )
    in_file = len(loaded)
    loaded = _call(tabular.new_runs_only, store, proj, loaded, source_ids)
    stored = 0
    chunk = settings.max_runs_per_request
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("importing", total=len(loaded))
        for start in range(0, len(loaded), chunk):
            part = loaded[start : start + chunk]
            _call(rsvc.ingest_runs, store, project, part, lease_seconds=settings.lease_seconds, max_runs=chunk)
            stored += len(part)
            progress.update(task, advance=len(part))
    rows = [
        {"project": project, "runs": stored, "already_there": in_file - stored, "total_runs": store.count_runs(proj.id)}
    ]
    _emit(rows, fmt)


@app.command("export")
def export_runs(
    project: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Write every run of a project as CSV or JSON lines."""
    from app.services import tabular

    if format not in ("csv", "jsonl"):
        _fail("--format must be csv or jsonl")
    if url:
        text = _remote(_client(url, token).export, project, format)
    else:
        store = _store()
        text = "".join(_call(lambda: list(tabular.export_runs(store, project, format))))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err_console.print(f"wrote {output}")


def _config(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        _fail(f"--config must be a JSON object: {exc}")
    if not isinstance(value, dict):
        _fail("--config must be a JSON object")
    return value


MixerOpt = Annotated[str, typer.Option("--mixer", help="mixer backend, e.g. regmix")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="mixer config as JSON")]
FidelityOpt = Annotated[list[str] | None, typer.Option("--fidelity", help="e.g. tokens=1e9 (repeat)")]


@app.command("recommend")
def recommend(
    project: str,
    mixer: MixerOpt = "regmix",
    config: ConfigOpt = None,
    fidelity: FidelityOpt = None,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """The mixer's recommended mixture, with its predicted objective."""
    from dataclasses import asdict

    from app.services import mixing

    if url:
        rec = _remote(
            _client(url, token).recommend, project, mixer, _config(config), _parse_kv(fidelity, "--fidelity")
        ).raw
    else:
        rec = asdict(_call(
            mixing.recommend,
            _store(),
            project,
            mixer,
            _config(config),
            _parse_kv(fidelity, "--fidelity"),
            None,
            get_settings().fit_timeout_seconds,
        ))
    if fmt is Format.json:
        _emit([rec], fmt)
        return
    rows = [{"domain": d, "weight": w} for d, w in sorted(rec["weights"].items(), key=lambda kv: -kv[1])]
    _emit(
        rows,
        fmt,
        ["domain", "weight"],
        f"{mixer}: predicted {rec['predicted']:.6g}" + (f" +- {rec['std']:.3g}" if rec.get("std") is not None else "")
        + f" at {_fidelity_text(rec['predicted_fidelity'])} ({rec['transfer']})",
    )


def _fidelity_text(fid: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(fid.items())) or "{}"


@app.command("propose")
def propose(
    project: str,
    mixer: MixerOpt = "regmix",
    n: Annotated[int, typer.Option("-n", help="how many runs")] = 8,
    config: ConfigOpt = None,
    fidelity: FidelityOpt = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    fmt: FormatOpt = Format.table,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a batch of pending runs chosen by the mixer."""
    from app.services import mixing
    from app.services.wire import run_wire

    if url:
        made = _remote(
            _client(url, token).propose,
            project,
            mixer,
            n,
            _config(config),
            _parse_kv(fidelity, "--fidelity"),
            seed=seed,
        )
        if fmt is Format.json:
            _emit([r.raw for r in made.runs], fmt)
            return
        proposal_id, runs, source = made.id, made.runs, made.fidelity_source
    else:
        settings = get_settings()
        proposal, stored, source, _diagnostics = _call(
            mixing.propose,
            _store(),
            project,
            mixer,
            _config(config),
            n,
            _parse_kv(fidelity, "--fidelity"),
            None,
            None,
            seed,
            settings.lease_seconds,
            settings.fit_timeout_seconds,
        )
        if fmt is Format.json:
            _emit([run_wire(r) for r in stored], fmt)
            return
        proposal_id, runs = proposal.id, stored
    rows = [
        {
            "id": r.id,
            "status": r.status,
            "fidelity": r.fidelity,
            "weights": _top(r.weights),
        }
        for r in runs
    ]
    _emit(rows, fmt, ["id", "status", "fidelity", "weights"],
          f"proposal {proposal_id} ({mixer}; fidelities from: {source})")


@app.command("evaluate")
def evaluate(
    project: str,
    mixer: Annotated[list[str] | None, typer.Option("--mixer", help="mixer to compare (repeat)")] = None,
    folds: Annotated[int, typer.Option(help="cross-validation folds")] = 5,
    fmt: FormatOpt = Format.table,
) -> None:
    """Compare mixers by k-fold cross-validation: Spearman, MAE and regret of the top pick."""
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.services import evaluation

    settings = get_settings()
    names = mixer or ["regmix"]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(f"{folds}-fold cross-validation of {', '.join(names)}", total=len(names) * folds)
        results = [asdict(r) for r in _call(
            evaluation.evaluate, _store(), project, [(m, None) for m in names], folds, None, 0,
            settings.fit_timeout_seconds, progress=lambda done, total: bar.update(task, completed=done, total=total),
        )]
    rows = [
        {**{k: r[k] for k in ("mixer", "spearman", "mae", "regret", "n_runs")},
         "error": _short_error(r["error"]) if r.get("error") else None}
        for r in results
    ]
    _emit(rows, fmt, ["mixer", "spearman", "mae", "regret", "n_runs", "error"], f"{folds}-fold cross-validation")


def _short_error(error: dict[str, str]) -> str:
    detail = error["detail"]
    return f"{error['code']}: {detail if len(detail) <= 80 else detail[:77] + '...'}"


@app.command("embed")
def embed(
    sets: Annotated[
        list[str], typer.Option("--set", help="NAME=FILE: one document per line (repeat; NAME target too)")
    ],
    out: Annotated[Path | None, typer.Option(help="write NAME.npy files into this folder")] = None,
    project: Annotated[str | None, typer.Option(help="also store the sets in this project")] = None,
    dim: Annotated[int, typer.Option(help="vector size")] = 384,
    seed: Annotated[int, typer.Option(help="random seed of the SVD")] = 0,
) -> None:
    """Turn text into embedding sets for the OT mixer, offline (hashing + TF-IDF + SVD; no model download)."""
    import numpy as np

    from app.services import embeddings as esvc

    texts: dict[str, list[str]] = {}
    for item in sets:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            _fail(f"--set must be NAME=FILE with an existing file, got {item!r}")
        texts[name] = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        if not texts[name]:
            _fail(f"{path} has no non-empty lines")
    vectors = esvc.embed_texts(texts, dim=dim, seed=seed)
    rows = []
    store = _store() if project else None
    for name, arr in vectors.items():
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / f"{name}.npy", arr)
        if store is not None and project is not None:
            _call(esvc.put_embedding, store, project, name, arr)
        rows.append({"set": name, "vectors": arr.shape[0], "dim": arr.shape[1]})
    _emit(rows, Format.table, ["set", "vectors", "dim"], "embedding sets")


@token_app.command("create")
def token_create(
    project: Annotated[str | None, typer.Option(help="limit the token to one project")] = None,
    name: Annotated[str, typer.Option(help="a label for the token")] = "",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="lifetime such as 30d, 12h or 90m (default: until revoked)")
    ] = None,
) -> None:
    """Create a bearer token; it is printed once and stored hashed."""
    from app.services.access import create_token, parse_duration

    lifetime = _call(parse_duration, expires_in) if expires_in is not None else None
    token = _call(create_token, _store(), name, project, lifetime)
    sys.stdout.write(token + "\n")


TOKEN_COLUMNS = ["id", "name", "prefix", "project", "created_at", "expires_at", "revoked_at", "state"]


def _token_row(t: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    if t.revoked_at is not None:
        state = "revoked"
    elif t.expires_at is not None and t.expires_at <= datetime.now(UTC):
        state = "expired"
    else:
        state = "active"
    return {
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "project": t.project or "(admin)",
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "state": state,
    }


@token_app.command("list")
def token_list(fmt: FormatOpt = Format.table) -> None:
    """Every token: id, label, the secret's first characters, project, created, expires, revoked (never the secret)."""
    from app.services.access import list_tokens

    _emit([_token_row(t) for t in _call(list_tokens, _store())], fmt, TOKEN_COLUMNS, "tokens")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the token's id, as `mixopt token list` shows")]) -> None:
    """Revoke a token: from now on it answers 401."""
    from app.services.access import revoke_token

    _emit([_token_row(_call(revoke_token, _store(), token_id))], Format.table, TOKEN_COLUMNS, "revoked")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
