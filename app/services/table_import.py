"""Runs read from files: wide CSV (RegMix layout or mixopt's export) and JSON lines, for every importer.

The CLI, the dashboard and ``POST /api/v1/projects/{name}/runs:import`` all read files here (the CLI and the
dashboard by posting them to that endpoint; the demo loader directly). Each parsed run keeps its line in the
file, so that a problem can name the line a person sees in an editor.

CSV: columns ``weight.<domain>``, ``metric.<name>``, ``fidelity.<key>``, ``tag.<key>`` (JSON), ``external_id``,
``status``, ``cost``, ``trajectory`` (JSON) and ``weights_sum`` (mixopt's export), or a mixture file whose columns
are the domains (behind an optional prefix), optionally joined with a metrics file on a key column (RegMix).
JSON lines: one run object per line, as ``POST .../runs`` takes it or the JSON-lines export writes it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from app.services.inputs import DuplicateKeys, RunIn, loads
from app.services.tabular import SETTINGS_KEY
from store.errors import FieldError, InvalidInput
from store.records import ProjectRecord

ID_COLUMNS = ("id", "external_id", "proposal_id")
# Written by the server (the export holds them); never part of a run sent in. ``id`` and ``weights_sum`` are read
# back (the first to recognize a run already here, the second to restore the weights as sent).
SERVER_FIELDS = ("id", "weights_sum", "proposal_id", "lease_expires_at", "created_at", "updated_at")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_ERRORS = 100
_LINE = "\0line"  # the column that carries each row's line in the file through the join (renamed if taken)


@dataclass(frozen=True)
class Origin:
    """Where an exported run came from: its proposal's id in the exporting project, and its lease (ISO time)."""

    proposal_id: int | None
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class ParsedRuns:
    """What a file holds: its runs in file order, each one's exported ``id`` (None if it has none) and line.

    A JSON-lines export also gives the project's ``settings`` (its first line) and each run's ``origins``."""

    runs: list[RunIn]
    source_ids: list[int | None]
    lines: list[int | None]
    ignored: list[str] = field(default_factory=list)  # columns (or JSON keys) that no run field takes
    settings: dict[str, Any] | None = None
    origins: list[Origin | None] = field(default_factory=list)

    @property
    def metric_names(self) -> list[str]:
        return sorted({m for r in self.runs for m in r.metrics})

    @property
    def fidelities(self) -> list[dict[str, float]]:
        """The distinct fidelities of the runs, in order of first appearance."""
        seen: dict[tuple[tuple[str, float], ...], dict[str, float]] = {}
        for r in self.runs:
            seen.setdefault(tuple(sorted(r.fidelity.items())), dict(r.fidelity))
        return list(seen.values())


def file_format(name: str, head: bytes = b"") -> str:
    """``jsonl`` for ``.jsonl``, ``.ndjson`` and ``.json`` files, ``csv`` for ``.csv``; a file named otherwise is
    JSON lines when its text (``head``: its first bytes) starts with ``{``, else CSV."""
    lower = name.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def decode(data: bytes, what: str) -> str:
    """UTF-8 text of an uploaded file (a byte-order mark dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text (byte {exc.start})"
        raise InvalidInput(f"the {what} is {msg}", code="invalid_import", errors=[FieldError(what, msg)]) from exc


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    f = float(value)
    return None if math.isnan(f) else f


def _positive(value: Any) -> float | None:
    """A JSON number > 0 (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def record_lines(text: str) -> list[int]:
    """The line on which each CSV record starts (header included; blank lines, which pandas skips, too).

    Quoted fields may hold line breaks, so a record's line is not its index.
    """
    reader = csv.reader(io.StringIO(text))
    starts: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return starts
        except csv.Error:  # pandas names the problem better; lines are then unknown
            return []
        if row:
            starts.append(start)


def _text(src: Path | str | io.StringIO) -> str:
    return src.getvalue() if isinstance(src, io.StringIO) else Path(src).read_text()


def _read_csv(src: Path | str | io.StringIO, text_columns: set[str]) -> pd.DataFrame:
    """A CSV with ``text_columns`` read as text, exactly as written (``1`` stays ``"1"``, never ``1.0``; ``NA`` is an
    id like any other); an empty cell there is ``None``. Other columns get pandas' type inference.

    ``src`` is a path or the text in a ``StringIO``. A malformed file is an ``InvalidInput`` naming what pandas
    found (with its line).
    """
    text = _text(src)
    header = next(csv.reader(io.StringIO(text)), [])
    # tag cells and the trajectory hold JSON text: read as written too (a tag ``3`` is JSON for the number 3)
    ids = [c for c in header if c in text_columns or c.startswith("tag.") or c == "trajectory"]
    try:
        df = pd.read_csv(io.StringIO(text), dtype={c: str for c in ids})
        if ids:
            raw = pd.read_csv(io.StringIO(text), usecols=ids, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        msg = str(exc).strip() or type(exc).__name__
        bad = [FieldError("file", msg)]
        raise InvalidInput(f"cannot read the CSV: {msg}", code="invalid_import", errors=bad) from exc
    if ids:
        for c in ids:
            df[c] = pd.Series([None if v == "" else v for v in raw[c]], index=df.index, dtype=object)
    return df


def read_table(
    path: Path | str | io.StringIO,
    project: ProjectRecord,
    *,
    metrics_path: Path | str | io.StringIO | None = None,
    key: str | None = None,
    domain_prefix: str = "",
    metric_prefix: str | None = None,
    fidelity: dict[str, float] | None = None,
) -> list[RunIn]:
    """Read runs from a wide CSV (or a mixture CSV joined with a metrics CSV on ``key``).

    Weight columns: ``weight.<domain>`` or ``<domain_prefix><domain>`` for each project domain. Metric
    columns: ``metric.<name>``, or every other numeric column (only those starting with ``metric_prefix``
    when it is given). The key column, or ``external_id``, becomes the run's ``external_id`` (read as text).
    """
    return read_csv_runs(
        path,
        project,
        metrics_path=metrics_path,
        key=key,
        domain_prefix=domain_prefix,
        metric_prefix=metric_prefix,
        fidelity=fidelity,
    ).runs


def read_table_with_ids(
    path: Path | str | io.StringIO,
    project: ProjectRecord,
    *,
    metrics_path: Path | str | io.StringIO | None = None,
    key: str | None = None,
    domain_prefix: str = "",
    metric_prefix: str | None = None,
    fidelity: dict[str, float] | None = None,
) -> tuple[list[RunIn], list[int | None]]:
    """``read_table``, plus each row's server id from a mixopt export's ``id`` column (None elsewhere)."""
    parsed = read_csv_runs(
        path,
        project,
        metrics_path=metrics_path,
        key=key,
        domain_prefix=domain_prefix,
        metric_prefix=metric_prefix,
        fidelity=fidelity,
    )
    return parsed.runs, parsed.source_ids


def read_csv_runs(
    path: Path | str | io.StringIO,
    project: ProjectRecord,
    *,
    metrics_path: Path | str | io.StringIO | None = None,
    key: str | None = None,
    domain_prefix: str = "",
    metric_prefix: str | None = None,
    fidelity: dict[str, float] | None = None,
) -> ParsedRuns:
    """``read_table`` with each run's exported id, its line in the (mixture) file and the columns left unused.

    Problems of single rows are collected and raised together as one ``InvalidInput`` whose errors name
    ``runs[i]`` (the i-th data row) and its line.
    """
    text_columns = set(ID_COLUMNS) | ({key} if key else set())
    text = _text(path)
    df = _read_csv(io.StringIO(text), text_columns)
    right = None if metrics_path is None else _read_csv(metrics_path, text_columns)
    line_col = _LINE
    while line_col in df.columns or (right is not None and line_col in right.columns):
        line_col += "'"
    starts = record_lines(text)
    # the lines of the data rows, when the csv module and pandas agree on how many there are
    df.insert(0, line_col, starts[1:] if len(starts) == len(df) + 1 else [None] * len(df))
    if right is not None:
        if not key:
            raise InvalidInput(
                "joining a metrics file needs a key column", code="import_key_missing",
                errors=[FieldError("key", "name the column that both files share")],
            )
        for name, frame in (("mixture file", df), ("metrics file", right)):
            if key not in frame.columns:
                raise InvalidInput(
                    f"the {name} has no column {key!r}", code="import_key_missing",
                    errors=[FieldError("key", f"no column {key!r} in the {name}")],
                )
        try:
            df = df.merge(right, on=key, how="inner", validate="one_to_one")
        except pd.errors.MergeError as exc:
            raise InvalidInput(
                f"the key column {key!r} repeats a value: {exc}", code="import_key_repeats",
                errors=[FieldError("key", "every value of the key column must be unique in each file")],
            ) from exc
    lines: list[int | None] = [None if pd.isna(v) else int(v) for v in df.pop(line_col)]
    exported = any(c.startswith("weight.") for c in df.columns)
    weight_cols = {d: (f"weight.{d}" if exported else f"{domain_prefix}{d}") for d in project.domain_names}
    versioned = "domain_version" in df.columns
    if exported and versioned:  # an export over several versions: older domains have columns of their own
        weight_cols.update({c[len("weight.") :]: c for c in df.columns if c.startswith("weight.")})
    missing = [c for c in weight_cols.values() if c not in df.columns]
    if missing and not project.allow_missing_domains:
        raise InvalidInput(
            f"no weight column for {len(missing)} domain(s): {', '.join(missing[:5])}",
            code="import_columns",
            errors=[FieldError(c, "column missing") for c in missing[:50]],
        )
    id_col = "external_id" if "external_id" in df.columns else key
    used = set(weight_cols.values()) | {
        id_col,
        key,
        "id",
        "status",
        "cost",
        "proposal_id",
        "created_at",
        "domain_version",
        "weights_sum",
        "trajectory",
    }
    if exported:
        metric_cols = {c[len("metric.") :]: c for c in df.columns if c.startswith("metric.")}
    else:
        metric_cols = {
            c: c
            for c in df.columns
            if c not in used
            and not c.startswith(("fidelity.", "tag."))
            and pd.api.types.is_numeric_dtype(df[c])
            and (metric_prefix is None or c.startswith(metric_prefix))
        }
    fid_cols = {c[len("fidelity.") :]: c for c in df.columns if c.startswith("fidelity.")}
    tag_cols = {c[len("tag.") :]: c for c in df.columns if c.startswith("tag.")}
    taken = used | set(metric_cols.values()) | set(fid_cols.values()) | set(tag_cols.values()) | set(SERVER_FIELDS)
    ignored = [str(c) for c in df.columns if c not in taken]
    runs: list[RunIn] = []
    source_ids: list[int | None] = []
    errors: list[FieldError] = []
    for i, rec in enumerate(df.to_dict(orient="records")):
        try:
            weights = {d: float(rec[c]) for d, c in weight_cols.items() if c in rec and _num(rec[c]) is not None}
            raw_sum = _num(rec.get("weights_sum")) if exported else None
            if raw_sum:  # our export holds normalized weights and the raw sum: give back what was sent
                weights = {d: w * raw_sum for d, w in weights.items()}
            metrics = {m: v for m, c in metric_cols.items() if (v := _num(rec.get(c))) is not None}
            fid = dict(fidelity or {})
            fid.update({k: v for k, c in fid_cols.items() if (v := _num(rec.get(c))) is not None})
            ext = rec.get(id_col) if id_col else None
            payload: dict[str, Any] = {
                "external_id": None if ext is None or (isinstance(ext, float) and math.isnan(ext)) else str(ext),
                "weights": weights,
                "fidelity": fid,
                "metrics": metrics,
            }
            if "status" in rec and isinstance(rec["status"], str):
                payload["status"] = rec["status"]
            if versioned and (version := _num(rec.get("domain_version"))) is not None:
                payload["domain_version"] = int(version) if float(version).is_integer() else version
            if _num(rec.get("cost")) is not None:
                payload["cost"] = _num(rec.get("cost"))
            if tag_cols:
                payload["tags"] = {
                    t: loads(rec[c]) for t, c in tag_cols.items() if isinstance(rec.get(c), str) and rec[c]
                }
            if isinstance(rec.get("trajectory"), str) and rec["trajectory"]:
                payload["trajectory"] = loads(rec["trajectory"])
            runs.append(RunIn.model_validate(payload))
            source = rec.get("id") if exported else None
            source_ids.append(int(source) if isinstance(source, str) and source.isdigit() else None)
        except ValidationError as exc:
            errors += _validation_errors(i, lines[i], exc)
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            errors.append(FieldError(f"runs[{i}]", str(exc), lines[i]))
    _raise_if(errors)
    return ParsedRuns(runs, source_ids, lines, ignored)


def read_jsonl_runs(text: str, fidelity: dict[str, float] | None = None) -> ParsedRuns:
    """Runs from JSON lines: one run object per line (blank lines skipped), as ``POST .../runs`` takes them.

    A first line ``{"project": {...}, "proposals": [...]}`` (the JSON-lines export's) is the project's settings,
    no run; each run's ``proposal_id`` and ``lease_expires_at`` are kept as its origin.

    The fields the server writes (``id``, ``created_at``, ...) are dropped, so a JSON-lines export reads back:
    its ``id`` recognizes a run already here and its ``weights_sum`` restores the weights as sent (as in the CSV
    export). ``null`` for an optional field is the field left out. ``fidelity`` is every run's fidelity unless
    the run names its own keys.
    """
    runs: list[RunIn] = []
    source_ids: list[int | None] = []
    lines: list[int | None] = []
    ignored: set[str] = set()
    errors: list[FieldError] = []
    settings: dict[str, Any] | None = None
    origins: list[Origin | None] = []
    # lines end at "\n" only: str.splitlines would also break at U+2028, which JSON strings may hold as is
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        i = len(lines)
        lines.append(n)
        try:
            obj = loads(raw)
        except DuplicateKeys as exc:
            errors.append(FieldError(f"runs[{i}]", str(exc), n))
            continue
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            errors.append(FieldError(f"runs[{i}]", f"not valid JSON ({exc})", n))
            continue
        if not isinstance(obj, dict):
            errors.append(FieldError(f"runs[{i}]", "expected a JSON object (one run per line)", n))
            continue
        if not lines[:-1] and isinstance(obj.get(SETTINGS_KEY), dict):  # the export's first line
            lines.pop()
            settings = obj
            continue
        server = {k: obj.pop(k) for k in SERVER_FIELDS if k in obj}
        ignored.update(k for k in server if k not in ("id", "weights_sum"))
        for k in ("external_id", "cost", "trajectory", "status", "tags", "metrics", "fidelity"):
            if k in obj and obj[k] is None:
                del obj[k]
        if fidelity and isinstance(obj.get("fidelity", {}), dict):
            obj["fidelity"] = {**fidelity, **obj.get("fidelity", {})}
        try:
            run = RunIn.model_validate(obj)
        except ValidationError as exc:
            errors += _validation_errors(i, n, exc)
            continue
        raw_sum = _positive(server.get("weights_sum"))
        if raw_sum is not None:
            run = run.model_copy(update={"weights": {d: w * raw_sum for d, w in run.weights.items()}})
        runs.append(run)
        source = server.get("id")
        source_ids.append(_int(source))
        origins.append(Origin(_int(server.get("proposal_id")), exported_time(server.get("lease_expires_at"))))
    _raise_if(errors)
    if not lines:
        raise InvalidInput("the file holds no runs", code="invalid_import", errors=[FieldError("file", "no runs")])
    return ParsedRuns(runs, source_ids, lines, sorted(ignored), settings, origins)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def exported_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the export writes it (UTC), else None."""
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _validation_errors(i: int, line: int | None, exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(f"runs[{i}]." + ".".join(map(str, e["loc"])) if e["loc"] else f"runs[{i}]", e["msg"], line)
        for e in exc.errors()
    ]


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        first = errors[0]
        where = f" (line {first.line})" if first.line is not None else ""
        raise InvalidInput(
            f"{len(errors)} problem(s) in the file; nothing was imported. First: {first.loc}{where}: {first.msg}",
            code="invalid_import",
            errors=errors[:MAX_ERRORS],
        )


def csv_columns(text: str) -> list[str]:
    """The header of a CSV."""
    return next(csv.reader(io.StringIO(text)), [])


def jsonl_domains(parsed: ParsedRuns) -> list[str]:
    """The domains named by the runs' weights, in order of first appearance."""
    return list(dict.fromkeys(d for r in parsed.runs for d in r.weights))


def read_token_shares(text: str, domain_prefix: str = "") -> dict[str, float]:
    """``domain,token_share`` rows (a header first) as ``{domain: share}``, the prefix dropped from the names."""
    try:
        table = pd.read_csv(io.StringIO(text))
        return {str(r[0]).removeprefix(domain_prefix): float(r[1]) for r in table.itertuples(index=False)}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, IndexError) as exc:
        msg = "expected rows of domain,token_share after a header"
        raise InvalidInput(
            f"cannot read the token shares: {exc}", code="invalid_import", errors=[FieldError("token_shares", msg)]
        ) from exc
